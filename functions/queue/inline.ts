import { z } from "@hono/zod-openapi";
import type { CommandRow } from "../../schema/commands.ts";
import type { Ctx, EffectOutcome, Executor, ExecutorTable } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { executorsOf, runClaims } from "./run.ts";
import { claimCommand, dbClaimPort } from "./store.ts";

/**
 * Lease of an inline claim: longer than the longest request (a spawn waits up to 15 minutes), so
 * a dispatcher's lease sweep never declares a command ambiguous while its caller still waits.
 */
const INLINE_LEASE_MS = 16 * 60_000;

/**
 * How long a command created for inline execution stays out of the queue (`createCommand`
 * holdMs), so a dispatcher on the same host never races the request that is about to claim it.
 */
export const INLINE_HOLD_MS = 60_000;

/** An ad-hoc side effect's payload was built by the caller itself, so any object passes. */
const AnyPayload = z.record(z.string(), z.unknown());

/**
 * Executes a freshly created command in this process with its executor from `executors` (the
 * calling group's own table; a services override wins): claim it, validate the payload, confirm
 * the claim and mark the side effect started, run it, record the attempt. A thrown effect is
 * recorded as failed and rethrown, so the trail in commands/command_attempts is the same as
 * when a dispatcher or a runner executes it.
 */
export async function runInline(ctx: Ctx, cmd: CommandRow, executors: ExecutorTable): Promise<{ command: CommandRow; outcome: EffectOutcome }> {
  const executor = executorsOf(ctx, executors)[cmd.type];
  if (!executor)
    throw new ApiError("INTERNAL", `no executor for command type '${cmd.type}'`, {
      hint: "This server registers no executor for that command type (a bug): report the type; `switchyard commands` shows the command.",
    });
  return execute(ctx, cmd, executor);
}

/** Like `runInline`, for a side effect that has no registered executor (spawn). */
export async function executeInline(ctx: Ctx, cmd: CommandRow, effect: () => Promise<EffectOutcome>): Promise<{ command: CommandRow; outcome: EffectOutcome }> {
  return execute(ctx, cmd, { payload: AnyPayload, run: effect });
}

async function execute(ctx: Ctx, cmd: CommandRow, executor: Executor): Promise<{ command: CommandRow; outcome: EffectOutcome }> {
  const claim = await claimCommand(ctx, cmd.id, `inline:${ctx.hostName ?? "local"}`, INLINE_LEASE_MS);
  if (!claim) {
    throw new ApiError("CONFLICT", `command ${cmd.id} was claimed by another executor`, {
      hint: "A dispatcher is running it; follow it with `switchyard commands` rather than retrying.",
    });
  }
  const port = dbClaimPort(ctx);
  const [report] = await runClaims(ctx, [claim], () => executor, port);
  if (report!.thrown !== undefined) throw report!.thrown;
  if (report!.state === "lost") {
    throw new ApiError("CONFLICT", `command ${cmd.id} lost its claim: ${report!.error}`, {
      hint: "It may still have run: check `switchyard commands` (and the pane) before sending it again.",
    });
  }
  if (!report!.side_effect_started) {
    throw new ApiError("VALIDATION_FAILED", `command ${cmd.id}: ${report!.error}`, {
      hint: "Nothing was sent; fix what the message names and send it again.",
    });
  }
  const command = port.finished.get(cmd.id)!;
  const outcome: EffectOutcome = { ok: command.state === "succeeded", result: command.result ?? {}, ...(report!.error ? { error: report!.error } : {}) };
  return { command, outcome };
}
