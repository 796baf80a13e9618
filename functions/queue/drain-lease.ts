import { and, eq, sql, type SQL } from "drizzle-orm";
import { commands, dispatchLeases, type CommandType } from "../../schema/commands.ts";
import type { Ctx } from "../lib/ctx.ts";
import { claimableWhere, type ClaimScope } from "./claim.ts";

/**
 * How long a drain lease lasts without renewal. The holder renews it in every claim write, so a
 * lease runs out only when its holder was killed, hung, or spent this long on one batch of slow
 * effects; a standby then takes the drain over.
 */
export const DRAIN_LEASE_MS = 5_000;

/**
 * A looping dispatcher's drain lease (DispatchOptions.drain). SQLite has one writer lock per
 * database, and a dispatcher draining database-only commands spends most of its time in write
 * batches under it; a second dispatcher of the same scope only queues for that lock (and sleeps
 * in SQLite's busy handler while it frees and is taken again), so four of them drain slower than
 * one. With a drain lease, one dispatcher per scope claims at a time — taking and renewing the
 * lease in the claim write it does anyway — and the others stand by: each pass they read the
 * lease (a read, which WAL runs beside the writer), claim only commands with effects outside the
 * database (slow pane and host effects, which still gain from running side by side), and take the
 * lease over when it runs out or is released.
 *
 * The lease only decides who tries to claim; it guards nothing. Every claim is still the
 * conditional UPDATE fenced by the claim generation, so exactly-once completion never rests on it.
 */
export class DrainLease {
  /** Whether the last claim write of this process held the lease (then the next pass claims at once). */
  held = false;
  /** The scope key of the lease the passes claim under (set by the first pass). */
  key: string | null = null;
  constructor(readonly ttlMs = DRAIN_LEASE_MS) {}
}

/** The lease row's key: dispatchers compete for the same commands only when host and types match. */
export function drainScopeKey(scope: ClaimScope): string {
  return `${scope.host ?? "-"}|${[...scope.types].sort().join(",")}`;
}

/** What a claim under a drain lease needs to know about it. */
export interface DrainClaim {
  key: string;
  holder: string;
  ttlMs: number;
  /** Types this claimer may take without the lease: those whose effect is outside the database. */
  freeTypes: readonly CommandType[];
}

/**
 * Whether the lease row holds off other dispatchers at `nowMs` of this clock: unexpired, and not
 * expiring further ahead than two of its own lengths. The holder sets the expiry from its clock,
 * so a holder whose clock runs fast (or a row edited by hand) would otherwise keep every standby
 * off database-only commands for as long as that clock is ahead, even once it is dead. A row
 * beyond the bound counts as free: with clocks that far apart, the dispatchers take turns
 * claiming (as without a lease; the claim fence keeps that safe) instead of stalling.
 */
function liveLease(nowMs: number): SQL {
  return sql`(${dispatchLeases.expiresAt} > ${nowMs} AND ${dispatchLeases.expiresAt} <= ${nowMs} + 2 * ${dispatchLeases.ttlMs})`;
}

/**
 * Takes or renews the lease, for the claim batch, ahead of the claim: the row is written when it
 * is free, expired (or beyond belief, see liveLease) or already this holder's, and returned only
 * then (so an empty result means another dispatcher holds it). One statement by primary key.
 */
export function takeLeaseStatement(ctx: Ctx, lease: DrainClaim, nowMs: number) {
  return ctx.db
    .insert(dispatchLeases)
    .values({ scope: lease.key, holder: lease.holder, expiresAt: nowMs + lease.ttlMs, takenAt: nowMs, ttlMs: lease.ttlMs })
    .onConflictDoUpdate({
      target: dispatchLeases.scope,
      set: {
        holder: lease.holder,
        expiresAt: nowMs + lease.ttlMs,
        ttlMs: lease.ttlMs,
        takenAt: sql`CASE WHEN ${dispatchLeases.holder} = ${lease.holder} THEN ${dispatchLeases.takenAt} ELSE ${nowMs} END`,
      },
      where: sql`${dispatchLeases.holder} = ${lease.holder} OR NOT ${liveLease(nowMs)}`,
    })
    .returning({ holder: dispatchLeases.holder });
}

/**
 * The claim's extra condition under a drain lease: a command of a free type, or any command when
 * this claimer holds the lease (evaluated after takeLeaseStatement in the same write, so it sees
 * the lease as that statement left it). Uncorrelated, so SQLite evaluates the EXISTS once.
 */
export function leaseGate(lease: DrainClaim, nowMs: number): SQL {
  const holds = sql`EXISTS (SELECT 1 FROM ${dispatchLeases} WHERE ${dispatchLeases.scope} = ${lease.key} AND ${dispatchLeases.holder} = ${lease.holder} AND ${dispatchLeases.expiresAt} > ${nowMs})`;
  if (lease.freeTypes.length === 0) return holds;
  return sql`(${holds} OR ${commands.type} IN (${sql.join(
    lease.freeTypes.map((t) => sql`${t}`),
    sql`, `,
  )}))`;
}

/** What a standing-by dispatcher read: whether to write a claim this pass. */
export interface StandbyView {
  /** Nobody holds the lease (or this dispatcher still does): claim, taking it. */
  free: boolean;
  /** A command of a free type is due: claim those (the lease stays where it is). */
  freeDue: boolean;
}

/**
 * A standby's pass begins with this read instead of a claim write: the live lease holder and
 * whether a command it may claim without the lease is due, in one SELECT (by primary key and
 * the state index). A dispatcher that would only find the lease taken and nothing of its own to
 * claim then writes nothing, so it never queues for the lock the holder is using.
 */
export async function standbyView(ctx: Ctx, scope: ClaimScope, lease: DrainClaim, nowMs: number): Promise<StandbyView> {
  const holder = ctx.db
    .select({ holder: dispatchLeases.holder })
    .from(dispatchLeases)
    .where(and(eq(dispatchLeases.scope, lease.key), liveLease(nowMs)));
  const due =
    lease.freeTypes.length === 0
      ? sql`0`
      : // Drizzle puts a subquery in parentheses itself.
        sql`EXISTS ${ctx.db
          .select({ one: sql`1` })
          .from(commands)
          .where(claimableWhere({ ...scope, types: lease.freeTypes }, nowMs))
          .limit(1)}`;
  const [row] = await ctx.db.all<{ holder: string | null; due: number }>(sql`SELECT ${holder} AS holder, ${due} AS due`);
  return { free: row?.holder == null || row.holder === lease.holder, freeDue: Number(row?.due ?? 0) === 1 };
}

/** Gives the lease up (a dispatcher stopping cleanly), so a standby takes over at once. */
export async function releaseDrainLease(ctx: Ctx, key: string, holder: string): Promise<void> {
  await ctx.db.delete(dispatchLeases).where(and(eq(dispatchLeases.scope, key), eq(dispatchLeases.holder, holder)));
}
