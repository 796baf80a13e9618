import { z } from "@hono/zod-openapi";
import { NextCursorField, PageQueryFields } from "../../lib/paging.ts";
import { RUN_MODES, RUN_STATES } from "../../../schema/broker.ts";
import { QueryLimit, queryNumber } from "../../lib/names.ts";
import { BrokerEvent } from "../schema.ts";
import { LIMIT_NAMES, RUN_FIELDS, RUN_MESSAGE_TYPES, STOP_CONDITIONS } from "../../../schema/enums.ts";

// In schema/enums.ts, which the CLI loads (without drizzle or zod) to check option values.
export { LIMIT_NAMES, RUN_FIELDS, RUN_MESSAGE_TYPES, STOP_CONDITIONS };

export type LimitName = (typeof LIMIT_NAMES)[number];

export type StopCondition = (typeof STOP_CONDITIONS)[number];

/**
 * Conditions every run has whether or not the owner listed them: a budget or the owner's kill
 * switch must always be able to stop a run, so they are added to the stored contract.
 */
export const MANDATORY_STOP_CONDITIONS: readonly StopCondition[] = ["runtime_or_budget_limit", "owner_kill_switch"];

/** Why a run stopped: a limit's name, expiry, or a stop condition other than the budget one. */
export const STOP_REASONS = [
  "expired",
  ...LIMIT_NAMES,
  "missing_approval",
  "ambiguous_or_unknown_recipient",
  "owner_input_required",
  "owner_kill_switch",
] as const;
export type StopReason = (typeof STOP_REASONS)[number];

/** The stop condition each stop reason belongs to (every limit and expiry count as budget). */
export function conditionOf(reason: StopReason): StopCondition {
  if (reason === "expired" || (LIMIT_NAMES as readonly string[]).includes(reason)) return "runtime_or_budget_limit";
  return reason as StopCondition;
}

/** What a run's mode allows: who approves and whether anything may ever be sent for it. */
export const APPROVAL_POLICIES = ["owner_approves_each_send", "never_send", "owner_or_scoped_token"] as const;

const Short = (max: number) => z.string().min(1).max(max);
const LimitValue = z.number().int().min(0).max(1_000_000);

/** One optional integer per limit name; used for limits and for the schema's min/max bounds. */
const limitShape = Object.fromEntries(LIMIT_NAMES.map((n) => [n, LimitValue.optional()])) as Record<LimitName, z.ZodOptional<typeof LimitValue>>;
export const Limits = z.object(limitShape).strict().openapi("BrokerRunLimits");

export const ValidationSchema = z
  .object({
    require_fields: z.array(z.enum(RUN_FIELDS)).max(RUN_FIELDS.length).optional().default([]),
    require_stop_conditions: z.array(z.enum(STOP_CONDITIONS)).max(STOP_CONDITIONS.length).optional().default([]),
    limit_min: Limits.optional().default({}).openapi({ description: "Each named limit must be set and at least this" }),
    limit_max: Limits.optional().default({}).openapi({ description: "Each named limit must be set and at most this" }),
  })
  .strict()
  .openapi("BrokerRunValidation");

export const CreateRunBody = z
  .object({
    mode: z.enum(RUN_MODES),
    objective: Short(2000),
    project: Short(500).optional(),
    target_session: Short(100).optional().openapi({ description: "Only requests addressed to this session (name or id)" }),
    owner_session_id: Short(100).optional().openapi({ description: "The owner's session, recorded on the contract" }),
    message_type: z.enum(RUN_MESSAGE_TYPES).optional().default("request"),
    expires_at: z.iso.datetime({ offset: true }).optional().openapi({ description: "ISO-8601; the run stops at this instant" }),
    limits: Limits.optional().default({}),
    stop_conditions: z.array(z.enum(STOP_CONDITIONS)).max(STOP_CONDITIONS.length).optional().default([]),
    validation: ValidationSchema.optional(),
  })
  .strict()
  .openapi("CreateBrokerRun");

export const RunIdParam = z.object({ id: Short(100).openapi({ param: { name: "id", in: "path" } }) });

export const StopRunBody = z
  .object({ reason: Short(2000) })
  .strict()
  .openapi("StopBrokerRun");

export const ReleaseLeaseBody = z
  .object({ holder: Short(200).openapi({ description: "The lease owner id that holds the lease" }) })
  .strict()
  .openapi("ReleaseBrokerRunLease");

