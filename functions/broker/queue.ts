import type { z } from "@hono/zod-openapi";
import { and, asc, eq, inArray, sql } from "drizzle-orm";
import { adviceRequests, orchestratorJobs } from "../../schema/broker.ts";
import type { Ctx } from "../lib/ctx.ts";
import { decodeCursor, keysetAfter, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { QueueQuery, QueueResult } from "./schema.ts";
import { adviceToWire } from "./wire.ts";

export const queueRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/broker/advice",
  tags: ["broker"],
  summary: "The owner's approval queue: advice requests, oldest first",
  description: "state=open (default) lists everything not yet sent or rejected. CLI: broker queue [--state S].",
  request: { query: QueueQuery },
  responses: { 200: jsonResponse(QueueResult, "Advice requests") },
});

/** Lists advice requests with their job state, oldest first. */
export async function adviceQueue(ctx: Ctx, q: z.output<typeof QueueQuery>): Promise<z.infer<typeof QueueResult>> {
  // "open" is spelled with literals so the partial index of open advice serves it.
  const where =
    q.state === "all" ? undefined : q.state === "open" ? sql`${adviceRequests.state} NOT IN ('sent', 'rejected')` : eq(adviceRequests.state, q.state);
  const page = pageOf(
    await ctx.db
      .select()
      .from(adviceRequests)
      .where(and(where, keysetAfter([adviceRequests.createdAt, adviceRequests.id], decodeCursor(q.cursor, 2, "broker/queue"))))
      .orderBy(asc(adviceRequests.createdAt), asc(adviceRequests.id))
      .limit(q.limit + 1),
    q.limit,
    (r) => [r.createdAt, r.id],
    "broker/queue",
  );
  const rows = page.items;
  const jobs = rows.length
    ? await ctx.db
        .select({ id: orchestratorJobs.id, adviceId: orchestratorJobs.adviceId, state: orchestratorJobs.state })
        .from(orchestratorJobs)
        .where(
          inArray(
            orchestratorJobs.adviceId,
            rows.map((r) => r.id),
          ),
        )
    : [];
  const byAdvice = new Map(jobs.map((j) => [j.adviceId, j]));
  return { advice: rows.map((r) => adviceToWire(r, byAdvice.get(r.id))), count: rows.length, next_cursor: page.next_cursor };
}
