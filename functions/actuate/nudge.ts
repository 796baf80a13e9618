import type { z } from "@hono/zod-openapi";
import { and, eq, getTableColumns, sql } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import { auditInsert } from "../lib/audit.ts";
import { commandToWire, createCommand, failUnclaimed, releaseToQueue } from "../queue/store.ts";
import { INLINE_HOLD_MS, runInline } from "../queue/inline.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { belongsToRunner, hostErrorToApi, hostFor } from "../lib/local.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { assertMayObserve } from "../observe/tail.ts";
import { activeSessionByName } from "../sessions/lookup.ts";
import { NameParam } from "../sessions/schema.ts";
import { activeBindingOf } from "../bindings/lookup.ts";
import { assertNoSlashCommand } from "../lib/pane-text.ts";
import { PANE_EXECUTORS, paneOwnerOf, type NudgePayload } from "./pane-executors.ts";
import { NudgeBody, NudgeResult } from "./schema.ts";
import { eqLiteral } from "../lib/sql.ts";

export const nudgeRoute = defineRoute(["owner", "session"], {
  method: "post",
  path: "/sessions/{name}/nudge",
  tags: ["actuate"],
  summary: "Type text into a session's tmux pane and verify it was submitted",
  description:
    "A durable command row plus an audit event; for a session on another host the command is queued for that host's runner (202). The text is typed literally, Enter is pressed after a settle delay and retried until the transcript (or the composer) shows the prompt was submitted. A session may nudge only a worker it manages. CLI: session-nudge NAME TEXT.",
  request: { params: NameParam, body: jsonBody(NudgeBody) },
  responses: { 200: jsonResponse(NudgeResult, "Nudge outcome"), 202: jsonResponse(NudgeResult, "Queued for the runner of the session's host") },
});

/** Refuses sessions that cannot receive pushed text, and managers nudging workers they do not manage. */
export async function pushTarget(ctx: Ctx, name: string, verb: string): Promise<SessionRow & { tmuxSession: string }> {
  return checkPushTarget(ctx, await activeSessionByName(ctx, name), name, verb);
}

/**
 * `pushTarget` and the id of a task the session is bound to (as `activeBindingOf`), read in one
 * query: the binding rides along as a scalar subquery on the session row.
 */
export async function pushTargetWithTask(
  ctx: Ctx,
  name: string,
  verb: string,
): Promise<{ session: SessionRow & { tmuxSession: string }; taskId: string | null }> {
  const [row] = await ctx.db
    .select({
      ...getTableColumns(sessions),
      boundTaskId: sql<
        string | null
      >`(SELECT b.task_id FROM ${bindings} b WHERE b.state = 'active' AND (b.worker_session_id = ${sessions.id} OR b.manager_session_id = ${sessions.id}) LIMIT 1)`,
    })
    .from(sessions)
    .where(and(eq(sessions.name, name), eqLiteral(sessions.state, "active")))
    .limit(1);
  // Not found: the lookup again, for its precise error (deregistered or unknown).
  if (!row) return { session: await pushTarget(ctx, name, verb), taskId: null };
  const { boundTaskId, ...session } = row;
  return { session: await checkPushTarget(ctx, session, name, verb), taskId: boundTaskId };
}

async function checkPushTarget(ctx: Ctx, s: SessionRow, name: string, verb: string): Promise<SessionRow & { tmuxSession: string }> {
  if (ctx.auth.kind === "session" && ctx.auth.sessionId !== s.id) await assertMayObserve(ctx, s);
  if (!s.tmuxSession) {
    throw new ApiError("CONFLICT", `session '${name}' has no tmux pane to ${verb}`, {
      hint: "It is pull_required: queue a message for its inbox instead (enqueue-nudge-worker / session-inbox).",
    });
  }
  return s as SessionRow & { tmuxSession: string };
}

