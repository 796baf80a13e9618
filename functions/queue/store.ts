import { and, eq, exists, gt, sql, type SQL } from "drizzle-orm";
import { commandAttempts, commands, type CommandRow, type CommandState, type CommandType } from "../../schema/commands.ts";
import { auditInsert } from "../lib/audit.ts";
import { actorOf, type Ctx, type PlannedEffect } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { iso } from "../lib/sql.ts";
import { settleSucceeded, type AttemptOutcome, type ClaimPort, type SettleTable } from "./run.ts";
import { claimsOf, claimStatements, type Claim } from "./claim.ts";

/** Default lease for a claimed command; an executor that outlives it loses the claim. */
export const DEFAULT_LEASE_MS = 120_000;

/** What a new command is made of. */
export type NewCommand = {
  type: CommandType;
  sessionId?: string | null;
  taskId?: string | null;
  host?: string | null;
  payload: Record<string, unknown>;
  dryRun?: boolean;
  correlationId?: string | null;
  idempotencyKey?: string | null;
  maxAttempts?: number;
  requiredPermission?: string | null;
  /**
   * Keeps the command out of the queue for this long because the creating request executes it
   * itself at once; only if that process dies first does a dispatcher or runner take it over.
   */
  holdMs?: number;
  /**
   * Whose `idempotencyKey` it is (see enqueue.ts), or the patrol's scope for keys it derives
   * itself. A key is unique only within a scope: rows with a null scope never collide.
   */
  idempotencyScope?: string | null;
};

/** The row of a new command, for callers that insert it in a batch with other writes. */
export function newCommandRow(ctx: Ctx, input: NewCommand): CommandRow {
  const nowMs = ctx.now().getTime();
  const row: CommandRow = {
    id: ctx.newId("cmd"),
    type: input.type,
    state: input.dryRun ? "dry_run" : "pending",
    taskId: input.taskId ?? null,
    sessionId: input.sessionId ?? null,
    host: input.host ?? null,
    payload: input.payload,
    result: null,
    error: null,
    idempotencyKey: input.idempotencyKey ?? null,
    idempotencyScope: input.idempotencyScope ?? null,
    correlationId: input.correlationId ?? null,
    attempts: 0,
    maxAttempts: input.maxAttempts ?? 1,
    claimedBy: null,
    claimGeneration: 0,
    leaseExpiresAt: null,
    nextAttemptAt: input.holdMs ? nowMs + input.holdMs : null,
    requiredPermission: input.requiredPermission ?? null,
    createdBy: actorOf(ctx.auth),
    createdAt: nowMs,
    updatedAt: nowMs,
    completedAt: input.dryRun ? nowMs : null,
  };
  return row;
}

/** Creates the durable row for a side effect before anything happens. */
export async function createCommand(ctx: Ctx, input: NewCommand): Promise<CommandRow> {
  const row = newCommandRow(ctx, input);
  await ctx.db.insert(commands).values(row);
  return row;
}

export type { Claim } from "./claim.ts";

/**
 * Claims a pending command with one conditional UPDATE (the fencing generation increments) and
 * opens its attempt row in the same batch: one round trip, no lock held between statements.
 * Null when someone else claimed it first.
 */
export async function claimCommand(ctx: Ctx, commandId: string, dispatcherId: string, leaseMs = DEFAULT_LEASE_MS): Promise<Claim | null> {
  const [claimed, attempts] = await ctx.db.batch(claimStatements(ctx, eq(commands.id, commandId), { dispatcherId, leaseMs, nowMs: ctx.now().getTime() }));
  return claimsOf(claimed, attempts, dispatcherId)[0] ?? null;
}

/** The conditional UPDATE behind `markSideEffectStarted`, for callers that batch it. */
function startedStatement(ctx: Ctx, claim: Pick<Claim, "command" | "generation" | "attemptId">) {
  const nowMs = ctx.now().getTime();
  const live = ctx.db
    .select({ one: sql`1` })
    .from(commands)
    .where(
      and(eq(commands.id, claim.command.id), eq(commands.state, "running"), eq(commands.claimGeneration, claim.generation), gt(commands.leaseExpiresAt, nowMs)),
    );
  return ctx.db
    .update(commandAttempts)
    .set({ sideEffectStarted: true })
    .where(and(eq(commandAttempts.id, claim.attemptId), exists(live)))
    .returning({ id: commandAttempts.id });
}

