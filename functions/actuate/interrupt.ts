import type { z } from "@hono/zod-openapi";
import { auditInsert } from "../lib/audit.ts";
import { INLINE_HOLD_MS, runInline } from "../queue/inline.ts";
import { commandToWire, createCommand, failUnclaimed, releaseToQueue } from "../queue/store.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { belongsToRunner, hostErrorToApi, hostFor } from "../lib/local.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { ingestSession } from "../observe/ingest.ts";
import { eventState } from "../observe/status.ts";
import { NameParam } from "../sessions/schema.ts";
import { assertManagerKey, assertNoSlashCommand } from "../lib/pane-text.ts";
import { pushTarget } from "./nudge.ts";
import { PANE_EXECUTORS, paneOwnerOf, type InterruptPayload } from "./pane-executors.ts";
import { InterruptBody, InterruptResult } from "./schema.ts";
import { activeBindingOf } from "../bindings/lookup.ts";

export const interruptRoute = defineRoute(["owner", "session"], {
  method: "post",
  path: "/sessions/{name}/interrupt",
  tags: ["actuate"],
  summary: "Send an interrupt key (default C-c) to a session's pane, optionally followed by a prompt",
  description: "Escape is refused while the agent is busy. A durable command row plus an audit event. CLI: session-interrupt NAME.",
  request: { params: NameParam, body: jsonBody(InterruptBody) },
  responses: { 200: jsonResponse(InterruptResult, "Interrupt outcome"), 202: jsonResponse(InterruptResult, "Queued for the runner of the session's host") },
});

/** Sends the interrupt key and the optional follow-up prompt. */
export async function interruptSession(ctx: Ctx, name: string, input: z.infer<typeof InterruptBody>) {
  const s = await pushTarget(ctx, name, "interrupt");
  assertNoSlashCommand(ctx, s, input.followup, "the follow-up");
  assertManagerKey(ctx, s, input.key);
  const taskId = (await activeBindingOf(ctx, s.id))?.taskId ?? null;
  if ((input.key === "Escape" || input.key === "Esc") && belongsToRunner(ctx, s)) {
    throw new ApiError("CONFLICT", `refusing to queue Escape for '${name}' on host '${s.host}'`, {
      hint: "Escape is sent only where the agent can be seen to be idle first; use C-c, or run session-interrupt on that host.",
    });
  }
  if (input.key === "Escape" || input.key === "Esc") {
    if (s.transcriptPath && ctx.host) await ingestSession(ctx, s).catch(() => null);
    const st = await eventState(ctx, s.id);
    if (st.state !== "idle") {
      throw new ApiError("CONFLICT", `refusing to send Escape to '${name}' while it is ${st.state}`, {
        hint: "Escape can discard a busy agent's work; use the default C-c, or wait until it is idle.",
      });
    }
  }
  const payload: z.infer<typeof InterruptPayload> = {
    ...paneOwnerOf(s),
    transcript_path: s.transcriptPath,
    transcript_kind: s.transcriptKind,
    tmux_session: s.tmuxSession,
    key: input.key,
    followup: input.followup ?? null,
  };
  const cmd = await createCommand(ctx, { type: "interrupt", sessionId: s.id, taskId, host: s.host, payload, dryRun: input.dry_run, holdMs: INLINE_HOLD_MS });
  const audit = (extra: Record<string, unknown>) =>
    auditInsert(ctx, { kind: "session_interrupted", sessionId: s.id, taskId, payload: { command_id: cmd.id, ...payload, ...extra } });
  if (input.dry_run) {
    const a = audit({ dry_run: true, sent: false });
    await a.stmt;
    return {
      session: s.name,
      command_id: cmd.id,
      queued: false,
      command: commandToWire(cmd),
      dry_run: true,
      key: input.key,
      sent: false,
      followup_submitted: null,
      event_id: a.id,
    };
  }
  if (belongsToRunner(ctx, s)) {
    const queued = await releaseToQueue(ctx, cmd.id);
    const a = audit({ dry_run: false, sent: false, queued_for_host: s.host });
    await a.stmt;
    return {
      session: s.name,
      command_id: cmd.id,
      queued: true,
      command: commandToWire(queued),
      dry_run: false,
      key: input.key,
      sent: false,
      followup_submitted: null,
      event_id: a.id,
    };
  }
  let done;
  try {
    // Checked before the claim so an interrupt this process cannot deliver fails without an attempt.
    hostFor(ctx, s);
    done = await runInline(ctx, cmd, PANE_EXECUTORS);
  } catch (e) {
    await failUnclaimed(ctx, cmd.id, (e as Error).message);
    const a = audit({ dry_run: false, sent: false, error: (e as Error).message, rollback_error: null });
    await a.stmt;
    throw hostErrorToApi(e);
  }
  const followupSubmitted = (done.outcome.result.followup_submitted ?? null) as boolean | null;
  const followupHeld = done.outcome.result.followup_held as string | undefined;
  const path = (done.outcome.result.path ?? "tmux") as "tmux" | "app_server";
  const a = audit({
    dry_run: false,
    sent: true,
    path,
    followup_submitted: followupSubmitted,
    followup_held: followupHeld ?? null,
    rollback_error:
      followupSubmitted === false && done.outcome.result.followup_typed !== false
        ? `follow-up left in the composer unsubmitted${followupHeld ? ` (Enter not pressed: ${followupHeld})` : ""}`
        : null,
  });
  await a.stmt;
  return {
    session: s.name,
    command_id: cmd.id,
    queued: false,
    command: commandToWire(done.command),
    dry_run: false,
    key: input.key,
    sent: true,
    followup_submitted: followupSubmitted,
    ...(followupHeld ? { followup_held: followupHeld } : {}),
    path,
    event_id: a.id,
  };
}
