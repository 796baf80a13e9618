import { z } from "@hono/zod-openapi";
import { NextCursorField, PageQueryFields } from "../lib/paging.ts";
import { ADVICE_STATES, JOB_STATES } from "../../schema/broker.ts";
import { QueryBool, QueryLimit } from "../lib/names.ts";
import { RESEARCH_POLICIES } from "../../schema/enums.ts";

const Short = (max: number) => z.string().min(1).max(max);
/** Longest advice text the owner may approve or edit in, in characters (matches message bodies). */
export const MAX_ADVICE_CHARS = 64 * 1024;

export const ResearchPolicy = z.enum(RESEARCH_POLICIES).openapi({
  description:
    "Whether drafting may rely on online/current information. deny (the default) sends requests that ask for latest/current/online facts to owner_input_required instead of drafting.",
});

export const Advice = z
  .object({
    id: z.string(),
    state: z.enum(ADVICE_STATES),
    source_message_id: z.string(),
    thread_id: z.string(),
    requester_session_id: z.string().nullable(),
    to_session_id: z.string(),
    project: z.string().nullable(),
    run_id: z.string().nullable(),
    research_policy: ResearchPolicy,
    request_text: z.string(),
    draft_text: z.string().nullable(),
    draft_meta: z.record(z.string(), z.unknown()).nullable(),
    policy_reason: z.string().nullable(),
    approved_text: z.string().nullable(),
    approved_by: z.string().nullable(),
    approved_at: z.string().nullable(),
    rejected_reason: z.string().nullable(),
    rejected_at: z.string().nullable(),
    sent_message_id: z.string().nullable(),
    sent_at: z.string().nullable(),
    error: z.string().nullable(),
    job_id: z.string().nullable(),
    job_state: z.enum(JOB_STATES).nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Advice");

export const BrokerEvent = z
  .object({
    id: z.number().int(),
    kind: z.string(),
    run_id: z.string().nullable(),
    job_id: z.string().nullable(),
    advice_id: z.string().nullable(),
    payload: z.record(z.string(), z.unknown()),
    created_at: z.string(),
  })
  .openapi("BrokerEvent");

export const AdviceIdParam = z.object({ id: Short(100).openapi({ param: { name: "id", in: "path" } }) });

export const PollBody = z
  .object({
    project: Short(500).optional().openapi({ description: "Only requests whose message project is exactly this" }),
    to_session: Short(100).optional().openapi({ description: "Only requests addressed to this session (name or id)" }),
    dry_run: z.boolean().optional().default(false).openapi({ description: "List the candidates without ingesting them" }),
    research_policy: ResearchPolicy.optional().default("deny"),
    run_id: Short(100).optional().openapi({ description: "Attribute ingested requests to this broker run" }),
    limit: z.number().int().min(1).max(500).optional().default(100),
  })
  .strict()
  .openapi("PollMessages");

export const Candidate = z
  .object({
    message_id: z.string(),
    thread_id: z.string(),
    from_session_id: z.string().nullable(),
    to_session_id: z.string(),
    project: z.string().nullable(),
    subject: z.string().nullable(),
    body_chars: z.number().int(),
    created_at: z.string(),
  })
  .openapi("AdviceCandidate");

export const IngestResult = z
  .object({
    advice: Advice,
    advice_id: z.string(),
    job_id: z.string(),
    already_ingested: z.boolean().openapi({ description: "True when the message had been ingested before; nothing new was created" }),
  })
  .openapi("IngestResult");

export const PollResult = z
  .object({
    dry_run: z.boolean(),
    candidates: z.array(Candidate),
    count: z.number().int(),
    ingested: z.array(IngestResult),
  })
  .openapi("PollResult");

export const MessageIdParam = z.object({ message_id: Short(100).openapi({ param: { name: "message_id", in: "path" } }) });

export const IngestBody = z
  .object({
    research_policy: ResearchPolicy.optional().default("deny"),
    run_id: Short(100).optional().openapi({ description: "Attribute the request to this broker run" }),
  })
  .strict()
  .openapi("IngestMessage");

export const QueueQuery = z.object({
  state: z
    .enum([...ADVICE_STATES, "open", "all"])
    .optional()
    .default("open")
    .openapi({ description: "open (default): everything not yet sent or rejected" }),
  limit: QueryLimit(500, 100),
  cursor: PageQueryFields.cursor,
});

export const QueueResult = z.object({ advice: z.array(Advice), count: z.number().int(), ...NextCursorField }).openapi("AdviceQueue");

export const ReviewQuery = z.object({ with_context: QueryBool.openapi({ description: "Include the exact stored context packet" }) });

export const ReviewResult = z
  .object({
    advice: Advice,
    context_packet: z.record(z.string(), z.unknown()).nullable().optional().openapi({ description: "Present with with_context: the packet exactly as stored" }),
    events: z.array(BrokerEvent).openapi({ description: "The newest events (at most 20), oldest first" }),
    events_total: z
      .number()
      .int()
      .openapi({ description: "How many events the request has; more than events holds: page them with GET /broker/advice/{id}/events" }),
  })
  .openapi("AdviceReview");

/** Query of the event lists of one advice request or one orchestrator job. */
export const EventsPageQuery = z.object({ ...PageQueryFields });

export const AdviceEvents = z
  .object({ advice_id: z.string(), events: z.array(BrokerEvent), count: z.number().int(), ...NextCursorField })
  .openapi("AdviceEvents");

export const ApproveBody = z
  .object({
    edit: z
      .string()
      .min(1)
      .max(MAX_ADVICE_CHARS)
      .optional()
      .openapi({ description: "Approve this text instead of the draft (required when there is no draft)" }),
  })
  .strict()
  .openapi("ApproveAdvice");

export const RejectBody = z
  .object({ reason: Short(2000) })
  .strict()
  .openapi("RejectAdvice");

export const RetryBody = z
  .object({ research_policy: ResearchPolicy.optional().openapi({ description: "Change the request's research policy before retrying" }) })
  .strict()
  .openapi("RetryAdvice");

export const AdviceResult = z.object({ advice: Advice, advice_id: z.string(), event_id: z.string() }).openapi("AdviceResult");

export const RetryResult = z.object({ advice: Advice, advice_id: z.string(), job_id: z.string(), event_id: z.string() }).openapi("RetryAdviceResult");

export const SendResult = z
  .object({
    advice: Advice,
    advice_id: z.string(),
    message_id: z.string(),
    inbox_item_id: z.string().nullable(),
    already_sent: z.boolean().openapi({ description: "True when the advice had been sent before; no second message was created" }),
  })
  .openapi("SendAdviceResult");

export const ApprovalToken = z
  .object({
    id: z.string(),
    run_id: z.string(),
    to_session: z.string().openapi({ description: "Session id the token may send to" }),
    thread_id: z.string(),
    max_uses: z.number().int(),
    uses: z.number().int(),
    expires_at: z.string(),
    revoked_at: z.string().nullable(),
    revoke_reason: z.string().nullable(),
    created_at: z.string(),
  })
  .openapi("ApprovalToken");

export const ScopedSendBody = z
  .object({
    run_id: Short(100).openapi({ description: "The scoped_auto_send run the advice belongs to" }),
    approval_token: z.string().min(1).max(200).openapi({ description: "The approval token's secret (sy_approval_…), as token-create printed it" }),
  })
  .strict()
  .openapi("ScopedSend");

export const ScopedSendResult = SendResult.extend({
  token_id: z.string().nullable().openapi({ description: "The token whose use paid for this send; null when the advice had been sent before" }),
  token: ApprovalToken.nullable().openapi({ description: "The token after this use (uses counts it); null when nothing was used" }),
}).openapi("ScopedSendResult");

export const TokenCreateBody = z
  .object({
    run_id: Short(100),
    to_session: Short(100).openapi({ description: "Recipient session (name or id) the token is scoped to" }),
    thread_id: Short(100),
    max_uses: z.number().int().min(1).max(100),
    expires_minutes: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 60),
  })
  .strict()
  .openapi("CreateApprovalToken");

export const TokenCreateResult = z
  .object({
    token: ApprovalToken,
    token_id: z.string(),
    secret: z.string().nullable().openapi({ description: "Shown once; only its hash is stored (null in an Idempotency-Key replay)" }),
    event_id: z.string(),
  })
  .openapi("CreateApprovalTokenResult");

export const TokenIdParam = z.object({ id: Short(100).openapi({ param: { name: "id", in: "path" } }) });

export const TokenCheckQuery = z.object({
  run_id: Short(100),
  to_session: Short(100).openapi({ description: "Session name or id" }),
  thread_id: Short(100),
});

export const TOKEN_FAILURES = [
  "missing",
  "expired",
  "revoked",
  "overused",
  "run_mismatch",
  "session_mismatch",
  "thread_mismatch",
  "wrong_run_mode",
  "run_not_running",
] as const;
export type TokenFailure = (typeof TOKEN_FAILURES)[number];

export const TokenCheckResult = z
  .object({
    valid: z.boolean(),
    reason: z.enum(TOKEN_FAILURES).nullable().openapi({ description: "Why the token would be refused; null when valid" }),
    token: ApprovalToken.nullable(),
  })
  .openapi("ApprovalTokenCheck");

export const TokenRevokeBody = z
  .object({ reason: Short(2000) })
  .strict()
  .openapi("RevokeApprovalToken");

export const TokenRevokeResult = z
  .object({ token: ApprovalToken, token_id: z.string(), event_id: z.string().nullable().openapi({ description: "Null when the token was already revoked" }) })
  .openapi("RevokeApprovalTokenResult");
