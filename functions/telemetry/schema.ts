import { z } from "@hono/zod-openapi";
import { TELEMETRY_OUTCOMES, TELEMETRY_SOURCES } from "../../schema/telemetry.ts";
import { ApiError } from "../lib/errors.ts";
import { NextCursorField, PageQueryFields } from "../lib/paging.ts";
import { QueryBool } from "../lib/names.ts";

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** A duration like `90s`, `30m`, `2h` or `7d` in seconds, or a validation error naming `field`. */
export function parseWindow(text: string, field = "window"): number {
  const m = /^(\d{1,6})([smhd])$/.exec(text.trim());
  const seconds = m ? Number(m[1]) * UNITS[m[2]!]! : 0;
  if (!m || seconds < 1 || seconds > 366 * 86400) {
    throw new ApiError("VALIDATION_FAILED", `${field} '${text}' is not a duration`, {
      hint: "Write a number and a unit: 90s, 30m, 2h or 7d (at most 366d).",
      fields: [{ field, message: "not a duration" }],
    });
  }
  return seconds;
}

export const TelemetryEvent = z
  .object({
    id: z.number().int(),
    source: z.enum(TELEMETRY_SOURCES),
    kind: z.string(),
    task_id: z.string().nullable(),
    session_id: z.string().nullable(),
    run_id: z.string().nullable(),
    actor: z.string().nullable(),
    ref_id: z.string().nullable(),
    outcome: z.enum(TELEMETRY_OUTCOMES),
    summary: z.string().openapi({ description: "Names, states, ids and counts; never content" }),
    created_at: z.string(),
  })
  .openapi("TelemetryEvent");

export const TelemetryQuery = z.object({
  task: z.string().max(64).optional(),
  run: z.string().max(128).optional().openapi({ description: "A broker or loop run, a dispatcher, a patrol run" }),
  session: z.string().max(64).optional(),
  search: z.string().max(200).optional().openapi({ description: "Words to find (full-text, every word must match; a trailing * matches a prefix)" }),
  outcome: z.enum(TELEMETRY_OUTCOMES).optional(),
  ...PageQueryFields,
});

export const TelemetryCounts = z
  .object({
    total: z.number().int(),
    failed: z.number().int(),
    by_source: z.record(z.string(), z.object({ total: z.number().int(), failed: z.number().int() })),
    first_at: z.string().nullable(),
    last_at: z.string().nullable(),
  })
  .openapi("TelemetryCounts");

export const TelemetryList = z
  .object({ events: z.array(TelemetryEvent), count: z.number().int(), search: z.string().nullable(), ...NextCursorField })
  .openapi("TelemetryList");

export const SummaryQuery = z.object({ task: z.string().max(64).optional(), run: z.string().max(128).optional() });
export const TelemetrySummary = z
  .object({
    task: z.string().nullable(),
    run: z.string().nullable(),
    since: z.string().nullable().openapi({ description: "Without task or run: the start of the last day counted" }),
    counts: TelemetryCounts,
  })
  .openapi("TelemetrySummary");

export const FailuresQuery = z.object({
  task: z.string().max(64).optional(),
  run: z.string().max(128).optional(),
  active_only: QueryBool.openapi({ description: "Only failures of active tasks" }),
  window: z.string().max(16).optional().default("24h").openapi({ description: "How far back: 90s, 30m, 2h, 7d (default 24h)" }),
  ...PageQueryFields,
});

export const MetricsQuery = z.object({
  window: z.string().max(16).optional().default("24h").openapi({ description: "How far back: 90s, 30m, 2h, 7d (default 24h)" }),
});

export const SnapshotQuery = z.object({ task: z.string().max(64) });

const Obj = z.record(z.string(), z.unknown());
export const TelemetryTaskView = Obj.openapi("TelemetryTaskView");
export const TelemetryFailures = Obj.openapi("TelemetryFailures");
export const TelemetryMetrics = Obj.openapi("TelemetryMetrics");
export const TelemetrySnapshot = Obj.openapi("TelemetrySnapshot");
