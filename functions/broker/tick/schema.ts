import { z } from "@hono/zod-openapi";
import { JOB_STATES } from "../../../schema/broker.ts";
import { BrokerRun, STOP_CONDITIONS, STOP_REASONS } from "../runs/schema.ts";

const Short = (max: number) => z.string().min(1).max(max);

/** Default lease a tick takes on a run; a daemon renews it every tick. */
export const DEFAULT_LEASE_SECONDS = 120;
/** Most messages ingested and jobs drafted in one tick, so one tick stays short. */
export const DEFAULT_TICK_BATCH = 50;

export const TickBody = z
  .object({
    run_id: Short(100).optional().openapi({ description: "Process this run: under its lease, scoped by its contract, within its limits" }),
    project: Short(500).optional().openapi({ description: "Only requests of this project (must match the run's project when both are set)" }),
    to_session: Short(100).optional().openapi({ description: "Only requests to this session (must match the run's target when both are set)" }),
    holder: Short(200).optional().openapi({ description: "Lease owner id (default: derived from the caller's token)" }),
    lease_seconds: z.number().int().min(1).max(3600).optional().default(DEFAULT_LEASE_SECONDS),
    release_lease: z
      .boolean()
      .optional()
      .default(false)
      .openapi({ description: "Give the lease back after this tick (one-shot ticks); daemons keep and renew it" }),
    batch: z
      .number()
      .int()
      .min(1)
      .max(500)
      .optional()
      .default(DEFAULT_TICK_BATCH)
      .openapi({ description: "Most messages ingested and jobs drafted in this tick" }),
  })
  .strict()
  .openapi("BrokerTick");

const ConditionMet = z.object({
  condition: z.enum(STOP_CONDITIONS),
  reason: z.string(),
  detail: z.string(),
  stopped: z.boolean(),
  advice_id: z.string().nullable(),
});

export const TickResult = z
  .object({
    run_id: z.string().nullable(),
    processed: z.boolean().openapi({ description: "False when the run was already stopped, so nothing was done" }),
    lease: z.object({ holder: z.string(), expires_at: z.string().nullable(), taken_over_from: z.string().nullable(), released: z.boolean() }).nullable(),
    candidates: z.number().int().openapi({ description: "Request messages found this tick" }),
    ingested: z.array(z.object({ message_id: z.string(), advice_id: z.string(), job_id: z.string() })),
    drafted: z.array(
      z.object({ job_id: z.string(), advice_id: z.string(), state: z.enum(JOB_STATES), policy_reason: z.string().nullable(), error: z.string().nullable() }),
    ),
    errors: z.array(z.object({ step: z.string(), message: z.string() })),
    conditions_met: z.array(ConditionMet),
    stopped: z
      .object({ reason: z.enum(STOP_REASONS), detail: z.string() })
      .nullable()
      .openapi({ description: "Set when this tick (or an earlier stop) ended the run" }),
    sends: z.literal(0).openapi({ description: "A tick never sends; sending is the owner's send-approved" }),
    run: BrokerRun.nullable(),
    event_id: z.number().int().nullable().openapi({ description: "The tick event (null when nothing was processed)" }),
  })
  .openapi("BrokerTickResult");
