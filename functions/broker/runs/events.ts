import type { z } from "@hono/zod-openapi";
import { and, asc, eq, gt } from "drizzle-orm";
import { brokerEvents } from "../../../schema/broker.ts";
import type { Ctx } from "../../lib/ctx.ts";
import { pageOf } from "../../lib/paging.ts";
import { defineRoute, jsonResponse } from "../../lib/route.ts";
import { brokerEventToWire } from "../wire.ts";
import { RunEvents, RunEventsQuery, RunIdParam } from "./schema.ts";
import { runById } from "./wire.ts";

export const runEventsRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/broker/runs/{id}/events",
  tags: ["broker runs"],
  summary: "Broker events of a run, oldest first",
  description: "Lifecycle, lease, tick, stop-condition and advice events recorded against the run. Page with after_id. CLI: broker run-events RUN.",
  request: { params: RunIdParam, query: RunEventsQuery },
  responses: { 200: jsonResponse(RunEvents, "Events") },
});

/** Lists a run's broker events in the order they happened. */
export async function runEvents(ctx: Ctx, id: string, q: z.infer<typeof RunEventsQuery>) {
  await runById(ctx, id);
  const rows = await ctx.db
    .select()
    .from(brokerEvents)
    .where(and(eq(brokerEvents.runId, id), q.after_id === undefined ? undefined : gt(brokerEvents.id, q.after_id)))
    .orderBy(asc(brokerEvents.id))
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.id], "broker/runs/events");
  const more = page.next_cursor ? page.items[page.items.length - 1]!.id : null;
  return { run_id: id, events: page.items.map(brokerEventToWire), count: page.items.length, next_after_id: more };
}
