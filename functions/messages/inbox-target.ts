import type { SessionRow } from "../../schema/sessions.ts";
import { boundTask } from "../bindings/lookup.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { activeSessionByName } from "../sessions/lookup.ts";

/** Which inbox a request addresses: a session's own, or a task's bound manager or worker. */
export type InboxRef = { session: string } | { task: string; role: "manager" | "worker" };

/** The session whose inbox `ref` names, and the task it was reached through. */
export interface InboxOwner {
  session: SessionRow;
  task: string | null;
}

/** Resolves the addressed inbox; a session token may only reach its own. */
export async function inboxOwner(ctx: Ctx, ref: InboxRef): Promise<InboxOwner> {
  let owner: InboxOwner;
  if ("session" in ref) {
    owner = { session: await activeSessionByName(ctx, ref.session), task: null };
  } else {
    const bt = await boundTask(ctx, ref.task);
    owner = { session: ref.role === "manager" ? bt.manager : bt.worker, task: bt.task.name };
  }
  if (ctx.auth.kind === "session" && ctx.auth.sessionId !== owner.session.id) {
    throw new ApiError("FORBIDDEN", `a session token may read only its own inbox, not '${owner.session.name}'s`, {
      hint: "Use the token returned when this session registered, or the owner token.",
    });
  }
  return owner;
}

/** The fields every inbox answer starts with. */
export function inboxHeader(o: InboxOwner) {
  return { session: o.session.name, session_id: o.session.id, role: o.session.role, task: o.task };
}
