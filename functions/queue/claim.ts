import { and, asc, eq, inArray, isNull, lte, notInArray, or, sql, type SQL } from "drizzle-orm";
import { commandAttempts, commands, type CommandRow, type CommandType } from "../../schema/commands.ts";
import type { Ctx } from "../lib/ctx.ts";

/** Command types that act on a machine and so run only where that host's Host is available. */
export const HOST_COMMAND_TYPES: readonly CommandType[] = ["nudge", "interrupt", "capture", "stop", "spawn", "deliver"];

/** The command types a remote runner can execute (functions/actuate/pane-executors.ts runs them). */
export const RUNNER_COMMAND_TYPES = ["nudge", "interrupt", "stop", "capture"] as const satisfies readonly CommandType[];

/** One of RUNNER_COMMAND_TYPES. */
export type RunnerCommandType = (typeof RUNNER_COMMAND_TYPES)[number];

/** A live claim on a command: who holds it and under which fencing generation. */
export interface Claim {
  command: CommandRow;
  dispatcherId: string;
  generation: number;
  attemptId: string;
}

/** Which pending commands a claimer may take. */
export interface ClaimScope {
  /** Command types this claimer can execute; nothing else is ever claimed. */
  types: readonly CommandType[];
  /** The machine the claimer runs on: host commands are claimable only when their host equals it. */
  host: string | null;
}

/** The condition "pending, due, and executable by this claimer", shared by claims and dry runs. */
export function claimableWhere(scope: ClaimScope, nowMs: number): SQL | undefined {
  const local = scope.host === null ? scope.types.filter((t) => !HOST_COMMAND_TYPES.includes(t)) : [...scope.types];
  return and(
    eq(commands.state, "pending"),
    or(isNull(commands.nextAttemptAt), lte(commands.nextAttemptAt, nowMs)),
    inArray(commands.type, local),
    scope.host === null ? undefined : or(notInArray(commands.type, [...HOST_COMMAND_TYPES]), eq(commands.host, scope.host)),
  );
}

/** Who claims, for how long, at which instant: what every claim statement is fenced by. */
export interface Claimer {
  dispatcherId: string;
  leaseMs: number;
  nowMs: number;
}

/**
 * The two statements of a claim, for one batch (one write transaction, one round trip): a
 * conditional UPDATE … RETURNING moves the rows picked by `which` from pending to running (the
 * outer WHERE re-checks `state = 'pending'`, so two claimers can never both take a row; the
 * fencing generation and the attempt count go up and the lease is set), and an INSERT … SELECT
 * … RETURNING opens the attempt row of every command that is now running without one for its
 * generation — exactly the rows just claimed, since a claim and its attempt always commit
 * together. No claim is ever visible without its attempt row, and no lock is held between
 * round trips.
 */
export function claimStatements(ctx: Ctx, which: SQL, claimer: Claimer) {
  const { dispatcherId, leaseMs, nowMs } = claimer;
  // One random id per batch, made unique per attempt by the command id and generation.
  const base = ctx.newId("att");
  return [
    ctx.db
      .update(commands)
      .set({
        state: "running",
        claimedBy: dispatcherId,
        claimGeneration: sql`${commands.claimGeneration} + 1`,
        leaseExpiresAt: nowMs + leaseMs,
        attempts: sql`${commands.attempts} + 1`,
        updatedAt: nowMs,
      })
      // The unary plus keeps the state check off the state index: the rows come from `which`
      // by primary key, instead of a walk over every pending command testing membership.
      .where(and(which, sql`+${commands.state} = 'pending'`))
      .returning(),
    ctx.db.all<{ id: string; command_id: string }>(sql`INSERT INTO ${commandAttempts} (id, command_id, dispatcher_id, claim_generation, started_at)
      SELECT ${base} || '_' || c.claim_generation || '_' || c.id, c.id, c.claimed_by, c.claim_generation, ${nowMs}
      FROM ${commands} c
      WHERE c.state = 'running' AND c.claimed_by = ${dispatcherId} AND c.updated_at = ${nowMs} AND c.lease_expires_at = ${nowMs + leaseMs}
        AND NOT EXISTS (SELECT 1 FROM ${commandAttempts} a WHERE a.command_id = c.id AND a.claim_generation = c.claim_generation)
      RETURNING id, command_id`),
  ] as const;
}

