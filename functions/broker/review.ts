import type { z } from "@hono/zod-openapi";
import type { Ctx } from "../lib/ctx.ts";
import { SHOW_EMBED_LIMIT } from "../lib/paging.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { brokerEventsPage, newestBrokerEvents } from "./events-page.ts";
import { loadAdvice } from "./lookup.ts";
import { AdviceEvents, AdviceIdParam, EventsPageQuery, ReviewQuery, ReviewResult } from "./schema.ts";
import { adviceToWire, brokerEventToWire } from "./wire.ts";

export const reviewRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/broker/advice/{id}",
  tags: ["broker"],
  summary: "One advice request with its draft and newest events; with_context adds the exact stored context packet",
  description: `events holds the newest ${SHOW_EMBED_LIMIT} events, oldest first; events_total counts them all, and GET /broker/advice/{id}/events pages through every one. CLI: broker review ID [--with-context].`,
  request: { params: AdviceIdParam, query: ReviewQuery },
  responses: { 200: jsonResponse(ReviewResult, "Advice request") },
});

export const adviceEventsRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/broker/advice/{id}/events",
  tags: ["broker"],
  summary: "An advice request's broker events, oldest first, a page at a time",
  description:
    "Keyed on the event id, so events recorded during a walk land on a later page; a cursor of another request's list is refused. CLI: broker advice-events ID [--limit N] [--cursor C].",
  request: { params: AdviceIdParam, query: EventsPageQuery },
  responses: { 200: jsonResponse(AdviceEvents, "Events") },
});

/** An advice request for review, with its newest events; the context packet is returned exactly as stored. */
export async function reviewAdvice(ctx: Ctx, id: string, q: z.output<typeof ReviewQuery>): Promise<z.infer<typeof ReviewResult>> {
  const { advice, job } = await loadAdvice(ctx, id);
  const { events, total } = await newestBrokerEvents(ctx, "advice", id);
  return {
    advice: adviceToWire(advice, job),
    ...(q.with_context ? { context_packet: advice.contextPacket ?? null } : {}),
    events: events.map(brokerEventToWire),
    events_total: total,
  };
}

/** Lists an advice request's broker events in the order they happened, a page at a time. */
export async function listAdviceEvents(ctx: Ctx, id: string, q: z.output<typeof EventsPageQuery>): Promise<z.infer<typeof AdviceEvents>> {
  await loadAdvice(ctx, id);
  const page = await brokerEventsPage(ctx, "advice", id, q);
  return { advice_id: id, events: page.items.map(brokerEventToWire), count: page.items.length, next_cursor: page.next_cursor };
}
