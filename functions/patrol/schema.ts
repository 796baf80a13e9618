import { z } from "@hono/zod-openapi";
import { HEALTH_KINDS, NOTIFICATION_RECIPIENTS, PATROL_RUN_STATES, PATROL_STEP_STATES } from "../../schema/patrol.ts";
import { NextCursorField, PageQueryFields } from "../lib/paging.ts";
import { STEP_IDS } from "./dag.ts";
import { NOTICE_STATES } from "../../schema/enums.ts";
import { PatrolConfig } from "./state.ts";

export const PatrolRunBody = z
  .object({
    step: z.enum(STEP_IDS).optional().openapi({ description: "Run only this step (its needs are taken as met)" }),
    apply: z.boolean().optional().default(false).openapi({ description: "Owner only: let orphan-check act per the orphan policy" }),
  })
  .strict()
  .openapi("PatrolRunRequest");

export const PatrolStep = z
  .object({
    step: z.enum(STEP_IDS),
    ordinal: z.number().int(),
    state: z.enum(PATROL_STEP_STATES),
    reason: z.string().nullable(),
    report: z.record(z.string(), z.unknown()).nullable(),
    started_at: z.string(),
    finished_at: z.string(),
    duration_ms: z.number().int(),
  })
  .openapi("PatrolStep");

export const PatrolRun = z
  .object({
    id: z.string(),
    trigger: z.string(),
    actor: z.string(),
    only_step: z.string().nullable(),
    apply: z.boolean(),
    state: z.enum(PATROL_RUN_STATES),
    steps_succeeded: z.number().int(),
    steps_failed: z.number().int(),
    steps_skipped: z.number().int(),
    error: z.string().nullable(),
    started_at: z.string(),
    finished_at: z.string().nullable(),
  })
  .openapi("PatrolRun");

export const PatrolRunDetail = z.object({ run: PatrolRun, run_id: z.string(), steps: z.array(PatrolStep) }).openapi("PatrolRunDetail");

export const PatrolRunList = z.object({ runs: z.array(PatrolRun), count: z.number().int(), ...NextCursorField }).openapi("PatrolRunList");

export const PatrolRunListQuery = z.object({ ...PageQueryFields });

export const RunIdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: "id", in: "path" } }),
});

export const HealthState = z
  .object({
    component: z.string(),
    kind: z.enum(HEALTH_KINDS),
    label: z.string(),
    unresponsive_cycles: z.number().int(),
    last_seen_healthy_at: z.string().nullable(),
    last_checked_at: z.string(),
    last_action: z.string().nullable(),
    last_action_at: z.string().nullable(),
    escalated_at: z.string().nullable(),
    signals: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi("HealthState");

export const PatrolStatus = z
  .object({
    running: z.boolean().openapi({ description: "False when the heartbeat is missing or older than heartbeat_stale_seconds" }),
    heartbeat_at: z.string().nullable(),
    heartbeat_age_seconds: z.number().int().nullable(),
    heartbeat_stale_seconds: z.number().int(),
    current_run_id: z.string().nullable(),
    current_step: z.string().nullable(),
    last_run: PatrolRun.nullable(),
    session: z.string().nullable().openapi({ description: "The patrol's own session (its inbox)" }),
    unhealthy: z.array(HealthState).openapi({ description: "Components with at least one unresponsive cycle, the 100 worst" }),
    unhealthy_total: z.number().int().openapi({ description: "How many components have at least one unresponsive cycle" }),
    owner_notices_pending: z.number().int(),
    problem: z.string().nullable().openapi({ description: "Why the patrol counts as not running, with what to do" }),
  })
  .openapi("PatrolStatus");

export const PatrolConfigResult = z
  .object({ config: z.record(z.string(), z.unknown()), defaults: z.record(z.string(), z.unknown()) })
  .openapi("PatrolConfigResult");

export const PatrolConfigBody = PatrolConfig.partial().strict().openapi("PatrolConfigUpdate");

export const Notification = z
  .object({
    id: z.string(),
    recipient: z.enum(NOTIFICATION_RECIPIENTS),
    target_session: z.string().nullable(),
    target_session_id: z.string().nullable(),
    kind: z.string(),
    subject: z.string(),
    body: z.string(),
    payload: z.record(z.string(), z.unknown()),
    task_id: z.string().nullable(),
    dedup_key: z.string(),
    created_at: z.string(),
    delivered_at: z.string().nullable(),
    inbox_item_id: z.string().nullable(),
    delivery_error: z.string().nullable(),
    acked_at: z.string().nullable(),
  })
  .openapi("Notification");

export const NoticeListQuery = z.object({
  state: z
    .enum([...NOTICE_STATES, "all"])
    .optional()
    .default("pending")
    .openapi({ description: "Owner notices by acknowledgement (default pending)" }),
  ...PageQueryFields,
});

export const NoticeList = z.object({ notices: z.array(Notification), count: z.number().int(), ...NextCursorField }).openapi("NoticeList");

export const NoticeAckResult = z.object({ notice: Notification, event_id: z.string() }).openapi("NoticeAckResult");
