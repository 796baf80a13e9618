import { and, count, eq, isNotNull } from "drizzle-orm";
import { adviceRequests, brokerRuns } from "../../../schema/broker.ts";
import type { Ctx } from "../../lib/ctx.ts";
import { withWriteTransaction } from "../../lib/db.ts";
import { ApiError } from "../../lib/errors.ts";
import { limitOf } from "./enforce.ts";

/**
 * Reserves one send for advice that belongs to a run. Every send path (owner send-approved,
 * scoped token send) calls it before delivering, and delivers only if it returns: it refuses
 * advice of an overnight_dry_run run — which can never send — and a send that would go past
 * max_sends_total or max_sends_per_thread. The reservation is one write transaction, so two
 * racing sends cannot both take the last unit of budget; a delivery that then fails leaves the
 * unit spent, which errs on the side of sending less. Advice with no run has no budget.
 */
export async function reserveRunSend(ctx: Ctx, input: { runId: string | null; threadId: string }): Promise<void> {
  const runId = input.runId;
  if (!runId) return;
  await withWriteTransaction(ctx.db, (tx) => reserveIn(tx, runId, input.threadId, ctx.now().getTime()));
}

async function reserveIn(tx: Parameters<Parameters<Ctx["db"]["transaction"]>[0]>[0], runId: string, threadId: string, nowMs: number): Promise<void> {
  const input = { runId, threadId, nowMs };
  const [run] = await tx.select().from(brokerRuns).where(eq(brokerRuns.id, input.runId)).limit(1);
  if (!run) return;
  if (run.mode === "overnight_dry_run") {
    throw new ApiError("CONFLICT", `advice of overnight_dry_run run '${run.id}' can never be sent`, {
      hint: "A dry run only drafts. Reply to the requester yourself, or run a supervised run for advice you mean to send.",
    });
  }
  const [thread] = await tx
    .select({ n: count() })
    .from(adviceRequests)
    .where(and(eq(adviceRequests.runId, run.id), eq(adviceRequests.threadId, input.threadId), isNotNull(adviceRequests.sentAt)));
  const perThread = limitOf(run, "max_sends_per_thread");
  if (perThread !== undefined && (thread?.n ?? 0) + 1 > perThread) {
    throw new ApiError("CONFLICT", `run '${run.id}' allows at most ${perThread} send(s) per thread and thread ${input.threadId} has had ${thread?.n ?? 0}`, {
      hint: `See \`switchyard broker run-status ${run.id}\`.`,
    });
  }
  const total = limitOf(run, "max_sends_total");
  if (total !== undefined && run.sendsTotal + 1 > total) {
    throw new ApiError("CONFLICT", `run '${run.id}' allows at most ${total} send(s) and has used ${run.sendsTotal}`, { hint: `See \`switchyard broker run-status ${run.id}\`.` });
  }
  await tx.update(brokerRuns).set({ sendsTotal: run.sendsTotal + 1, updatedAt: input.nowMs }).where(eq(brokerRuns.id, run.id));
}
