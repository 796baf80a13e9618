import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { listTelemetry, telemetryRoute, telemetrySummary, telemetrySummaryRoute } from "./search.ts";
import {
  telemetryFailures,
  telemetryFailuresRoute,
  telemetryMetrics,
  telemetryMetricsRoute,
  telemetrySnapshot,
  telemetrySnapshotRoute,
  telemetryTask,
  telemetryTaskRoute,
} from "./views.ts";

/** Telemetry: one searchable stream of what happened, and triage views over it. */
export const telemetryApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(telemetryRoute, async (c) => c.json(await listTelemetry(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(telemetrySummaryRoute, async (c) => c.json(await telemetrySummary(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(telemetryTaskRoute, async (c) => c.json(await telemetryTask(c.get("ctx"), c.req.valid("param").name), 200))
  .openapi(telemetryFailuresRoute, async (c) => c.json(await telemetryFailures(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(telemetryMetricsRoute, async (c) => c.json(await telemetryMetrics(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(telemetrySnapshotRoute, async (c) => c.json(await telemetrySnapshot(c.get("ctx"), c.req.valid("query")), 200));
