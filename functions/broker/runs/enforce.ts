import { and, desc, eq, gt, isNotNull, isNull, ne } from "drizzle-orm";
import { adviceRequests, type BrokerRunRow, brokerRunAdviceCounts } from "../../../schema/broker.ts";
import type { Ctx } from "../../lib/ctx.ts";
import { iso } from "../../lib/sql.ts";
import type { LimitName, StopReason } from "./schema.ts";

/** A reason to stop a run, with the numbers that justify it in words. */
export interface Violation {
  reason: StopReason;
  detail: string;
}

const MINUTE = 60_000;

/** The run's value for a limit, or undefined when the contract leaves it unbounded. */
export function limitOf(run: BrokerRunRow, name: LimitName): number | undefined {
  const v = run.limits[name];
  return typeof v === "number" ? v : undefined;
}

/** True when `value` is past the limit ("at most N" means N itself is still allowed). */
export function exceeds(run: BrokerRunRow, name: LimitName, value: number): boolean {
  const max = limitOf(run, name);
  return max !== undefined && value > max;
}

/** How many more of a budgeted action the run may take (Infinity when unbounded). */
export function remaining(run: BrokerRunRow, name: LimitName, used: number): number {
  const max = limitOf(run, name);
  return max === undefined ? Infinity : Math.max(0, max - used);
}

/**
 * Clock-driven limits, checked first on every tick: expiry, total runtime since start, and time
 * since the run last ingested or drafted anything.
 */
export function timeViolation(run: BrokerRunRow, nowMs: number): Violation | null {
  if (run.expiresAt !== null && nowMs >= run.expiresAt) return { reason: "expired", detail: `the contract expired at ${iso(run.expiresAt)}` };
  const started = run.startedAt ?? run.createdAt;
  const runtime = limitOf(run, "max_runtime_minutes");
  if (runtime !== undefined && nowMs - started >= runtime * MINUTE) {
    return { reason: "max_runtime_minutes", detail: `ran ${Math.floor((nowMs - started) / MINUTE)} min of at most ${runtime} min` };
  }
  const idle = limitOf(run, "max_idle_minutes");
  const last = run.lastActivityAt ?? started;
  if (idle !== undefined && nowMs - last >= idle * MINUTE) {
    return { reason: "max_idle_minutes", detail: `nothing ingested or drafted for ${Math.floor((nowMs - last) / MINUTE)} min (at most ${idle} min idle)` };
  }
  return null;
}

/**
 * What the advice rows show the run has taken on, whoever did it: its own ticks, or the owner
 * ingesting or drafting with the run's id outside them (poll-messages --run-id, orchestrator
 * watch --run-id). Ticks count from here so that work is not missed.
 */
export async function observedWork(ctx: Ctx, runId: string): Promise<{ requests: number; drafts: number }> {
  const row = await adviceTotals(ctx, runId);
  return { requests: row?.requests ?? 0, drafts: row?.drafts ?? 0 };
}

/**
 * The run's advice totals as the advice_requests triggers keep them (migration 0023, thread ''),
 * so every tick reads one row rather than counting all the advice the run ever took on.
 */
async function adviceTotals(ctx: Ctx, runId: string) {
  const [row] = await ctx.db
    .select()
    .from(brokerRunAdviceCounts)
    .where(and(eq(brokerRunAdviceCounts.runId, runId), eq(brokerRunAdviceCounts.threadId, "")));
  return row;
}

/** Request and draft budgets already overrun by work done outside the run's ticks. */
export function overrun(run: BrokerRunRow): Violation | null {
  if (exceeds(run, "max_requests_total", run.requestsTotal)) {
    return {
      reason: "max_requests_total",
      detail: `${run.requestsTotal} requests attributed to the run (at most ${limitOf(run, "max_requests_total")}), some ingested outside its ticks`,
    };
  }
  if (exceeds(run, "max_drafts_total", run.draftsTotal)) {
    return {
      reason: "max_drafts_total",
      detail: `${run.draftsTotal} drafts for the run (at most ${limitOf(run, "max_drafts_total")}), some made outside its ticks`,
    };
  }
  return null;
}

/**
 * Tripwires on what has been sent for the run. A tick never sends, so these only fire if some
 * other path did: a send without an approval, more sends than the contract allows in total or
 * per thread (a dry run allows none). Counts come from the advice rows themselves, so a send
 * path that forgot to reserve budget is still caught.
 */
export async function sendViolation(ctx: Ctx, run: BrokerRunRow): Promise<Violation | null> {
  const totals = await adviceTotals(ctx, run.id);
  if ((totals?.unapprovedSent ?? 0) > 0) {
    // Only once, as the run stops: which advice it was is worth the walk over the run's advice.
    const [unapproved] = await ctx.db
      .select({ id: adviceRequests.id })
      .from(adviceRequests)
      .where(and(eq(adviceRequests.runId, run.id), isNotNull(adviceRequests.sentAt), isNull(adviceRequests.approvedAt)))
      .limit(1);
    if (unapproved) return { reason: "missing_approval", detail: `advice ${unapproved.id} was sent without an owner approval` };
  }
  const sent = Math.max(run.sendsTotal, totals?.sent ?? 0);
  if (exceeds(run, "max_sends_total", sent)) return { reason: "max_sends_total", detail: `${sent} sent of at most ${limitOf(run, "max_sends_total")}` };
  const perThread = limitOf(run, "max_sends_per_thread");
  if (perThread === undefined) return null;
  // The busiest thread over the limit, if any: one step down the (run, sent) index.
  const [busiest] = await ctx.db
    .select({ threadId: brokerRunAdviceCounts.threadId, n: brokerRunAdviceCounts.sent })
    .from(brokerRunAdviceCounts)
    .where(and(eq(brokerRunAdviceCounts.runId, run.id), gt(brokerRunAdviceCounts.sent, perThread), ne(brokerRunAdviceCounts.threadId, "")))
    .orderBy(desc(brokerRunAdviceCounts.sent))
    .limit(1);
  if (busiest) return { reason: "max_sends_per_thread", detail: `${busiest.n} sent on thread ${busiest.threadId} of at most ${perThread}` };
  return null;
}
