import type { z } from "@hono/zod-openapi";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { classifyPane } from "./classify.ts";
import { Classification, ClassifyBody } from "./schema.ts";

export const classifyRoute = defineRoute(["owner", "daemon", "runner", "session"], {
  method: "post",
  path: "/classify",
  tags: ["observe"],
  summary: "Run the pane classifier on text (debugging aid)",
  description: "CLI: classify --text TEXT.",
  request: { body: jsonBody(ClassifyBody) },
  responses: { 200: jsonResponse(Classification, "Classification") },
});

/** Classifies the given text with optional state context. */
export function classifyText(input: z.infer<typeof ClassifyBody>) {
  return classifyPane(input.text, {
    state: input.state,
    stalenessSeconds: input.staleness_seconds,
    recentEventCount: input.recent_event_count,
    busyWaitSeconds: input.busy_wait_seconds,
  });
}