/** Pairs the rows a claim batch returned into claims, oldest command first. */
export function claimsOf(claimed: CommandRow[], attempts: Array<{ id: string; command_id: string }>, dispatcherId: string): Claim[] {
  const attemptOf = new Map(attempts.map((a) => [a.command_id, a.id]));
  return claimed
    .map((command) => {
      const attemptId = attemptOf.get(command.id);
      if (!attemptId) throw new Error(`claim of command ${command.id} committed without its attempt row`);
      return { command, dispatcherId, generation: command.claimGeneration, attemptId };
    })
    .sort((a, b) => a.command.createdAt - b.command.createdAt || a.command.id.localeCompare(b.command.id));
}

/**
 * A statement that runs just ahead of a claim in its write, and a condition the claim adds to
 * its pick (a dispatcher's drain lease: functions/queue/drain-lease.ts), built at the instant the
 * batch is sent.
 */
export type ClaimGate = (nowMs: number) => { stmt: unknown; where: SQL };

/** The due commands a claimer may take, oldest first: the subselect a claim UPDATE picks from. */
function dueIds(ctx: Ctx, opts: ClaimScope & { limit: number }, nowMs: number, gate?: SQL) {
  return ctx.db
    .select({ id: commands.id })
    .from(commands)
    .where(and(claimableWhere(opts, nowMs), gate))
    .orderBy(asc(commands.createdAt), asc(commands.id))
    .limit(opts.limit);
}

/**
 * Claims up to `limit` due commands, oldest first, in one batch (see claimStatements): the ids
 * come from a subselect with LIMIT, each claim increments the fencing generation and the attempt
 * count and sets the lease, and each gets its attempt row in the same write transaction.
 */
export async function claimNext(ctx: Ctx, opts: ClaimScope & { dispatcherId: string; leaseMs: number; limit: number }): Promise<Claim[]> {
  return (await sweepAndClaim(ctx, opts, { sweep: false })).claims;
}

/**
 * `expireLeases` and `claimNext` in one batch: one write transaction and one round trip per
 * pass, where the sweep would otherwise cost a read (and, when something expired, a batch) of
 * its own. A claim can take a command the sweep has just put back to pending, as before.
 */
export async function sweepAndClaim(
  ctx: Ctx,
  opts: ClaimScope & { dispatcherId: string; leaseMs: number; limit: number; gate?: ClaimGate },
  how: { sweep: boolean } = { sweep: true },
): Promise<{ expired: ExpiryReport; claims: Claim[]; gate: unknown[] | null }> {
  const claiming = opts.types.length > 0 && opts.limit >= 1;
  if (!how.sweep && !claiming) return { expired: { ambiguous: [], pending: [], dead: [] }, claims: [], gate: null };
  const batch = sweepAndClaimStatements(ctx, opts, how);
  return batch.read((await ctx.db.batch(batch.stmts as unknown as Parameters<typeof ctx.db.batch>[0])) as unknown as unknown[]);
}

/**
 * The statements of `sweepAndClaim`, for a caller that runs them at the end of a batch of its
 * own (a dispatcher commits its outcomes and claims its next batch in one write), and how to
 * read their results (exactly the results of these statements, in order).
 */
export function sweepAndClaimStatements(
  ctx: Ctx,
  opts: ClaimScope & { dispatcherId: string; leaseMs: number; limit: number; gate?: ClaimGate },
  how: { sweep: boolean },
) {
  const nowMs = ctx.now().getTime();
  const claiming = opts.types.length > 0 && opts.limit >= 1;
  const sweep = how.sweep ? expiryStatements(ctx, nowMs) : [];
  const gate = opts.gate?.(nowMs);
  const pre = gate ? [gate.stmt] : [];
  // With no type to claim, the claim statements still run but match nothing (an empty IN list).
  const claim = claimStatements(ctx, inArray(commands.id, dueIds(ctx, claiming ? opts : { ...opts, limit: 0 }, nowMs, gate?.where)), { ...opts, nowMs });
  return {
    stmts: [...sweep, ...pre, ...claim] as unknown[],
    read(results: unknown[]): { expired: ExpiryReport; claims: Claim[]; gate: unknown[] | null } {
      const expired: ExpiryReport = { ambiguous: [], pending: [], dead: [] };
      if (how.sweep) {
        for (const r of results[1] as Array<{ id: string; state: string }>)
          if (r.state === "ambiguous" || r.state === "pending" || r.state === "dead") expired[r.state].push(r.id);
      }
      const [claimed, attempts] = results.slice(sweep.length + pre.length) as [CommandRow[], Array<{ id: string; command_id: string }>];
      return {
        expired,
        claims: claimsOf(claimed, attempts, opts.dispatcherId),
        gate: gate ? (results[sweep.length] as unknown[]) : null,
      };
    },
  };
}

