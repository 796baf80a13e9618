import type { z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import { auditInsert } from "../lib/audit.ts";
import { INLINE_HOLD_MS, runInline } from "../queue/inline.ts";
import { commandToWire, createCommand, failUnclaimed } from "../queue/store.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { hostErrorToApi, hostFor } from "../lib/local.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { activeSessionByName } from "../sessions/lookup.ts";
import { NameParam } from "../sessions/schema.ts";
import { PANE_EXECUTORS, type StopPayload } from "./pane-executors.ts";
import { StopBody, StopResult } from "./schema.ts";
import { activeBindingOf } from "../bindings/lookup.ts";

export const stopRoute = defineRoute(["owner"], {
  method: "post",
  path: "/sessions/{name}/stop",
  tags: ["actuate"],
  summary: "Stop a session: kill its tmux session and mark it gone",
  description: "Refused while the session is bound to an active task (use finish-task --stop-worker/--stop-manager). CLI: stop NAME.",
  request: { params: NameParam, body: { ...jsonBody(StopBody), required: false } },
  responses: { 200: jsonResponse(StopResult, "Stopped") },
});

/**
 * The stop side effect shared by `stop` and `finish-task`: a durable command, the tmux kill
 * (a pane that is already gone counts as stopped), and the session marked gone.
 */
export async function stopSessionEffect(ctx: Ctx, s: SessionRow, taskId: string | null, dryRun: boolean) {
  const payload: z.infer<typeof StopPayload> = { tmux_session: s.tmuxSession };
  const cmd = await createCommand(ctx, { type: "stop", sessionId: s.id, taskId, host: s.host, payload, dryRun, holdMs: INLINE_HOLD_MS });
  const audit = (extra: Record<string, unknown>) =>
    auditInsert(ctx, { kind: "session_stopped", sessionId: s.id, taskId, payload: { command_id: cmd.id, name: s.name, ...extra } });
  if (dryRun) {
    const a = audit({ dry_run: true });
    await a.stmt;
    return { session: s.name, command_id: cmd.id, command: commandToWire(cmd), dry_run: true, tmux_killed: false, marked_gone: false, event_id: a.id };
  }
  let done;
  try {
    // Checked before the claim so a stop this process cannot perform fails without an attempt.
    if (s.tmuxSession) hostFor(ctx, s);
    done = await runInline(ctx, cmd, PANE_EXECUTORS);
  } catch (e) {
    await failUnclaimed(ctx, cmd.id, (e as Error).message);
    const a = audit({ dry_run: false, error: (e as Error).message, rollback_error: null });
    await a.stmt;
    throw hostErrorToApi(e);
  }
  const nowMs = ctx.now().getTime();
  const a = audit({ dry_run: false, tmux_killed: done.outcome.result.tmux_killed });
  // The kill happened, so its audit row is written either way; marked_gone says whether this
  // stop or a concurrent deregister retired the session.
  const [gone] = await ctx.db.batch([
    ctx.db
      .update(sessions)
      .set({ state: "gone", goneAt: nowMs, updatedAt: nowMs })
      .where(and(eq(sessions.id, s.id), eq(sessions.state, "active")))
      .returning({ id: sessions.id }),
    a.stmt,
  ]);
  return {
    session: s.name,
    command_id: cmd.id,
    command: commandToWire(done.command),
    dry_run: false,
    tmux_killed: done.outcome.result.tmux_killed === true,
    marked_gone: gone.length === 1,
    event_id: a.id,
  };
}

/** Stops a session that is not bound to an active task. */
export async function stopSession(ctx: Ctx, name: string, input: z.infer<typeof StopBody>) {
  const s = await activeSessionByName(ctx, name);
  const bound = await activeBindingOf(ctx, s.id);
  if (bound) {
    throw new ApiError("SESSION_BOUND", `session '${name}' is bound to active task '${bound.task}'`, {
      hint: `Finish the task instead: switchyard finish-task ${bound.task} --stop-${s.role}`,
    });
  }
  return stopSessionEffect(ctx, s, null, input.dry_run ?? false);
}
