import { and, asc, eq, inArray, isNull, lte, notInArray, or, sql, type SQL } from "drizzle-orm";
import { commandAttempts, commands, type CommandType } from "../../schema/commands.ts";
import type { Ctx } from "../lib/ctx.ts";
import { withWriteTransaction } from "../lib/db.ts";
import type { Claim } from "./store.ts";

/** Command types that act on a machine and so run only where that host's Host is available. */
export const HOST_COMMAND_TYPES: readonly CommandType[] = ["nudge", "interrupt", "capture", "stop", "spawn", "deliver"];

/** The command types a remote runner can execute (functions/actuate/pane-executors.ts runs them). */
export const RUNNER_COMMAND_TYPES = ["nudge", "interrupt", "stop", "capture"] as const satisfies readonly CommandType[];

/** One of RUNNER_COMMAND_TYPES. */
export type RunnerCommandType = (typeof RUNNER_COMMAND_TYPES)[number];

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

/**
 * Claims up to `limit` due commands, oldest first, in one conditional UPDATE: the ids come from
 * a subselect with LIMIT and the outer WHERE re-checks `state = 'pending'`, so two claimers can
 * never both take a row. Each claim increments the fencing generation and the attempt count and
 * sets the lease; an attempt row is opened per claim in the same transaction.
 */
export async function claimNext(ctx: Ctx, opts: ClaimScope & { dispatcherId: string; leaseMs: number; limit: number }): Promise<Claim[]> {
  if (opts.types.length === 0 || opts.limit < 1) return [];
  const nowMs = ctx.now().getTime();
  // Claim and attempt rows commit together: one write lock per batch of claims, and no claim
  // is ever visible without its attempt row.
  const claims = await withWriteTransaction(ctx.db, async (tx) => {
    const due = tx
      .select({ id: commands.id })
      .from(commands)
      .where(claimableWhere(opts, nowMs))
      .orderBy(asc(commands.createdAt), asc(commands.id))
      .limit(opts.limit);
    const claimed = await tx
      .update(commands)
      .set({
        state: "running",
        claimedBy: opts.dispatcherId,
        claimGeneration: sql`${commands.claimGeneration} + 1`,
        leaseExpiresAt: nowMs + opts.leaseMs,
        attempts: sql`${commands.attempts} + 1`,
        updatedAt: nowMs,
      })
      .where(and(inArray(commands.id, due), eq(commands.state, "pending")))
      .returning();
    const out = claimed.map((command) => ({ command, dispatcherId: opts.dispatcherId, generation: command.claimGeneration, attemptId: ctx.newId("att") }));
    if (out.length) {
      await tx
        .insert(commandAttempts)
        .values(out.map((c) => ({ id: c.attemptId, commandId: c.command.id, dispatcherId: c.dispatcherId, claimGeneration: c.generation, startedAt: nowMs })));
    }
    return out;
  });
  return claims.sort((a, b) => a.command.createdAt - b.command.createdAt || a.command.id.localeCompare(b.command.id));
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
  const expired = and(eq(commands.state, "running"), lte(commands.leaseExpiresAt, nowMs));
  const report: ExpiryReport = { ambiguous: [], pending: [], dead: [] };
  // A read first: every pass sweeps, and taking the write lock when nothing expired would make
  // dispatchers queue behind each other for nothing.
  const [any] = await ctx.db.select({ id: commands.id }).from(commands).where(expired).limit(1);
  if (!any) return report;
  const started = sql`EXISTS (SELECT 1 FROM command_attempts a WHERE a.command_id = ${commands.id} AND a.claim_generation = ${commands.claimGeneration} AND a.side_effect_started = 1)`;
  const [, moved] = await ctx.db.batch([
    ctx.db
      .update(commandAttempts)
      .set({ error: "lease expired before the attempt finished", finishedAt: nowMs })
      .where(
        and(
          isNull(commandAttempts.finishedAt),
          sql`EXISTS (SELECT 1 FROM commands c WHERE c.id = ${commandAttempts.commandId} AND c.claim_generation = ${commandAttempts.claimGeneration} AND c.state = 'running' AND c.lease_expires_at <= ${nowMs})`,
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
  ]);
  for (const r of moved) if (r.state === "ambiguous" || r.state === "pending" || r.state === "dead") report[r.state].push(r.id);
  return report;
}
