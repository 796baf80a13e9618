import { z } from "@hono/zod-openapi";
import { PageQueryFields, NextCursorField } from "../lib/paging.ts";
import { QueryBool, QueryLimit, queryNumber } from "../lib/names.ts";
import { REPLAY_FORMATS } from "../../schema/enums.ts";

// In schema/enums.ts, which the CLI loads (without drizzle or zod) to check option values.
export { REPLAY_FORMATS };

export const AuditQuery = z.object({
  include_content: QueryBool.openapi({ description: "Show message, prompt, pane and transcript content instead of redacting it" }),
  limit: QueryLimit(10000, 1000).openapi({ description: "Rows per section (default 1000, at most 10000)" }),
});

export const AuditEvent = z
  .object({
    id: z.string(),
    kind: z.string(),
    task_id: z.string().nullable(),
    session_id: z.string().nullable(),
    actor: z.string(),
    payload: z.record(z.string(), z.unknown()),
    created_at: z.string(),
  })
  .openapi("AuditEvent");

const Rows = z.array(z.record(z.string(), z.unknown()));

export const AuditResult = z
  .object({
    task: z.string(),
    task_id: z.string(),
    task_state: z.string(),
    events: z.array(AuditEvent),
    count: z.number().int().openapi({ description: "Rows in events" }),
    content_redacted: z.boolean(),
    truncated: z.array(z.string()).openapi({ description: "Sections that held more than limit rows" }),
    commands: Rows,
    command_attempts: Rows,
    manager_cycles: Rows,
    routed_notifications: Rows,
    correlation_chains: Rows,
    decisions: Rows,
    criteria: Rows,
    broker_actions: Rows,
    bindings: Rows,
    sessions: Rows,
    acknowledgements: Rows,
    handoffs: Rows,
    epilogue_runs: Rows,
    continuations: Rows,
    continuation_reviews: Rows,
    loop_runs: Rows,
    manager_configs: Rows,
    transcript_segments: Rows,
  })
  .openapi("AuditResult");

export const ReplayQuery = z.object({
  format: z.enum(REPLAY_FORMATS).optional().default("compact").openapi({ description: "full-transcript needs include_content=true" }),
  role: z.enum(["all", "worker", "manager"]).optional().default("all"),
  include_content: QueryBool.openapi({ description: "Show content instead of length markers" }),
  limit: queryNumber(z.number().int().min(1).max(5000)).optional().default(500).openapi({ description: "Entries per page (default 500, at most 5000)" }),
  cursor: PageQueryFields.cursor,
});

export const ReplayEntry = z
  .object({
    at: z.string(),
    source: z.enum(["cycle", "audit", "command", "inbox", "decision", "criterion", "broker", "transcript"]),
    id: z.string(),
    role: z.enum(["worker", "manager"]).nullable(),
    session: z.string().nullable(),
    summary: z.string(),
    detail: z.record(z.string(), z.unknown()),
  })
  .openapi("ReplayEntry");

export const ReplayResult = z
  .object({
    task: z.string(),
    format: z.enum(REPLAY_FORMATS),
    role: z.enum(["all", "worker", "manager"]),
    content_redacted: z.boolean(),
    entries: z.array(ReplayEntry),
    lines: z.array(z.string()).openapi({ description: "The entries rendered in the requested format" }),
    count: z.number().int(),
    ...NextCursorField,
  })
  .openapi("ReplayResult");
