import type { z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import type { CommandRow } from "../../schema/commands.ts";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import { auditInsert } from "../lib/audit.ts";
import { INLINE_HOLD_MS, runInline } from "../queue/inline.ts";
import { commandToWire, createCommand, failUnclaimed, releaseToQueue } from "../queue/store.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { belongsToRunner, hostErrorToApi, hostFor } from "../lib/local.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { activeSessionByName } from "../sessions/lookup.ts";
import { NameParam } from "../sessions/schema.ts";
import { PANE_EXECUTORS, type StopPayload } from "./pane-executors.ts";
import { StopBody, StopResult } from "./schema.ts";
import { activeBindingOf } from "../bindings/lookup.ts";
import { eqLiteral } from "../lib/sql.ts";

export const stopRoute = defineRoute(["owner"], {
  method: "post",
  path: "/sessions/{name}/stop",
  tags: ["actuate"],
  summary: "Stop a session: kill its tmux session and mark it gone",
  description:
    "Refused while the session is bound to an active task (use finish-task --stop-worker/--stop-manager). A session on another host has its stop queued for that host's runner (202, queued: true); the session is marked gone when the runner reports the kill. CLI: stop NAME.",
  request: { params: NameParam, body: { ...jsonBody(StopBody), required: false } },
  responses: { 200: jsonResponse(StopResult, "Stopped"), 202: jsonResponse(StopResult, "Queued for the runner of the session's host") },
});

/**
 * Records a stop whose tmux kill succeeded: the session marked gone (unless a concurrent
 * deregister got there first) and the session_stopped audit row, in one batch. The inline path
 * and a queued stop that a dispatcher or remote runner executed both end here.
 */
async function recordStopped(ctx: Ctx, s: Pick<SessionRow, "id" | "name">, cmd: CommandRow, tmuxKilled: boolean) {
  const nowMs = ctx.now().getTime();
  const a = auditInsert(ctx, {
    kind: "session_stopped",
    sessionId: s.id,
    taskId: cmd.taskId,
    payload: { command_id: cmd.id, name: s.name, dry_run: false, tmux_killed: tmuxKilled },
  });
  // The kill happened, so its audit row is written either way; marked_gone says whether this
  // stop or a concurrent deregister retired the session.
  const [gone] = await ctx.db.batch([
    ctx.db
      .update(sessions)
      .set({ state: "gone", goneAt: nowMs, updatedAt: nowMs })
      .where(and(eq(sessions.id, s.id), eqLiteral(sessions.state, "active")))
      .returning({ id: sessions.id }),
    a.stmt,
  ]);
  return { marked_gone: gone.length === 1, event_id: a.id };
}

/**
 * Settles a stop command that a dispatcher or remote runner executed: the same record as the
 * inline path (functions/executors.ts registers it for the `stop` type).
 */
export async function settleStop(ctx: Ctx, cmd: CommandRow): Promise<void> {
  if (!cmd.sessionId) return;
  const [s] = await ctx.db.select({ id: sessions.id, name: sessions.name }).from(sessions).where(eq(sessions.id, cmd.sessionId)).limit(1);
  if (s) await recordStopped(ctx, s, cmd, cmd.result?.tmux_killed === true);
}

/**
 * The stop side effect shared by `stop` and `finish-task`: a durable command, the tmux kill
 * (a pane that is already gone counts as stopped), and the session marked gone. A session on a
 * host this process cannot reach has its stop queued for that host's runner instead; the
 * session is marked gone when the runner reports the kill.
 */
export async function stopSessionEffect(ctx: Ctx, s: SessionRow, taskId: string | null, dryRun: boolean) {
  const payload: z.infer<typeof StopPayload> = { tmux_session: s.tmuxSession };
  const cmd = await createCommand(ctx, { type: "stop", sessionId: s.id, taskId, host: s.host, payload, dryRun, holdMs: INLINE_HOLD_MS });
  const audit = (extra: Record<string, unknown>) =>
    auditInsert(ctx, { kind: "session_stopped", sessionId: s.id, taskId, payload: { command_id: cmd.id, name: s.name, ...extra } });
  const base = { session: s.name, command_id: cmd.id, queued: false, tmux_killed: false, marked_gone: false };
  if (dryRun) {
    const a = audit({ dry_run: true });
    await a.stmt;
    return { ...base, command: commandToWire(cmd), dry_run: true, event_id: a.id };
  }
  if (belongsToRunner(ctx, s) && s.tmuxSession) {
    const queued = await releaseToQueue(ctx, cmd.id);
    const a = auditInsert(ctx, {
      kind: "session_stop_queued",
      sessionId: s.id,
      taskId,
      payload: { command_id: cmd.id, name: s.name, queued_for_host: s.host },
    });
    await a.stmt;
    return { ...base, queued: true, command: commandToWire(queued), dry_run: false, event_id: a.id };
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
  const tmuxKilled = done.outcome.result.tmux_killed === true;
  const recorded = await recordStopped(ctx, s, cmd, tmuxKilled);
  return { ...base, command: commandToWire(done.command), dry_run: false, tmux_killed: tmuxKilled, ...recorded };
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
