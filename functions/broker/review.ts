import type { z } from "@hono/zod-openapi";
import { asc, eq } from "drizzle-orm";
import { brokerEvents } from "../../schema/broker.ts";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { loadAdvice } from "./lookup.ts";
import { AdviceIdParam, ReviewQuery, ReviewResult } from "./schema.ts";
import { adviceToWire, brokerEventToWire } from "./wire.ts";

export const reviewRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/broker/advice/{id}",
  tags: ["broker"],
  summary: "One advice request with its draft and events; with_context adds the exact stored context packet",
  description: "CLI: broker review ID [--with-context].",
  request: { params: AdviceIdParam, query: ReviewQuery },
  responses: { 200: jsonResponse(ReviewResult, "Advice request") },
});

/** An advice request for review; the context packet is returned exactly as stored. */
export async function reviewAdvice(ctx: Ctx, id: string, q: z.output<typeof ReviewQuery>): Promise<z.infer<typeof ReviewResult>> {
  const { advice, job } = await loadAdvice(ctx, id);
  const events = await ctx.db.select().from(brokerEvents).where(eq(brokerEvents.adviceId, id)).orderBy(asc(brokerEvents.id));
  return {
    advice: adviceToWire(advice, job),
    ...(q.with_context ? { context_packet: advice.contextPacket ?? null } : {}),
    events: events.map(brokerEventToWire),
  };
}
