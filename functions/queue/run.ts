import type { CommandRow, CommandState, CommandType } from "../../schema/commands.ts";
import type { Ctx, Executor, ExecutorTable, HostCtx, PlannedEffect, PolicyRefusal } from "../lib/ctx.ts";

/**
 * The executors this process uses: the services' override (tests inject observable side
 * effects) or else the table the caller was built with.
 */
export function executorsOf(ctx: Pick<Ctx, "executors">, table: ExecutorTable): ExecutorTable {
  return ctx.executors ?? table;
}

/**
 * What the database must record once a command of some type has succeeded, whoever executed it:
 * a dispatcher, or a remote runner whose report reaches the server (a host executor has no
 * database). A stop, for example, marks its session gone. The groups provide these through the
 * composition root (functions/executors.ts), so the queue names none of them.
 */
export type Settle = (ctx: Ctx, command: CommandRow) => Promise<void>;

/** Settle functions by command type. */
export type SettleTable = Partial<Record<CommandType, Settle>>;

/**
 * Runs the settle function of a command that has just been recorded as succeeded. The outcome
 * is already committed, so a failure here is logged rather than turned into a failed attempt.
 */
export async function settleSucceeded(ctx: Ctx, command: CommandRow | undefined, table: SettleTable | undefined): Promise<void> {
  const settle = command?.state === "succeeded" ? table?.[command.type] : undefined;
  if (!settle) return;
  try {
    await settle(ctx, command!);
  } catch (e) {
    ctx.log.error("recording the consequences of a succeeded command failed", { command_id: command!.id, type: command!.type, error: (e as Error).message });
  }
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
      /** A policy refused the command before its side effect: final `failed`, with an audit row. */
      refused?: boolean;
    };

/** A held claim as the executing side sees it. */
export interface HeldClaim {
  command: CommandRow;
  generation: number;
  attemptId: string;
}

/**
 * Where an executing process records an attempt: directly in the database (dispatcher, inline
 * path) or over HTTP (remote runner). Every call is fenced by the claim generation.
 */
export interface ClaimPort {
  /** Records side_effect_started; false when the claim is no longer live (do not run). */
  started(claim: HeldClaim): Promise<boolean>;
  /** Records the outcome: the command's new state, or null when the claim went stale. */
  finish(claim: HeldClaim, outcome: AttemptOutcome): Promise<CommandState | null>;
  /**
   * Optional: commits a database-only effect's statements with its successful outcome, fenced by
   * the claim, in one batch. Null when that batch did not commit (the claim went stale, or a
   * statement was refused); nothing of it is then written and the caller falls back to `run`.
   */
  finishPlanned?(claim: HeldClaim, planned: PlannedEffect): Promise<{ state: CommandState | null } | null>;
  /**
   * Optional: `finishPlanned` for several claims in one batch (one write transaction instead of
   * one per command). Null when that batch did not commit — any claim in it was stale or any
   * statement was refused — so nothing of it is written and the caller settles them one by one.
   */
  finishPlannedMany?(items: Array<{ claim: HeldClaim; planned: PlannedEffect }>, tail?: BatchTail): Promise<Array<{ state: CommandState | null }> | null>;
  /** Optional fast path: `finish(claim)` and `started(next)` in one round trip. */
  finishThenStart?(claim: HeldClaim, outcome: AttemptOutcome, next: HeldClaim): Promise<{ state: CommandState | null; nextStarted: boolean }>;
}

/**
 * Statements a caller wants committed in the same write as the last outcomes of a `runClaims`
 * call — a dispatcher's next claim — so a pass costs one write transaction instead of two.
 */
export interface BatchTail {
  /** Builds the statements when the batch is sent (so they carry that instant). */
  stmts(): unknown[];
  /** The statements' results, set only when the batch with them committed. */
  results?: unknown[];
}