export const RunListQuery = z.object({
  state: z
    .enum([...RUN_STATES, "all"])
    .optional()
    .default("all"),
  limit: QueryLimit(500, 100),
  cursor: PageQueryFields.cursor,
});

export const RunEventsQuery = z.object({
  after_id: queryNumber(z.number().int().min(1))
    .optional()
    .openapi({ description: "Only events with a larger id: the older way to page (pass next_after_id), kept for existing clients; not with cursor" }),
  limit: QueryLimit(1000, 200).openapi({ description: "Events per page (default 200, at most 1000)" }),
  cursor: PageQueryFields.cursor,
});

const Counters = z.object({
  requests_total: z.number().int(),
  drafts_total: z.number().int(),
  sends_total: z.number().int(),
  errors_total: z.number().int(),
  consecutive_errors: z.number().int(),
  duplicate_drafts: z.number().int(),
});

export const BrokerRun = z
  .object({
    id: z.string(),
    mode: z.enum(RUN_MODES),
    state: z.enum(RUN_STATES),
    objective: z.string(),
    project: z.string().nullable(),
    target_session: z.string().nullable(),
    owner_session_id: z.string().nullable(),
    message_type: z.string().nullable(),
    expires_at: z.string().nullable(),
    expired: z.boolean(),
    approval_policy: z.object({
      policy: z.enum(APPROVAL_POLICIES),
      sends_allowed: z.boolean().openapi({ description: "False when nothing may ever be sent for this run" }),
      daemon_may_approve: z.literal(false),
      daemon_may_send: z.literal(false),
    }),
    limits: Limits,
    stop_conditions: z.array(z.enum(STOP_CONDITIONS)),
    validation: ValidationSchema,
    counters: Counters,
    lease: z.object({
      owner: z.string().nullable(),
      expires_at: z.string().nullable(),
      live: z.boolean().openapi({ description: "True while the owner's lease has not expired" }),
    }),
    last_activity_at: z.string().nullable(),
    started_at: z.string().nullable(),
    stopped_at: z.string().nullable(),
    stop_reason: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("BrokerRun");

export const RunResult = z.object({ run: BrokerRun, run_id: z.string(), event_id: z.number().int() }).openapi("BrokerRunResult");

export const RunStatus = z
  .object({
    run: BrokerRun,
    event_count: z.number().int().openapi({ description: "All events of the run; kept as events are written, so exact at any history" }),
    stop_condition_totals: z.record(z.string(), z.number().int()).openapi({ description: "Times each stop condition was met during ticks" }),
  })
  .openapi("BrokerRunStatus");

export const RunList = z.object({ runs: z.array(BrokerRun), count: z.number().int(), ...NextCursorField }).openapi("BrokerRunList");

export const RunEvents = z
  .object({
    run_id: z.string(),
    events: z.array(BrokerEvent),
    count: z.number().int(),
    ...NextCursorField,
    next_after_id: z
      .number()
      .int()
      .nullable()
      .openapi({ description: "The same position as next_cursor, for clients that page with after_id; null on the last page" }),
  })
  .openapi("BrokerRunEvents");

const DigestItem = z.object({
  advice_id: z.string(),
  state: z.string(),
  thread_id: z.string(),
  requester_session_id: z.string().nullable(),
  updated_at: z.string(),
});

export const RunDigest = z
  .object({
    run_id: z.string(),
    mode: z.enum(RUN_MODES),
    state: z.enum(RUN_STATES),
    objective: z.string(),
    started_at: z.string().nullable(),
    stopped_at: z.string().nullable(),
    stop_reason: z.string().nullable(),
    stop_detail: z.string().nullable().openapi({ description: "What the stop event recorded, in words" }),
    ticks: z.number().int().openapi({ description: "Ticks the run has had; kept as they are recorded, so exact at any history" }),
    counters: Counters,
    requests: z.object({ total: z.number().int(), by_state: z.record(z.string(), z.number().int()) }),
    waiting_for_approval: z
      .array(DigestItem)
      .openapi({ description: "The oldest 50 drafts waiting for approval; requests.by_state.draft_ready counts them all" }),
    owner_input_required: z
      .array(DigestItem)
      .openapi({ description: "The oldest 50 requests needing the owner; requests.by_state.owner_input_required counts them all" }),
    errors: z.array(z.object({ at: z.string(), kind: z.string(), message: z.string() })),
    conditions_met: z.record(z.string(), z.number().int()),
    summary: z.string(),
  })
  .openapi("BrokerRunDigest");