/** Sends a nudge and reports whether the agent actually received it as a prompt. */
export async function nudgeSession(ctx: Ctx, name: string, input: z.infer<typeof NudgeBody>) {
  const s = await pushTarget(ctx, name, "nudge");
  assertNoSlashCommand(ctx, s, input.text, "the nudge text");
  const taskId = (await activeBindingOf(ctx, s.id))?.taskId ?? null;
  const payload: z.infer<typeof NudgePayload> = {
    ...paneOwnerOf(s),
    tmux_session: s.tmuxSession,
    text: input.text,
    transcript_path: s.transcriptPath,
    transcript_kind: s.transcriptKind,
  };
  const cmd = await createCommand(ctx, { type: "nudge", sessionId: s.id, taskId, host: s.host, payload, dryRun: input.dry_run, holdMs: INLINE_HOLD_MS });
  if (input.dry_run) {
    const audit = auditInsert(ctx, {
      kind: "session_nudged",
      sessionId: s.id,
      taskId,
      payload: { command_id: cmd.id, text: input.text, dry_run: true, sent: false },
    });
    await audit.stmt;
    return {
      session: s.name,
      command_id: cmd.id,
      queued: false,
      command: commandToWire(cmd),
      dry_run: true,
      sent: false,
      submitted: false,
      enter_attempts: 0,
      verified_by: null,
      event_id: audit.id,
    };
  }
  if (belongsToRunner(ctx, s)) {
    const queued = await releaseToQueue(ctx, cmd.id);
    const audit = auditInsert(ctx, {
      kind: "session_nudged",
      sessionId: s.id,
      taskId,
      payload: { command_id: cmd.id, text: input.text, dry_run: false, sent: false, queued_for_host: s.host },
    });
    await audit.stmt;
    return {
      session: s.name,
      command_id: cmd.id,
      queued: true,
      command: commandToWire(queued),
      dry_run: false,
      sent: false,
      submitted: false,
      enter_attempts: 0,
      verified_by: null,
      event_id: audit.id,
    };
  }
  try {
    // Checked before the claim so a nudge this process cannot deliver fails without an attempt.
    hostFor(ctx, s);
  } catch (e) {
    await recordFailure(ctx, cmd.id, s, taskId, input.text, e);
    throw e;
  }
  let done;
  try {
    done = await runInline(ctx, cmd, PANE_EXECUTORS);
  } catch (e) {
    await recordFailure(ctx, cmd.id, s, taskId, input.text, e);
    throw hostErrorToApi(e);
  }
  const r = done.outcome.result as { submitted: boolean; enter_attempts: number; verified_by: "transcript" | "pane" | null; held?: string; typed?: boolean };
  // Nothing is typed while the pane shows a prompt (submit.ts openPrompt).
  const typed = r.typed !== false;
  const audit = auditInsert(ctx, {
    kind: "session_nudged",
    sessionId: s.id,
    taskId,
    payload: {
      command_id: cmd.id,
      text: input.text,
      dry_run: false,
      sent: typed,
      submitted: r.submitted,
      enter_attempts: r.enter_attempts,
      path: (r as { path?: string }).path ?? "tmux",
      held: r.held ?? null,
      // Typed text cannot be taken back out of a TUI safely (no Escape to a busy agent), so an
      // unsubmitted nudge is left in the composer and said so.
      rollback_error:
        r.submitted || !typed ? null : `text left in the composer unsubmitted${r.held ? ` (Enter not pressed: ${r.held})` : ""}; inspect the pane`,
    },
  });
  await audit.stmt;
  const { typed: _typed, ...result } = r;
  return {
    session: s.name,
    command_id: cmd.id,
    queued: false,
    command: commandToWire(done.command),
    dry_run: false,
    sent: typed,
    ...result,
    event_id: audit.id,
  };
}

/** Audits a nudge that failed before or during the side effect. */
async function recordFailure(ctx: Ctx, commandId: string, s: SessionRow, taskId: string | null, text: string, e: unknown) {
  await failUnclaimed(ctx, commandId, (e as Error).message);
  const audit = auditInsert(ctx, {
    kind: "session_nudged",
    sessionId: s.id,
    taskId,
    payload: { command_id: commandId, text, dry_run: false, sent: false, submitted: false, error: (e as Error).message, rollback_error: null },
  });
  await audit.stmt;
}