/**
 * Records that the side effect is about to start, but only while the claim is still live: the
 * command is running under this generation and its lease has not run out. False means the
 * claim was lost (expired and possibly reclaimed) and the side effect must not run. From a true
 * answer on, a crash leaves the command ambiguous rather than re-runnable.
 */
export async function markSideEffectStarted(ctx: Ctx, claim: Pick<Claim, "command" | "generation" | "attemptId">): Promise<boolean> {
  return (await startedStatement(ctx, claim)).length === 1;
}

/** First retry delay of a queued command; each further failure doubles it, up to the cap. */
export const RETRY_BASE_MS = 5_000;
const RETRY_CAP_MS = 5 * 60_000;

/** How a failed attempt is settled: final (inline) or retried with backoff (queue). */
export interface FinishOptions {
  queue?: { retryBaseMs?: number };
}

/** A dispatcher's port options: queue semantics, and what to record when a command succeeds. */
export interface PortOptions extends FinishOptions {
  settle?: SettleTable;
}

/**
 * The statements that record an attempt's outcome: the command's fenced conditional UPDATE
 * (returning the row, or nothing when the claim is stale) and the attempt row's own record.
 *
 * Without `queue`, a failure is final (`failed`): the inline path answers its caller directly.
 * With `queue`, a failure goes back to `pending` with an exponential backoff in next_attempt_at
 * while attempts remain, then to `dead`; a permanent failure (invalid payload) is dead at once.
 */
function finishStatements(
  ctx: Ctx,
  claim: Pick<Claim, "command" | "generation" | "attemptId">,
  outcome: AttemptOutcome,
  opts: FinishOptions,
  nowMs = ctx.now().getTime(),
) {
  let state: SQL | CommandState;
  let nextAttemptAt: SQL | null = null;
  let completedAt: SQL | number | null = nowMs;
  if (outcome.ok) state = "succeeded";
  else if (!opts.queue || outcome.refused) state = "failed";
  else if (outcome.permanent) state = "dead";
  else {
    const base = opts.queue.retryBaseMs ?? RETRY_BASE_MS;
    const retry = sql`${commands.attempts} < ${commands.maxAttempts}`;
    state = sql`CASE WHEN ${retry} THEN 'pending' ELSE 'dead' END`;
    nextAttemptAt = sql`CASE WHEN ${retry} THEN ${nowMs} + min(${RETRY_CAP_MS}, ${base} << (${commands.attempts} - 1)) ELSE NULL END`;
    completedAt = sql`CASE WHEN ${retry} THEN NULL ELSE ${nowMs} END`;
  }
  // A policy refusal is a decision, not an accident: it is audited with its receipt.
  const refusalAudit =
    !outcome.ok && outcome.refused
      ? [
          auditInsert(ctx, {
            kind: "dispatch_policy_refused",
            taskId: claim.command.taskId,
            sessionId: claim.command.sessionId,
            payload: { command_id: claim.command.id, command_type: claim.command.type, reason: outcome.error, ...(outcome.result ?? {}) },
          }).stmt,
        ]
      : [];
  return [
    ctx.db
      .update(commands)
      .set({
        state,
        result: outcome.result ?? null,
        error: outcome.ok ? null : outcome.error,
        leaseExpiresAt: null,
        nextAttemptAt,
        updatedAt: nowMs,
        completedAt,
      })
      .where(and(eq(commands.id, claim.command.id), eq(commands.state, "running"), eq(commands.claimGeneration, claim.generation)))
      .returning(),
    ctx.db
      .update(commandAttempts)
      .set({
        sideEffectCompleted: outcome.ok ? true : (outcome.sideEffectCompleted ?? false),
        result: outcome.result ?? null,
        error: outcome.ok ? null : outcome.error,
        finishedAt: nowMs,
      })
      .where(eq(commandAttempts.id, claim.attemptId)),
    ...refusalAudit,
  ] as const;
}

function staleClaim(claim: Pick<Claim, "command" | "generation">): ApiError {
  return new ApiError("CONFLICT", `command ${claim.command.id} is no longer held by claim generation ${claim.generation}`, {
    hint: "Its lease expired and it was reclaimed or marked ambiguous; the newer state stands.",
  });
}