/** What happened to one claimed command in this process. */
export interface ClaimReport {
  command_id: string;
  type: string;
  generation: number;
  /** The command's state afterwards; `lost` when the claim was no longer live at start or at finish. */
  state: CommandState | "lost";
  error: string | null;
  side_effect_started: boolean;
  /** A policy refused it before its side effect (the receipt is the command's result). */
  policy_refused?: boolean;
  /** What the executor threw, for the inline path to rethrow to its caller; never on the wire. */
  thrown?: unknown;
}

/** Asks the caller's policy whether a claimed command may run; see CommandPolicy. */
export type ClaimPolicy = (cmd: CommandRow) => Promise<PolicyRefusal | null>;

type Parsed = { success: true; data: unknown } | { success: false; error: string };

function parse(executor: Executor<unknown, never>, claim: HeldClaim): Parsed {
  const r = executor.payload.safeParse(claim.command.payload);
  if (r.success) return { success: true, data: r.data };
  return { success: false, error: `invalid payload: ${r.error.issues.map((i) => `${i.path.join(".") || "payload"}: ${i.message}`).join("; ")}` };
}

/**
 * Executes held claims one after another. For each: validate the payload (an invalid one fails
 * permanently with no side effect), confirm the claim is still live while recording
 * side_effect_started, run, record the outcome. A thrown executor is recorded as a failed
 * attempt; the port decides retry or final state. When the port can, one command's outcome and
 * the next (valid) claim's side_effect_started are recorded together.
 *
 * Database-only effects (executors with `plan`) have nothing outside the database to wait for,
 * so consecutive ones are planned first and committed together with their outcomes in one batch
 * when the port can (`finishPlannedMany`): one write transaction for the run of them instead of
 * one per command. A crash before that batch leaves all of them claimed with nothing started, so
 * they come back after one lease; a batch that cannot commit (a stale claim, a refused
 * statement) writes nothing, and each is then settled on its own as before. A command with an
 * external effect is never held back: the run is committed before it starts. A `tail` rides in
 * the batch of the last run when the claims end with one (see BatchTail); its results are set
 * only if that batch committed.
 *
 * With a `policy`, each valid claim is put to it before its side effect: a refusal fails the
 * command (`failed`, its receipt as the result) without starting anything.
 */
