import { and, eq } from "drizzle-orm";
import { bindings, type BindingRow } from "../../schema/bindings.ts";
import type { SessionRole } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { eqLiteral } from "../lib/sql.ts";

/** The task's active binding, or null when it has none. */
export async function activeBinding(ctx: Ctx, taskId: string): Promise<BindingRow | null> {
  const [row] = await ctx.db
    .select()
    .from(bindings)
    .where(and(eq(bindings.taskId, taskId), eqLiteral(bindings.state, "active")))
    .limit(1);
  return row ?? null;
}

/** The id of the session bound to `role` in a binding. */
export function boundSessionId(binding: BindingRow, role: SessionRole): string {
  return role === "manager" ? binding.managerSessionId : binding.workerSessionId;
}

/**
 * Lets owners and daemons through; a session principal passes only when it is the session
 * bound to one of `roles` in the task's active binding, so an agent can read or drive its own
 * loop and nobody else's. NOT_FOUND when the task has no active binding.
 */
export function assertLoopParticipant(ctx: Ctx, taskName: string, binding: BindingRow | null, roles: readonly SessionRole[]): void {
  if (ctx.auth.kind !== "session") return;
  const sessionId = ctx.auth.sessionId;
  // Without a binding there is no loop a session could belong to, as for every bound-task route.
  if (!binding) {
    throw new ApiError("NOT_FOUND", `task '${taskName}' has no active binding`, {
      hint: `Bind a worker and a manager: switchyard bind --task ${taskName} --worker <W> --manager <M>`,
    });
  }
  if (roles.some((r) => boundSessionId(binding, r) === sessionId)) return;
  throw new ApiError("FORBIDDEN", `this session is not the bound ${roles.join(" or ")} of task '${taskName}'`, {
    hint: "Use the token of the session bound to the task in that role, or the owner token.",
  });
}
