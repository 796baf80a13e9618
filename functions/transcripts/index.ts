import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { captureRoute, captureTranscripts, listSegments, pruneRoute, pruneSegments, segmentsRoute, taskPruneRoute } from "./segments.ts";

const DEFAULT_PRUNE = { keep_latest: 5, dry_run: false };

/** Transcripts: capture deduplicated segments, show them (redacted), prune their content. */
export const transcriptsApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(captureRoute, async (c) =>
    c.json(await captureTranscripts(c.get("ctx"), c.req.valid("param").name, c.req.valid("json") ?? { role: "all", mode: "events" }), 200),
  )
  .openapi(segmentsRoute, async (c) => c.json(await listSegments(c.get("ctx"), c.req.valid("param").name, c.req.valid("query")), 200))
  .openapi(taskPruneRoute, async (c) => c.json(await pruneSegments(c.get("ctx"), c.req.valid("param").name, { ...DEFAULT_PRUNE, ...c.req.valid("json") }), 200))
  .openapi(pruneRoute, async (c) => c.json(await pruneSegments(c.get("ctx"), null, { ...DEFAULT_PRUNE, ...c.req.valid("json") }), 200));