/** What one lease sweep did, by the state each expired command moved to. */
export interface ExpiryReport {
  ambiguous: string[];
  pending: string[];
  dead: string[];
}

/**
 * Recovers commands whose claim lease ran out. If the current generation's attempt recorded
 * side_effect_started, nobody knows whether the side effect happened: the command becomes
 * `ambiguous` and is never re-run on its own (the owner may requeue it). Otherwise nothing
 * happened and it goes back to `pending` — or `dead` when its attempts are used up. One batch:
 * the open attempts are closed and the commands moved together.
 */
export async function expireLeases(ctx: Ctx): Promise<ExpiryReport> {
  const nowMs = ctx.now().getTime();
  const report: ExpiryReport = { ambiguous: [], pending: [], dead: [] };
  // A read first: the lease-sweep cron runs beside the dispatchers, and taking the write lock
  // when nothing expired would make them queue behind it for nothing.
  const [any] = await ctx.db
    .select({ id: commands.id })
    .from(commands)
    .where(and(eq(commands.state, "running"), lte(commands.leaseExpiresAt, nowMs)))
    .limit(1);
  if (!any) return report;
  const [, moved] = await ctx.db.batch(expiryStatements(ctx, nowMs));
  for (const r of moved) if (r.state === "ambiguous" || r.state === "pending" || r.state === "dead") report[r.state].push(r.id);
  return report;
}

/** The two statements of a lease sweep (attempts closed, commands moved), for a batch. */
function expiryStatements(ctx: Ctx, nowMs: number) {
  const expired = and(eq(commands.state, "running"), lte(commands.leaseExpiresAt, nowMs));
  const started = sql`EXISTS (SELECT 1 FROM command_attempts a WHERE a.command_id = ${commands.id} AND a.claim_generation = ${commands.claimGeneration} AND a.side_effect_started = 1)`;
  return [
    ctx.db
      .update(commandAttempts)
      .set({ error: "lease expired before the attempt finished", finishedAt: nowMs })
      .where(
        and(
          // IN over the (few) expired running commands, so the attempts are reached through their
          // command index instead of a scan of every attempt ever made.
          sql`${commandAttempts.commandId} IN (SELECT c.id FROM commands c WHERE c.state = 'running' AND c.lease_expires_at <= ${nowMs})`,
          isNull(commandAttempts.finishedAt),
          sql`${commandAttempts.claimGeneration} = (SELECT c.claim_generation FROM commands c WHERE c.id = ${commandAttempts.commandId})`,
        ),
      ),
    ctx.db
      .update(commands)
      .set({
        // A claim that expired before its side effect started did nothing: it goes back to
        // pending and gives its attempt back. (Claims are taken in batches and run one after
        // another, so the later ones of a slow batch expire untouched; counting those would
        // kill commands that never ran.) The stale claimant is fenced off by the generation.
        state: sql`CASE WHEN ${started} THEN 'ambiguous' ELSE 'pending' END`,
        error: sql`CASE WHEN ${started} THEN 'lease expired after the side effect started; it may or may not have happened' ELSE ${commands.error} END`,
        attempts: sql`CASE WHEN ${started} THEN ${commands.attempts} ELSE max(${commands.attempts} - 1, 0) END`,
        leaseExpiresAt: null,
        nextAttemptAt: null,
        updatedAt: nowMs,
        completedAt: sql`CASE WHEN ${started} THEN ${nowMs} ELSE NULL END`,
      })
      .where(expired)
      .returning({ id: commands.id, state: commands.state }),
  ] as const;
}
