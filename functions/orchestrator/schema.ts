import { z } from "@hono/zod-openapi";
import { NextCursorField, PageQueryFields } from "../lib/paging.ts";
import { JOB_STATES } from "../../schema/broker.ts";
import { Advice, BrokerEvent } from "../broker/schema.ts";
import { QueryLimit } from "../lib/names.ts";
import { DRAFTERS } from "../../schema/enums.ts";

const Short = (max: number) => z.string().min(1).max(max);

export const Job = z
  .object({
    id: z.string(),
    advice_id: z.string(),
    state: z.enum(JOB_STATES),
    attempts: z.number().int(),
    max_attempts: z.number().int(),
    claimed_by: z.string().nullable(),
    claim_generation: z.number().int(),
    lease_expires_at: z.string().nullable(),
    last_error: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
    finished_at: z.string().nullable(),
  })
  .openapi("OrchestratorJob");

export const StatusResult = z
  .object({
    counts: z.object(Object.fromEntries(JOB_STATES.map((s) => [s, z.number().int()])) as Record<(typeof JOB_STATES)[number], z.ZodNumber>),
    total: z.number().int().openapi({ description: "Every job there is, finished ones included: the sum of counts, kept as jobs change state" }),
    oldest_queued_at: z.string().nullable(),
    expired_leases: z.number().int().openapi({ description: "Running jobs whose lease ran out: their processor died; the next pass retries or fails them" }),
  })
  .openapi("OrchestratorStatus");

export const JobsQuery = z.object({
  status: z
    .enum([...JOB_STATES, "all"])
    .optional()
    .default("all"),
  limit: QueryLimit(500, 100),
  cursor: PageQueryFields.cursor,
});

export const JobList = z.object({ jobs: z.array(Job), count: z.number().int(), ...NextCursorField }).openapi("OrchestratorJobList");

export const JobIdParam = z.object({ id: Short(100).openapi({ param: { name: "id", in: "path" } }) });

export const JobDetail = z
  .object({
    job: Job,
    advice: Advice,
    events: z.array(BrokerEvent).openapi({ description: "The job's newest events (at most 20), oldest first" }),
    events_total: z
      .number()
      .int()
      .openapi({ description: "How many events the job has; more than events holds: page them with GET /orchestrator/jobs/{id}/events" }),
  })
  .openapi("OrchestratorJobDetail");

export const JobEvents = z
  .object({ job_id: z.string(), events: z.array(BrokerEvent), count: z.number().int(), ...NextCursorField })
  .openapi("OrchestratorJobEvents");

export const WatchBody = z
  .object({
    once: z.literal(true).openapi({ description: "One pass over the claimable jobs; continuous processing is the broker daemon's tick" }),
    processor_id: Short(100).optional().openapi({ description: "Names this processor in claims (default: a new prc_… id)" }),
    lease_seconds: z.number().int().min(5).max(3600).optional().default(120),
    max_jobs: z.number().int().min(1).max(500).optional().default(50),
    drafter: z.enum(DRAFTERS).optional().default("auto").openapi({ description: "auto: the external drafter when configured, else built-in" }),
    run_id: Short(100)
      .optional()
      .openapi({ description: "Only jobs of advice requests attributed to this broker run. Without it, only jobs of requests that belong to no run" }),
  })
  .strict()
  .openapi("OrchestratorWatch");

export const ProcessedJob = z
  .object({
    job_id: z.string(),
    advice_id: z.string(),
    attempt: z.number().int(),
    state: z.enum(JOB_STATES).openapi({ description: "State the job finished in; running when the claim was lost to another processor" }),
    claim_lost: z.boolean(),
    policy_reason: z.string().nullable(),
    error: z.string().nullable(),
  })
  .openapi("ProcessedJob");

export const WatchResult = z
  .object({
    processor_id: z.string(),
    processed: z.array(ProcessedJob),
    exhausted: z.array(z.string()).openapi({ description: "Jobs failed because their lease expired on the last allowed attempt" }),
    count: z.number().int(),
  })
  .openapi("OrchestratorWatchResult");