export async function runClaims<C extends HostCtx>(
  ctx: C,
  claims: HeldClaim[],
  executorOf: (claim: HeldClaim) => Executor<unknown, C>,
  port: ClaimPort,
  policy?: ClaimPolicy,
  tail?: BatchTail,
): Promise<ClaimReport[]> {
  const reports: ClaimReport[] = [];
  const parsed = new Map<HeldClaim, Parsed>();
  const parsedOf = (c: HeldClaim) => parsed.get(c) ?? parsed.set(c, parse(executorOf(c), c)).get(c)!;
  const verdicts = new Map<HeldClaim, Promise<PolicyRefusal | null>>();
  const verdictOf = (c: HeldClaim) => verdicts.get(c) ?? verdicts.set(c, policy ? policy(c.command) : Promise.resolve(null)).get(c)!;
  const baseOf = (claim: HeldClaim) => ({ command_id: claim.command.id, type: claim.command.type, generation: claim.generation });
  // Set by runOne (a closure), so typed by assertion: TypeScript would narrow a plain null here.
  let preStarted = null as { claim: HeldClaim; started: boolean } | null;
  /** Planned, not yet committed: consecutive database-only effects waiting for one batch. */
  let held: Array<{ claim: HeldClaim; planned: PlannedEffect; index: number; data: unknown }> = [];

  const plannedReport = (claim: HeldClaim, planned: PlannedEffect, state: CommandState | null) => {
    planned.committed?.();
    reports.push({
      ...baseOf(claim),
      state: state ?? "lost",
      error: state === null ? "claim went stale before its outcome was recorded" : null,
      side_effect_started: true,
    });
  };

  /** Started, run, finish: the path of an effect outside the database (or a plan that could not commit). */
  const runOne = async (claim: HeldClaim, index: number, data: unknown) => {
    const base = baseOf(claim);
    const started = preStarted?.claim === claim ? preStarted.started : await port.started(claim);
    preStarted = null;
    if (!started) {
      reports.push({ ...base, state: "lost", error: "claim no longer live before the side effect", side_effect_started: false });
      return;
    }
    let outcome: AttemptOutcome;
    let thrown: unknown;
    try {
      const r = await executorOf(claim).run(ctx, claim.command, data);
      outcome = r.ok
        ? { ok: true, result: r.result }
        : { ok: false, error: r.error ?? "side effect did not complete", result: r.result, sideEffectCompleted: true };
    } catch (e) {
      thrown = e;
      outcome = { ok: false, error: e instanceof Error ? e.message : String(e) };
    }
    const next = claims[index + 1];
    let state: CommandState | null;
    const nextPlanned = !!next && !!port.finishPlanned && !!executorOf(next).plan;
    if (next && !nextPlanned && port.finishThenStart && parsedOf(next).success && !(await verdictOf(next).catch(() => true))) {
      const r = await port.finishThenStart(claim, outcome, next);
      state = r.state;
      preStarted = { claim: next, started: r.nextStarted };
    } else {
      state = await port.finish(claim, outcome);
    }
    const error = state === null ? `claim generation ${claim.generation} went stale before its outcome was recorded` : outcome.ok ? null : outcome.error;
    reports.push({ ...base, state: state ?? "lost", error, side_effect_started: true, ...(thrown === undefined ? {} : { thrown }) });
  };

  /**
   * Commits the held plans: together when the port can, else (or when that fails) one by one.
   * The last flush carries the caller's `tail`, which commits only if the plans commit together.
   */
  const flush = async (last?: BatchTail) => {
    const items = held;
    held = [];
    if (items.length === 0) return;
    const together = (items.length > 1 || last) && port.finishPlannedMany ? await port.finishPlannedMany(items, last) : null;
    if (together) {
      for (const [k, it] of items.entries()) plannedReport(it.claim, it.planned, together[k]!.state);
      return;
    }
    for (const it of items) {
      const done = await port.finishPlanned!(it.claim, it.planned);
      if (done) plannedReport(it.claim, it.planned, done.state);
      else await runOne(it.claim, it.index, it.data);
    }
  };

  for (const [i, claim] of claims.entries()) {
    const base = baseOf(claim);
    const p = parsedOf(claim);
    const executor = executorOf(claim);
    const plannable = p.success && !!executor.plan && !!port.finishPlanned && preStarted?.claim !== claim;
    // Anything but another plan commits the held ones first, so outcomes keep the claims' order.
    if (!plannable) await flush();
    if (!p.success) {
      const state = await port.finish(claim, { ok: false, error: p.error, permanent: true });
      reports.push({ ...base, state: state ?? "lost", error: p.error, side_effect_started: false });
      continue;
    }
    let refusal: PolicyRefusal | null;
    try {
      refusal = await verdictOf(claim);
    } catch (e) {
      // The policy could not decide (e.g. the database was busy): not refused, not run; retried.
      await flush();
      const error = `policy check failed: ${e instanceof Error ? e.message : String(e)}`;
      const state = await port.finish(claim, { ok: false, error });
      reports.push({ ...base, state: state ?? "lost", error, side_effect_started: false });
      continue;
    }
    if (refusal) {
      await flush();
      const state = await port.finish(claim, { ok: false, error: refusal.reason, result: { policy_receipt: refusal.receipt }, refused: true });
      reports.push({ ...base, state: state ?? "lost", error: refusal.reason, side_effect_started: false, policy_refused: true });
      continue;
    }
    if (plannable) {
      // A database-only effect: planned now, committed with its outcome (and its neighbours').
      const planned = await executor.plan!(ctx, claim.command, p.data).catch(() => null);
      if (planned) {
        held.push({ claim, planned, index: i, data: p.data });
        continue;
      }
      await flush();
    }
    await runOne(claim, i, p.data);
  }
  await flush(tail);
  return reports;
}