/**
 * Finishes a claimed command in one batch. Refused (CONFLICT) when the claim is stale: the lease
 * expired and someone else holds a newer generation or the command was declared ambiguous, so
 * this executor's result must not overwrite theirs. The attempt row records the outcome either way.
 */
export async function finishCommand(
  ctx: Ctx,
  claim: Pick<Claim, "command" | "generation" | "attemptId">,
  outcome: AttemptOutcome,
  opts: FinishOptions = {},
): Promise<CommandRow> {
  const [rows] = await ctx.db.batch(finishStatements(ctx, claim, outcome, opts));
  if (!rows[0]) throw staleClaim(claim);
  return rows[0];
}

/**
 * Database-only effects' statements with their claims' successful outcomes, for one batch: three
 * set-based statements over the claims (outcomes, fence, attempt rows), then every effect's own
 * statements. The claims travel as one JSON parameter, so the batch prepares three statements
 * whatever its size instead of four per command. The fence: unless the outcome UPDATE has just
 * recorded every claim's success, the attempt row of one that it has not (whose primary key
 * already exists) is inserted again, so the whole batch fails and rolls back — a stale claim
 * commits none of its effect, and nothing batched with it commits either.
 */
function plannedStatements(ctx: Ctx, items: Array<{ claim: Pick<Claim, "command" | "generation" | "attemptId">; planned: PlannedEffect }>, nowMs: number) {
  const list = JSON.stringify(
    items.map(({ claim, planned }) => ({ id: claim.command.id, gen: claim.generation, att: claim.attemptId, result: JSON.stringify(planned.result) })),
  );
  const claimsTable = sql`(SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.gen') AS gen, json_extract(value, '$.att') AS att,
    json_extract(value, '$.result') AS result FROM json_each(${list}))`;
  const finish = ctx.db
    .update(commands)
    .set({ state: "succeeded", result: sql`v.result`, error: null, leaseExpiresAt: null, nextAttemptAt: null, updatedAt: nowMs, completedAt: nowMs })
    .from(sql`${claimsTable} AS v`)
    // By primary key from the claims (the unary plus keeps the state check off the state index,
    // which would walk every running command).
    .where(and(sql`${commands.id} = v.id`, sql`+${commands.state} = 'running'`, sql`${commands.claimGeneration} = v.gen`))
    .returning();
  const fence = ctx.db.run(sql`INSERT INTO ${commandAttempts} (id, command_id, dispatcher_id, claim_generation, started_at)
    SELECT v.att, v.id, 'stale-claim-fence', 0, 0 FROM ${claimsTable} AS v
    WHERE NOT EXISTS (SELECT 1 FROM ${commands} c WHERE c.id = v.id AND c.state = 'succeeded' AND c.claim_generation = v.gen AND c.updated_at = ${nowMs})`);
  const attempts = ctx.db
    .update(commandAttempts)
    .set({ sideEffectStarted: true, sideEffectCompleted: true, result: sql`v.result`, error: null, finishedAt: nowMs })
    .from(sql`${claimsTable} AS v`)
    .where(sql`${commandAttempts.id} = v.att`);
  return [finish, fence, attempts, ...items.flatMap((it) => it.planned.stmts)] as const;
}

/**
 * The database side of executing claims in this process. Its `finishThenStart` records one
 * command's outcome and the next claim's side_effect_started in a single batch, which halves
 * the write transactions a dispatcher needs per command; `finishPlannedMany` commits a run of
 * database-only effects with their outcomes in one batch, one write transaction for all of them.
 */
