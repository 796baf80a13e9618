import type { z } from "@hono/zod-openapi";
import type { AdviceRequestRow, ApprovalTokenRow, OrchestratorJobRow } from "../../schema/broker.ts";
import type { brokerEvents } from "../../schema/broker.ts";
import type { Ctx } from "../lib/ctx.ts";
import { iso } from "../lib/sql.ts";
import type { Advice, ApprovalToken, BrokerEvent } from "./schema.ts";

/** How a request's research policy is kept: in draft_meta, so drafting inputs and outputs sit together. */
export type ResearchPolicy = "deny" | "allow";

/** The research policy recorded on an advice row; anything but an explicit allow is deny. */
export function researchPolicyOf(row: Pick<AdviceRequestRow, "draftMeta">): ResearchPolicy {
  return row.draftMeta?.research_policy === "allow" ? "allow" : "deny";
}

/** The wire form of an advice row, with its job when known. */
export function adviceToWire(a: AdviceRequestRow, job?: Pick<OrchestratorJobRow, "id" | "state"> | null): z.infer<typeof Advice> {
  return {
    id: a.id,
    state: a.state,
    source_message_id: a.sourceMessageId,
    thread_id: a.threadId,
    requester_session_id: a.requesterSessionId,
    to_session_id: a.toSessionId,
    project: a.project,
    run_id: a.runId,
    research_policy: researchPolicyOf(a),
    request_text: a.requestText,
    draft_text: a.draftText,
    draft_meta: a.draftMeta ?? null,
    policy_reason: a.policyReason,
    approved_text: a.approvedText,
    approved_by: a.approvedBy,
    approved_at: iso(a.approvedAt),
    rejected_reason: a.rejectedReason,
    rejected_at: iso(a.rejectedAt),
    sent_message_id: a.sentMessageId,
    sent_at: iso(a.sentAt),
    error: a.error,
    job_id: job?.id ?? null,
    job_state: job?.state ?? null,
    created_at: iso(a.createdAt)!,
    updated_at: iso(a.updatedAt)!,
  };
}

/** The wire form of a broker_events row. */
export function brokerEventToWire(e: typeof brokerEvents.$inferSelect): z.infer<typeof BrokerEvent> {
  return { id: e.id, kind: e.kind, run_id: e.runId, job_id: e.jobId, advice_id: e.adviceId, payload: e.payload, created_at: iso(e.createdAt)! };
}

/** The wire form of an approval token; never includes the secret or its hash. */
export function tokenToWire(t: ApprovalTokenRow): z.infer<typeof ApprovalToken> {
  return {
    id: t.id,
    run_id: t.runId,
    to_session: t.toSession,
    thread_id: t.threadId,
    max_uses: t.maxUses,
    uses: t.uses,
    expires_at: iso(t.expiresAt)!,
    revoked_at: iso(t.revokedAt),
    revoke_reason: t.revokeReason,
    created_at: iso(t.createdAt)!,
  };
}

/**
 * The values of one broker_events row. Callers insert it with whichever handle (db or an open
 * transaction) carries the rest of their change, so the event commits with it.
 */
export function brokerEventValues(
  ctx: Ctx,
  e: { kind: string; adviceId?: string | null; jobId?: string | null; runId?: string | null; payload?: Record<string, unknown> },
): typeof brokerEvents.$inferInsert {
  return {
    kind: e.kind,
    adviceId: e.adviceId ?? null,
    jobId: e.jobId ?? null,
    runId: e.runId ?? null,
    payload: e.payload ?? {},
    createdAt: ctx.now().getTime(),
  };
}
