import { and, eq } from "drizzle-orm";
import { brokerEvents, brokerRunEventCounts, brokerRuns } from "../../../schema/broker.ts";
import type { Ctx } from "../../lib/ctx.ts";
import { withWriteTransaction } from "../../lib/db.ts";
import { ApiError } from "../../lib/errors.ts";
import { brokerEventValues } from "../wire.ts";
import { limitOf } from "./enforce.ts";

/**
 * Reserves one send for advice that belongs to a run. Every send path (owner send-approved,
 * scoped token send) calls it before delivering, and delivers only if it returns: it refuses
 * advice of an overnight_dry_run run — which can never send — and a send that would go past
 * max_sends_total or max_sends_per_thread. The reservation is one write transaction, so two
 * racing sends cannot both take the last unit of budget; a delivery that then fails leaves the
 * unit spent, which errs on the side of sending less. Advice with no run has no budget.
 */
export async function reserveRunSend(ctx: Ctx, input: { runId: string | null; threadId: string; adviceId: string }): Promise<void> {
  const runId = input.runId;
  if (!runId) return;
  await withWriteTransaction(ctx.db, (tx) => reserveIn(ctx, tx, runId, input.threadId, input.adviceId, ctx.now().getTime()));
}

/**
 * Reserves within a write transaction the caller holds, so a refusal rolls back whatever else the
 * caller took in it (the scoped send's token use).
 */
export async function reserveRunSendIn(
  ctx: Ctx,
  tx: Parameters<Parameters<Ctx["db"]["transaction"]>[0]>[0],
  input: { runId: string | null; threadId: string; adviceId: string },
): Promise<void> {
  if (input.runId) await reserveIn(ctx, tx, input.runId, input.threadId, input.adviceId, ctx.now().getTime());
}

/**
 * The reservation, inside one write transaction. Each reservation is a `send_reserved` broker
 * event, and the per-thread count reads those rather than `sent_at` (written only after the
 * delivery), so two sends racing on one thread cannot both pass; a retried send of the same
 * advice finds its own reservation and spends nothing more.
 */
async function reserveIn(
  ctx: Ctx,
  tx: Parameters<Parameters<Ctx["db"]["transaction"]>[0]>[0],
  runId: string,
  threadId: string,
  adviceId: string,
  nowMs: number,
): Promise<void> {
  const input = { runId, threadId, nowMs };
  const [run] = await tx.select().from(brokerRuns).where(eq(brokerRuns.id, input.runId)).limit(1);
  if (!run) return;
  if (run.mode === "overnight_dry_run") {
    throw new ApiError("CONFLICT", `advice of overnight_dry_run run '${run.id}' can never be sent`, {
      hint: "A dry run only drafts. Reply to the requester yourself, or run a supervised run for advice you mean to send.",
    });
  }
  // Looked up by the advice (a few events each), with the run checked here: given the run too,
  // the planner walks the run's reservations, all of them when the advice has none yet.
  const mine = await tx
    .select({ runId: brokerEvents.runId })
    .from(brokerEvents)
    .where(and(eq(brokerEvents.adviceId, adviceId), eq(brokerEvents.kind, "send_reserved")));
  if (mine.some((e) => e.runId === run.id)) return;
  // The thread's reservations as the broker_events triggers count them (migration 0023): one key
  // lookup instead of reading every reservation of the run for its thread.
  const [thread] = await tx
    .select({ n: brokerRunEventCounts.n })
    .from(brokerRunEventCounts)
    .where(and(eq(brokerRunEventCounts.runId, run.id), eq(brokerRunEventCounts.kind, "send_reserved"), eq(brokerRunEventCounts.subject, input.threadId)));
  const perThread = limitOf(run, "max_sends_per_thread");
  if (perThread !== undefined && (thread?.n ?? 0) + 1 > perThread) {
    throw new ApiError("CONFLICT", `run '${run.id}' allows at most ${perThread} send(s) per thread and thread ${input.threadId} has had ${thread?.n ?? 0}`, {
      hint: `See \`switchyard broker run-status ${run.id}\`.`,
    });
  }
  const total = limitOf(run, "max_sends_total");
  if (total !== undefined && run.sendsTotal + 1 > total) {
    throw new ApiError("CONFLICT", `run '${run.id}' allows at most ${total} send(s) and has used ${run.sendsTotal}`, {
      hint: `See \`switchyard broker run-status ${run.id}\`.`,
    });
  }
  await tx
    .update(brokerRuns)
    .set({ sendsTotal: run.sendsTotal + 1, updatedAt: input.nowMs })
    .where(eq(brokerRuns.id, run.id));
  await tx.insert(brokerEvents).values(brokerEventValues(ctx, { kind: "send_reserved", runId: run.id, adviceId, payload: { thread_id: input.threadId } }));
}
