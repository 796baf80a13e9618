import type { z } from "@hono/zod-openapi";
import { and, desc, eq, isNull, lte, or } from "drizzle-orm";
import { brokerEvents, brokerRuns, type BrokerRunRow } from "../../../schema/broker.ts";
import type { Ctx } from "../../lib/ctx.ts";
import { ApiError } from "../../lib/errors.ts";
import { defineRoute, jsonBody, jsonResponse } from "../../lib/route.ts";
import { iso } from "../../lib/sql.ts";
import { brokerEventValues } from "../wire.ts";
import { RUN_EVENT } from "./lifecycle.ts";
import { ReleaseLeaseBody, RunIdParam, RunResult } from "./schema.ts";
import { runById, runToWire } from "./wire.ts";

/** How a lease attempt ended. Only `acquired` lets the caller process the run. */
export type LeaseOutcome =
  | { kind: "acquired"; run: BrokerRunRow; previousOwner: string | null; takenOver: boolean }
  | { kind: "held"; run: BrokerRunRow }
  | { kind: "not_running"; run: BrokerRunRow };

/**
 * Takes or renews the lease on a running run for `holder`: one conditional UPDATE that succeeds
 * only when the lease is free, already ours, or expired, so two daemons can never both hold it.
 * The lease and acquisition events are written only when the holder changes, so renewals each
 * tick add nothing to the event log.
 */
export async function acquireRunLease(ctx: Ctx, runId: string, holder: string, leaseMs: number): Promise<LeaseOutcome> {
  const nowMs = ctx.now().getTime();
  // Read only to report whose lease we replaced; the UPDATE below is what decides.
  const before = await runById(ctx, runId);
  const [run] = await ctx.db
    .update(brokerRuns)
    .set({ leaseOwner: holder, leaseExpiresAt: nowMs + leaseMs, updatedAt: nowMs })
    .where(
      and(
        eq(brokerRuns.id, runId),
        eq(brokerRuns.state, "running"),
        or(isNull(brokerRuns.leaseOwner), eq(brokerRuns.leaseOwner, holder), lte(brokerRuns.leaseExpiresAt, nowMs)),
      ),
    )
    .returning();
  if (!run) {
    const now = await runById(ctx, runId);
    if (now.state !== "running") return { kind: "not_running", run: now };
    await noteRefusal(ctx, now, holder);
    return { kind: "held", run: now };
  }
  const previousOwner = before.leaseOwner;
  if (previousOwner !== holder) {
    const takenOver = previousOwner !== null;
    await ctx.db.insert(brokerEvents).values(
      brokerEventValues(ctx, {
        kind: takenOver ? RUN_EVENT.leaseTakenOver : RUN_EVENT.leaseAcquired,
        runId,
        payload: { holder, previous_owner: previousOwner, previous_expires_at: iso(before.leaseExpiresAt), lease_expires_at: iso(run.leaseExpiresAt) },
      }),
    );
    return { kind: "acquired", run, previousOwner, takenOver };
  }
  return { kind: "acquired", run, previousOwner, takenOver: false };
}

/**
 * Records that `holder` was refused, once per lease owner it was refused by: a standby daemon
 * retries every interval and would otherwise fill the log with identical lines.
 */
async function noteRefusal(ctx: Ctx, run: BrokerRunRow, holder: string): Promise<void> {
  const [last] = await ctx.db
    .select()
    .from(brokerEvents)
    .where(and(eq(brokerEvents.runId, run.id), eq(brokerEvents.kind, RUN_EVENT.leaseRefused)))
    .orderBy(desc(brokerEvents.id))
    .limit(1);
  if (last && last.payload.holder === holder && last.payload.lease_owner === run.leaseOwner) return;
  await ctx.db.insert(brokerEvents).values(
    brokerEventValues(ctx, {
      kind: RUN_EVENT.leaseRefused,
      runId: run.id,
      payload: { holder, lease_owner: run.leaseOwner, lease_expires_at: iso(run.leaseExpiresAt) },
    }),
  );
}

/** The error a refused holder gets: who holds the lease and until when. */
export function leaseHeldError(run: BrokerRunRow): ApiError {
  return new ApiError("CONFLICT", `run '${run.id}' is leased to '${run.leaseOwner}' until ${iso(run.leaseExpiresAt)}`, {
    hint: "Another daemon is processing this run. Stop that daemon (broker daemon-uninstall on its machine) or wait for its lease to expire, then retry.",
  });
}

export const releaseLeaseRoute = defineRoute(["owner", "daemon"], {
  method: "post",
  path: "/broker/runs/{id}/release-lease",
  tags: ["broker runs"],
  summary: "Give up a run's lease (a daemon shutting down)",
  description: "Releases the lease only if `holder` holds it, so a standby daemon can take over at once instead of waiting for expiry.",
  request: { params: RunIdParam, body: jsonBody(ReleaseLeaseBody) },
  responses: { 200: jsonResponse(RunResult, "Released") },
});

/** Releases the lease held by `holder`; refuses when someone else (or nobody) holds it. */
export async function releaseRunLease(ctx: Ctx, id: string, input: z.infer<typeof ReleaseLeaseBody>) {
  const nowMs = ctx.now().getTime();
  const [run] = await ctx.db
    .update(brokerRuns)
    .set({ leaseOwner: null, leaseExpiresAt: null, updatedAt: nowMs })
    .where(and(eq(brokerRuns.id, id), eq(brokerRuns.leaseOwner, input.holder)))
    .returning();
  if (!run) {
    const now = await runById(ctx, id);
    throw new ApiError("CONFLICT", `'${input.holder}' does not hold the lease of run '${id}' (held by ${now.leaseOwner ?? "nobody"})`, {
      hint: `See \`switchyard broker run-status ${id}\`.`,
    });
  }
  const [e] = await ctx.db
    .insert(brokerEvents)
    .values(brokerEventValues(ctx, { kind: RUN_EVENT.leaseReleased, runId: id, payload: { holder: input.holder } }))
    .returning({ id: brokerEvents.id });
  return { run: runToWire(run, nowMs), run_id: id, event_id: e!.id };
}
