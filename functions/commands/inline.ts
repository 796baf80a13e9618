import type { CommandRow } from "../../schema/commands.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { claimCommand, finishCommand, markSideEffectStarted } from "./record.ts";

/** What a side effect reports back: whether it achieved its goal, and details. */
export interface EffectOutcome {
  ok: boolean;
  result: Record<string, unknown>;
  error?: string;
}

/**
 * Executes a freshly created command in this process: claim it, mark the side effect as
 * started, run it, record the attempt. A thrown effect is recorded as failed and rethrown, so
 * the trail in commands/command_attempts is the same as when a runner executes it.
 */
export async function executeInline(ctx: Ctx, cmd: CommandRow, effect: () => Promise<EffectOutcome>): Promise<{ command: CommandRow; outcome: EffectOutcome }> {
  const dispatcherId = `inline:${ctx.hostName ?? "local"}`;
  const claim = await claimCommand(ctx, cmd.id, dispatcherId);
  if (!claim) throw new ApiError("CONFLICT", `command ${cmd.id} was claimed by another executor`);
  await markSideEffectStarted(ctx, claim);
  let outcome: EffectOutcome;
  try {
    outcome = await effect();
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    await finishCommand(ctx, claim, { ok: false, error: message });
    throw e;
  }
  const command = outcome.ok
    ? await finishCommand(ctx, claim, { ok: true, result: outcome.result })
    : await finishCommand(ctx, claim, { ok: false, error: outcome.error ?? "side effect did not complete", result: outcome.result, sideEffectCompleted: true });
  return { command, outcome };
}
