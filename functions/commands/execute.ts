import type { CommandRow, CommandState } from "../../schema/commands.ts";
import type { Executor, HostCtx } from "./executors.ts";

/** What a side effect reports back: whether it achieved its goal, and details. */
export interface EffectOutcome {
  ok: boolean;
  result: Record<string, unknown>;
  error?: string;
}

/** How an attempt ended, as recorded against its claim. */
export type AttemptOutcome =
  | { ok: true; result: Record<string, unknown> }
  | {
      ok: false;
      error: string;
      result?: Record<string, unknown>;
      sideEffectCompleted?: boolean;
      /** Retrying cannot help (the payload is invalid): no further attempts. */
      permanent?: boolean;
    };

/** A held claim as the executing side sees it. */
export interface HeldClaim {
  command: CommandRow;
  generation: number;
  attemptId: string;
}

/**
 * Where an executing process records an attempt: directly in the database (dispatcher, inline
 * path) or over HTTP (remote runner). Both calls are fenced by the claim generation.
 */
export interface ClaimPort {
  /** Records side_effect_started; false when the claim is no longer live (do not run). */
  started(claim: HeldClaim): Promise<boolean>;
  /** Records the outcome and returns the command's new state; throws CONFLICT when stale. */
  finish(claim: HeldClaim, outcome: AttemptOutcome): Promise<CommandState>;
}

/** What happened to one claimed command in this process. */
export interface ClaimReport {
  command_id: string;
  type: string;
  generation: number;
  /** The command's state afterwards; `lost` when the claim was no longer live at start. */
  state: CommandState | "lost";
  error: string | null;
  side_effect_started: boolean;
  /** What the executor threw, for the inline path to rethrow to its caller; never on the wire. */
  thrown?: unknown;
}

/**
 * Executes one held claim: validate the payload (an invalid one fails permanently with no side
 * effect), confirm the claim is still live while recording side_effect_started, run, record.
 * A thrown executor is recorded as a failed attempt; the port decides retry or final state.
 */
export async function runClaim<C extends HostCtx>(ctx: C, claim: HeldClaim, executor: Executor<unknown, C>, port: ClaimPort): Promise<ClaimReport> {
  const base = { command_id: claim.command.id, type: claim.command.type, generation: claim.generation };
  const parsed = executor.payload.safeParse(claim.command.payload);
  if (!parsed.success) {
    const error = `invalid payload: ${parsed.error.issues.map((i) => `${i.path.join(".") || "payload"}: ${i.message}`).join("; ")}`;
    const state = await port.finish(claim, { ok: false, error, permanent: true });
    return { ...base, state, error, side_effect_started: false };
  }
  if (!(await port.started(claim))) return { ...base, state: "lost", error: "claim no longer live before the side effect", side_effect_started: false };
  let outcome: AttemptOutcome;
  let thrown: unknown;
  try {
    const r = await executor.run(ctx, claim.command, parsed.data);
    outcome = r.ok ? { ok: true, result: r.result } : { ok: false, error: r.error ?? "side effect did not complete", result: r.result, sideEffectCompleted: true };
  } catch (e) {
    thrown = e;
    outcome = { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
  const state = await port.finish(claim, outcome);
  return { ...base, state, error: outcome.ok ? null : outcome.error, side_effect_started: true, ...(thrown === undefined ? {} : { thrown }) };
}
