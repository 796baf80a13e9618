import { z } from "@hono/zod-openapi";
import { queryNumber } from "../lib/names.ts";
import { SESSION_ROLES, SESSION_STATES } from "../../schema/sessions.ts";

import { DEFAULT_DISPATCHER_ID } from "./defaults.ts";
import { DELIVERY_STATUSES } from "../../schema/enums.ts";

// In schema/enums.ts, which the CLI loads (without drizzle or zod) to check option values.
export { DELIVERY_STATUSES };

// In a module of its own so the CLI can name it without loading zod at start-up.
export { DEFAULT_DISPATCHER_ID };
/** Seconds after which an app heartbeat (or a dispatcher heartbeat) counts as stale. */
export const DEFAULT_STALE_AFTER_SECONDS = 180;

export const LEASE_STATES = ["fresh", "stale", "missing"] as const;
export const DISPATCH_STATES = ["fresh", "stale", "stopped", "missing"] as const;
export const NEXT_ACTION_KINDS = ["bind_task", "start_dispatch", "wake_manager", "wake_worker", "drain_manager_inbox", "drain_worker_inbox"] as const;
export const WAKE_ACTION_STATUSES = ["ready_to_send", "skipped_healthy", "blocked_missing_thread"] as const;

export type LeaseState = (typeof LEASE_STATES)[number];
export type WakeActionStatus = (typeof WAKE_ACTION_STATUSES)[number];

/** Receipt kinds this group writes into the events table. */
export const RECEIPT_KINDS = {
  heartbeat: "app_heartbeat",
  dispatchPlanned: "app_wakeup_dispatch_planned",
  deliveryRecorded: "app_wakeup_delivery_recorded",
} as const;

const DispatcherId = z.string().min(1).max(200);
const StaleAfter = z
  .number()
  .int()
  .min(0)
  .max(7 * 86400);

/** Query of the read-only loop routes; numbers arrive as strings. */
export const LoopQuery = z.object({
  dispatcher_id: DispatcherId.optional().openapi({ description: `Dispatcher whose heartbeat to check (default ${DEFAULT_DISPATCHER_ID})` }),
  stale_after_seconds: queryNumber(
    z
      .number()
      .int()
      .min(0)
      .max(7 * 86400),
  )
    .optional()
    .default(DEFAULT_STALE_AFTER_SECONDS)
    .openapi({ description: `Heartbeat age that counts as stale (default ${DEFAULT_STALE_AFTER_SECONDS})` }),
});

export const LoopOptionsBody = z
  .object({
    dispatcher_id: DispatcherId.optional(),
    stale_after_seconds: StaleAfter.optional(),
  })
  .strict()
  .openapi("AppLoopOptions");

export const AppHeartbeatBody = z
  .object({
    role: z.enum(SESSION_ROLES),
    dispatcher_id: DispatcherId.optional(),
    stale_after_seconds: StaleAfter.optional(),
  })
  .strict()
  .openapi("AppHeartbeat");

export const RecordDeliveryBody = z
  .object({
    role: z.enum(SESSION_ROLES),
    dispatch_receipt: z.string().min(1).max(100).openapi({ description: "event_id returned by app-wakeup-dispatch" }),
    delivery_status: z.enum(DELIVERY_STATUSES),
    thread_id: z.string().min(1).max(200).optional().openapi({ description: "Thread the prompt was sent to; required for sent" }),
    reason: z.string().min(1).max(2000).optional(),
  })
  .strict()
  .openapi("AppWakeupRecordDelivery");

const Thread = z.object({ id: z.string().nullable(), title: z.string().nullable() });

export const RoleStatus = z
  .object({
    role: z.enum(SESSION_ROLES),
    session_id: z.string().nullable(),
    name: z.string().nullable(),
    session_state: z.enum(SESSION_STATES).nullable(),
    thread: Thread,
    lease: z.object({
      state: z.enum(LEASE_STATES),
      last_heartbeat_at: z.string().nullable(),
      age_seconds: z.number().nullable(),
    }),
    pending_inbox: z.number().int().openapi({ description: "Unconsumed inbox items addressed to this session" }),
    poll_command: z.string().nullable().openapi({ description: "The recurring app-heartbeat command for this role" }),
    direct_inbox_command: z.string().nullable().openapi({ description: "Inbox poll for pull sessions; null for tmux (push) sessions" }),
  })
  .openapi("AppLoopRoleStatus");

