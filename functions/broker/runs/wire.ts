import type { z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { brokerRuns, type BrokerRunRow, type RunMode } from "../../../schema/broker.ts";
import type { Ctx } from "../../lib/ctx.ts";
import { notFound } from "../../lib/errors.ts";
import { iso } from "../../lib/sql.ts";
import type { APPROVAL_POLICIES, BrokerRun, StopCondition, ValidationSchema } from "./schema.ts";

/** The approval policy a mode implies; the daemon may never approve or send in any mode. */
export function approvalPolicyOf(mode: RunMode) {
  const policy: (typeof APPROVAL_POLICIES)[number] =
    mode === "overnight_dry_run" ? "never_send" : mode === "scoped_auto_send" ? "owner_or_scoped_token" : "owner_approves_each_send";
  return { policy, sends_allowed: mode !== "overnight_dry_run", daemon_may_approve: false as const, daemon_may_send: false as const };
}

/** The wire form of a run, with expiry and lease liveness judged at `nowMs`. */
export function runToWire(r: BrokerRunRow, nowMs: number): z.infer<typeof BrokerRun> {
  return {
    id: r.id,
    mode: r.mode,
    state: r.state,
    objective: r.objective,
    project: r.project,
    target_session: r.targetSession,
    owner_session_id: r.ownerSessionId,
    message_type: r.messageType,
    expires_at: iso(r.expiresAt),
    expired: r.expiresAt !== null && nowMs >= r.expiresAt,
    approval_policy: approvalPolicyOf(r.mode),
    limits: r.limits,
    stop_conditions: r.stopConditions as StopCondition[],
    validation: r.validation as z.infer<typeof ValidationSchema>,
    counters: {
      requests_total: r.requestsTotal,
      drafts_total: r.draftsTotal,
      sends_total: r.sendsTotal,
      errors_total: r.errorsTotal,
      consecutive_errors: r.consecutiveErrors,
      duplicate_drafts: r.duplicateDrafts,
    },
    lease: { owner: r.leaseOwner, expires_at: iso(r.leaseExpiresAt), live: r.leaseOwner !== null && r.leaseExpiresAt !== null && r.leaseExpiresAt > nowMs },
    last_activity_at: iso(r.lastActivityAt),
    started_at: iso(r.startedAt),
    stopped_at: iso(r.stoppedAt),
    stop_reason: r.stopReason,
    created_at: iso(r.createdAt)!,
    updated_at: iso(r.updatedAt)!,
  };
}

/** Loads a run by id or fails with NOT_FOUND. */
export async function runById(ctx: Ctx, id: string): Promise<BrokerRunRow> {
  const [row] = await ctx.db.select().from(brokerRuns).where(eq(brokerRuns.id, id)).limit(1);
  if (!row) throw notFound("broker run", id, "List runs with `switchyard broker runs`.");
  return row;
}