export function dbClaimPort(ctx: Ctx, opts: PortOptions = {}): ClaimPort & { finished: Map<string, CommandRow> } {
  const finished = new Map<string, CommandRow>();
  const recorded = async (rows: CommandRow[]) => {
    if (rows[0]) finished.set(rows[0].id, rows[0]);
    await settleSucceeded(ctx, rows[0], opts.settle);
    return rows[0]?.state ?? null;
  };
  const finishPlannedMany: NonNullable<ClaimPort["finishPlannedMany"]> = async (items, tail) => {
    const planned = plannedStatements(ctx, items, ctx.now().getTime());
    let rows: CommandRow[];
    try {
      const results = (await ctx.db.batch([...planned, ...(tail?.stmts() ?? [])] as unknown as Parameters<typeof ctx.db.batch>[0])) as unknown as unknown[];
      rows = results[0] as CommandRow[];
      if (tail) tail.results = results.slice(planned.length);
    } catch {
      return null;
    }
    const byId = new Map(rows.map((r) => [r.id, r]));
    const out: Array<{ state: CommandState | null }> = [];
    for (const { claim } of items) out.push({ state: await recorded(byId.has(claim.command.id) ? [byId.get(claim.command.id)!] : []) });
    return out;
  };
  return {
    finished,
    started: (claim) => markSideEffectStarted(ctx, claim),
    async finish(claim, outcome) {
      const [rows] = await ctx.db.batch(finishStatements(ctx, claim, outcome, opts));
      return recorded(rows);
    },
    async finishPlanned(claim, planned) {
      const [one] = (await finishPlannedMany([{ claim, planned }])) ?? [];
      return one ?? null;
    },
    finishPlannedMany,
    async finishThenStart(claim, outcome, next) {
      // A refusal adds an audit statement to the finish, so "started" is the batch's last result.
      const results = await ctx.db.batch([...finishStatements(ctx, claim, outcome, opts), startedStatement(ctx, next)]);
      const started = results[results.length - 1] as unknown[];
      return { state: await recorded(results[0] as Parameters<typeof recorded>[0]), nextStarted: started.length === 1 };
    },
  };
}

/**
 * Hands a command created for inline execution to the queue at once (drops its inline hold),
 * for a host this process cannot reach. Returns the command as it now stands.
 */
export async function releaseToQueue(ctx: Ctx, commandId: string): Promise<CommandRow> {
  const [row] = await ctx.db
    .update(commands)
    .set({ nextAttemptAt: null, updatedAt: ctx.now().getTime() })
    .where(and(eq(commands.id, commandId), eq(commands.state, "pending")))
    .returning();
  if (!row) {
    throw new ApiError("CONFLICT", `command ${commandId} is no longer pending`, {
      hint: "It was claimed or finished meanwhile; `switchyard commands` shows its state.",
    });
  }
  return row;
}

/** Marks a command that was never claimed as failed (e.g. its host is unreachable). */
export async function failUnclaimed(ctx: Ctx, commandId: string, error: string): Promise<void> {
  const nowMs = ctx.now().getTime();
  await ctx.db
    .update(commands)
    .set({ state: "failed", error, nextAttemptAt: null, updatedAt: nowMs, completedAt: nowMs })
    .where(and(eq(commands.id, commandId), eq(commands.state, "pending")));
}

/** The wire form of a command row. */
export function commandToWire(c: CommandRow) {
  return {
    id: c.id,
    type: c.type,
    state: c.state,
    task_id: c.taskId,
    session_id: c.sessionId,
    host: c.host,
    payload: c.payload,
    result: c.result,
    error: c.error,
    correlation_id: c.correlationId,
    idempotency_key: c.idempotencyKey,
    required_permission: c.requiredPermission,
    attempts: c.attempts,
    max_attempts: c.maxAttempts,
    claimed_by: c.claimedBy,
    claim_generation: c.claimGeneration,
    lease_expires_at: iso(c.leaseExpiresAt),
    next_attempt_at: iso(c.nextAttemptAt),
    created_by: c.createdBy,
    created_at: iso(c.createdAt)!,
    updated_at: iso(c.updatedAt)!,
    completed_at: iso(c.completedAt),
  };
}

const ms = (t: string | null): number | null => (t === null ? null : Date.parse(t));

/** The row behind a command's wire form; how a remote runner hands a claimed command to an executor. */
export function commandFromWire(w: ReturnType<typeof commandToWire>): CommandRow {
  return {
    id: w.id,
    type: w.type,
    state: w.state,
    taskId: w.task_id,
    sessionId: w.session_id,
    host: w.host,
    payload: w.payload,
    result: w.result,
    error: w.error,
    idempotencyKey: w.idempotency_key,
    // The scope stays on the server; a runner never needs it.
    idempotencyScope: null,
    correlationId: w.correlation_id,
    attempts: w.attempts,
    maxAttempts: w.max_attempts,
    claimedBy: w.claimed_by,
    claimGeneration: w.claim_generation,
    leaseExpiresAt: ms(w.lease_expires_at),
    nextAttemptAt: ms(w.next_attempt_at),
    requiredPermission: w.required_permission,
    createdBy: w.created_by,
    createdAt: ms(w.created_at)!,
    updatedAt: ms(w.updated_at)!,
    completedAt: ms(w.completed_at),
  };
}
