import type { z } from "@hono/zod-openapi";
import type { Ctx } from "../../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../../lib/route.ts";
import { brokerEventsPage } from "../events-page.ts";
import { brokerEventToWire } from "../wire.ts";
import { RunEvents, RunEventsQuery, RunIdParam } from "./schema.ts";
import { runById } from "./wire.ts";

export const runEventsRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/broker/runs/{id}/events",
  tags: ["broker runs"],
  summary: "Broker events of a run, oldest first",
  description:
    "Lifecycle, lease, tick, stop-condition and advice events recorded against the run, keyed on the event id. Page with cursor (the previous next_cursor; a cursor of another run's list is refused). after_id (with next_after_id) is the older way to page, still accepted but not together with cursor. CLI: broker run-events RUN [--limit N] [--cursor C].",
  request: { params: RunIdParam, query: RunEventsQuery },
  responses: { 200: jsonResponse(RunEvents, "Events") },
});

/** Lists a run's broker events in the order they happened, a page at a time. */
export async function runEvents(ctx: Ctx, id: string, q: z.infer<typeof RunEventsQuery>) {
  await runById(ctx, id);
  const page = await brokerEventsPage(ctx, "run", id, { limit: q.limit, cursor: q.cursor, afterId: q.after_id });
  const more = page.next_cursor ? page.items[page.items.length - 1]!.id : null;
  return { run_id: id, events: page.items.map(brokerEventToWire), count: page.items.length, next_cursor: page.next_cursor, next_after_id: more };
}
