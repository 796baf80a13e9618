import { ConsumedNotification, SupervisionContext } from "../supervision/context.ts";
import { NextCursorField, PageQueryFields } from "../lib/paging.ts";
import { z } from "@hono/zod-openapi";
import { EVENT_KINDS, WORKER_STATES } from "../../schema/observe.ts";
import { QueryBool, QueryLimit, queryNumber } from "../lib/names.ts";
import { PANE_PATTERNS } from "./classify.ts";
import { HOOK_STATES } from "../../schema/hooks.ts";
import { HookStateWire } from "../hooks/schema.ts";

export const CycleBody = z
  .object({
    busy_wait_seconds: z.number().int().min(1).max(86400).optional().openapi({ description: "Stuck-busy threshold for the pane classifier (default 90)" }),
  })
  .strict()
  .openapi("CycleOptions");

export const Classification = z
  .object({
    pattern: z.enum(PANE_PATTERNS).nullable(),
    matched: z.array(z.enum(PANE_PATTERNS)),
    evidence: z.string().nullable(),
    busy_indicator: z.boolean(),
    suppressed: z.array(z.object({ pattern: z.enum(PANE_PATTERNS), reason: z.string() })),
  })
  .openapi("Classification");

export const PaneSignal = z
  .object({ captured: z.boolean(), reason: z.string().nullable(), classifier: Classification.nullable(), notable_pattern: z.enum(PANE_PATTERNS).nullable() })
  .openapi("PaneSignal");

export const IngestResult = z
  .object({
    session: z.string(),
    path: z.string(),
    previous_offset: z.number().int(),
    new_offset: z.number().int(),
    file_size: z.number().int(),
    new_lines: z.number().int(),
    new_events: z.number().int(),
    skipped_lines: z.number().int(),
    partial_line_bytes: z.number().int(),
    skipping_line: z.boolean().openapi({
      description:
        "The cursor is inside a line longer than the ingest limit (16 MiB): it is being skipped, not buffered, and counts in skipped_lines once it ends",
    }),
    generation: z.number().int(),
    truncated: z.boolean(),
    rotated: z.boolean(),
    clock_skew_ms: z
      .number()
      .int()
      .openapi({ description: "Estimated offset of the agent host's clock from the server's (agent minus server); event times are corrected by it" }),
    warnings: z.array(z.string()),
  })
  .openapi("IngestResult");

export const CycleResult = z
  .object({
    kind: z.literal("session_cycle"),
    task: z.string(),
    worker_session: z.string(),
    manager_session: z.string(),
    binding_id: z.string(),
    ingest: z.object({
      new_events: z.number().int(),
      new_lines: z.number().int(),
      new_offset: z.number().int(),
      skipped_lines: z.number().int(),
      truncated: z.boolean(),
      rotated: z.boolean(),
      clock_skew_ms: z.number().int(),
      warnings: z.array(z.string()),
    }),
    state: z.enum(WORKER_STATES),
    last_state_event_at: z.string().nullable(),
    staleness_seconds: z.number().nullable(),
    last_event_subtype: z.string().nullable(),
    task_completed: z.boolean(),
    worker_alive: z.boolean().nullable().openapi({ description: "null when the pid cannot be checked from this host" }),
    manager_alive: z.boolean().nullable(),
    busy_wait_seconds: z.number().int(),
    notable_pane_pattern: z.enum(PANE_PATTERNS).nullable(),
    pane_signal: PaneSignal,
    hook_state: HookStateWire.nullable().openapi({ description: "The worker's state as its agent's hooks report it; null when no hook event has arrived" }),
    state_source: z.enum(["hook", "transcript"]).openapi({ description: "Where effective_state comes from" }),
    effective_state: z
      .enum([...new Set([...HOOK_STATES, ...WORKER_STATES])] as [string, ...string[]])
      .openapi({ description: "The hook state when the hooks are current, else the transcript's busy/idle/unknown" }),
    divergence: z.string().nullable().openapi({ description: "Why hooks and transcript/pane disagree (recorded; see divergences)" }),
    manager_context: z
      .object({ task_goal: z.string().nullable(), task_summary: z.string().nullable(), last_worker_message: z.string().nullable() })
      .extend(SupervisionContext.shape),
    consumed_dispatch_notifications: z.array(ConsumedNotification).openapi({ description: "Inbox items the manager consumed since the task's previous cycle" }),
    cycle_started_at: z.string(),
    cycle_completed_at: z.string(),
    cycle_id: z.number().int(),
    observed_at: z.string(),
  })
  .openapi("CycleResult");

export const TailQuery = z.object({
  limit: QueryLimit(1000, 20),
  subtype: z.string().max(100).optional(),
  kind: z.enum(EVENT_KINDS).optional(),
  include_content: QueryBool,
  cursor: PageQueryFields.cursor.openapi({ description: "The next_cursor of the previous page: older events" }),
});

export const TailEvent = z
  .object({
    id: z.number().int(),
    kind: z.enum(EVENT_KINDS),
    subtype: z.string(),
    event_at: z.string().nullable(),
    text: z.string().nullable(),
    tool: z.string().nullable(),
    offset: z.number().int(),
    generation: z.number().int(),
  })
  .openapi("TailEvent");

export const TailResult = z
  .object({ session: z.string(), events: z.array(TailEvent), count: z.number().int(), content_redacted: z.boolean(), ...NextCursorField })
  .openapi("TailResult");

export const DivergencesQuery = z.object({
  limit: QueryLimit(1000, 50),
  cursor: PageQueryFields.cursor.openapi({ description: "The next_cursor of the previous page: older cycles" }),
});

export const Divergence = z
  .object({
    cycle_id: z.number().int(),
    observed_at: z.string(),
    worker_state: z.enum(WORKER_STATES).nullable(),
    notable_pane_pattern: z.string().nullable(),
    hook_divergence: z.string().nullable().openapi({ description: "Set when the hooks disagreed with the transcript or pane in this cycle" }),
    evidence: z.string().nullable(),
    staleness_seconds: z.number().nullable(),
  })
  .openapi("Divergence");

export const DivergencesResult = z
  .object({ task: z.string(), divergences: z.array(Divergence), count: z.number().int(), ...NextCursorField })
  .openapi("DivergencesResult");

export const IdleCheckQuery = z.object({
  busy_wait_seconds: queryNumber(z.number().int().min(1).max(86400)).optional().default(90),
  ingest: z
    .enum(["true", "false", "1", "0"])
    .optional()
    .default("true")
    .transform((v) => v === "true" || v === "1"),
});

export const IdleCheckResult = z
  .object({
    session: z.string(),
    state: z.enum(WORKER_STATES),
    last_state_event_at: z.string().nullable(),
    staleness_seconds: z.number().nullable(),
    last_event_subtype: z.string().nullable(),
    task_completed: z.boolean(),
    alive: z.boolean().nullable(),
    fresh: z.boolean(),
    recommendation: z.enum(["wait", "review", "nudge", "inspect", "restart"]),
    reason: z.string(),
  })
  .openapi("IdleCheckResult");

export const ClassifyBody = z
  .object({
    text: z.string().max(200_000),
    state: z.enum(WORKER_STATES).optional(),
    staleness_seconds: z.number().min(0).optional(),
    recent_event_count: z.number().int().min(0).optional(),
    busy_wait_seconds: z.number().int().min(1).optional(),
  })
  .strict()
  .openapi("ClassifyInput");