export const DispatchStatus = z
  .object({
    dispatcher_id: z.string(),
    state: z.enum(DISPATCH_STATES),
    heartbeat_at: z.string().nullable(),
    age_seconds: z.number().nullable(),
    required: z.boolean().openapi({ description: "True when a dispatcher must be (re)started for the loop to move" }),
    command: z.string(),
  })
  .openapi("AppLoopDispatch");

export const NextAction = z
  .object({
    kind: z.enum(NEXT_ACTION_KINDS),
    role: z.enum(SESSION_ROLES).nullable(),
    reason: z.string(),
    command: z.string().nullable(),
  })
  .openapi("AppLoopNextAction");

export const AppLoopStatus = z
  .object({
    task: z.object({ id: z.string(), name: z.string(), state: z.string() }),
    binding_id: z.string().nullable(),
    ok: z.boolean(),
    checked_at: z.string(),
    stale_after_seconds: z.number(),
    manager: RoleStatus,
    worker: RoleStatus,
    dispatch: DispatchStatus,
    next_actions: z.array(NextAction),
  })
  .openapi("AppLoopStatus");

export const AppHeartbeatResult = z
  .object({
    task: z.object({ id: z.string(), name: z.string() }),
    role: z.enum(SESSION_ROLES),
    session_id: z.string(),
    heartbeat: z.object({ state: z.literal("recorded"), recorded_at: z.string() }),
    next: z.object({ poll_command: z.string().nullable(), direct_inbox_command: z.string().nullable(), pending_inbox: z.number().int() }),
    status: AppLoopStatus,
    event_id: z.string(),
  })
  .openapi("AppHeartbeatResult");

export const Wakeup = z
  .object({
    role: z.enum(SESSION_ROLES),
    needed: z.boolean(),
    reason: z.string(),
    session_id: z.string().nullable(),
    thread: Thread,
    prompt: z.string(),
  })
  .openapi("AppWakeup");

export const AppWakeupPlan = z
  .object({
    status: AppLoopStatus,
    dispatcher: DispatchStatus,
    wakeups: z.array(Wakeup),
  })
  .openapi("AppWakeupPlan");

export const WakeAction = z
  .object({
    role: z.enum(SESSION_ROLES),
    status: z.enum(WAKE_ACTION_STATUSES),
    send_ready: z.boolean(),
    reason: z.string(),
    blocker: z.string().nullable(),
    session_id: z.string().nullable(),
    thread: Thread,
    prompt: z.string().nullable(),
  })
  .openapi("AppWakeAction");

const Receipt = z.object({ event_id: z.string(), event_type: z.string(), recorded_at: z.string() });

export const AppWakeupDispatch = z
  .object({
    status: AppLoopStatus,
    dispatcher: DispatchStatus,
    actions: z.array(WakeAction),
    summary: z.object({
      ready_to_send: z.number().int(),
      skipped_healthy: z.number().int(),
      blocked: z.number().int(),
      dispatcher_required: z.boolean(),
    }),
    receipt: Receipt,
    event_id: z.string(),
  })
  .openapi("AppWakeupDispatch");

export const AppWakeupDelivery = z
  .object({
    task: z.object({ id: z.string(), name: z.string() }),
    delivery: z.object({
      role: z.enum(SESSION_ROLES),
      status: z.enum(DELIVERY_STATUSES),
      reason: z.string().nullable(),
      thread_id: z.string().nullable(),
      source_action_status: z.enum(WAKE_ACTION_STATUSES),
      source_send_ready: z.boolean(),
    }),
    source: z.object({ dispatch_receipt: z.string(), dispatch_required: z.boolean(), dispatcher: z.record(z.string(), z.unknown()) }),
    receipt: Receipt,
    event_id: z.string(),
  })
  .openapi("AppWakeupDelivery");

/**
 * What an app_wakeup_dispatch_planned receipt stores, read back when a delivery is recorded.
 * Parsed, not trusted: the row is plain JSON in the events table.
 */
export const StoredDispatchReceipt = z.object({
  binding_id: z.string().nullable().optional(),
  actions: z.array(
    z.object({
      role: z.string(),
      status: z.string(),
      send_ready: z.boolean(),
      thread_id: z.string().nullable(),
      thread_title: z.string().nullable(),
    }),
  ),
  dispatcher: z.record(z.string(), z.unknown()),
  summary: z.object({ dispatcher_required: z.boolean() }),
});
