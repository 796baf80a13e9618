import { and, asc, count, desc, eq, gt } from "drizzle-orm";
import { brokerEvents } from "../../schema/broker.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { decodeIntCursor, pageOf, SHOW_EMBED_LIMIT } from "../lib/paging.ts";

/** What a broker event is filed under; each has its own `(owner column, id)` index. */
export type BrokerEventOwner = "run" | "job" | "advice";

const OWNER_COLUMN = { run: brokerEvents.runId, job: brokerEvents.jobId, advice: brokerEvents.adviceId } as const;

// One run's, job's or request's list: a cursor of another would skip rows there, so it is refused.
const tagOf = (owner: BrokerEventOwner, id: string) => `broker/${owner}/${id}/events`;

/**
 * One page of the broker events of a run, job or advice request, oldest first, keyed on the
 * event id (it only grows, so events recorded during a walk land on a later page). `afterId` is
 * the older way to say where to start, kept for clients of the run events route; it may not be
 * given together with a cursor.
 */
export async function brokerEventsPage(ctx: Ctx, owner: BrokerEventOwner, id: string, q: { limit: number; cursor?: string; afterId?: number }) {
  // An empty cursor means the first page here as in every list (decodeCursor), so it does not clash with after_id.
  if (q.cursor && q.afterId !== undefined) {
    throw new ApiError("VALIDATION_FAILED", "give cursor or after_id, not both", {
      hint: "Page with cursor (the previous next_cursor); after_id is only kept for older clients.",
      fields: [{ field: "after_id", message: "not with cursor" }],
    });
  }
  const tag = tagOf(owner, id);
  const after = decodeIntCursor(q.cursor, 1, tag, 1)?.[0] ?? q.afterId;
  const column = OWNER_COLUMN[owner];
  const rows = await ctx.db
    .select()
    .from(brokerEvents)
    .where(and(eq(column, id), after === undefined ? undefined : gt(brokerEvents.id, after)))
    .orderBy(asc(brokerEvents.id))
    .limit(q.limit + 1);
  return pageOf(rows, q.limit, (r) => [r.id], tag);
}

/**
 * What a "show" embeds of an event history: the newest `SHOW_EMBED_LIMIT` events, oldest first,
 * and how many there are in all (the list route pages through every one of them).
 */
export async function newestBrokerEvents(
  ctx: Ctx,
  owner: BrokerEventOwner,
  id: string,
): Promise<{ events: (typeof brokerEvents.$inferSelect)[]; total: number }> {
  const column = OWNER_COLUMN[owner];
  const newest = await ctx.db.select().from(brokerEvents).where(eq(column, id)).orderBy(desc(brokerEvents.id)).limit(SHOW_EMBED_LIMIT);
  const [total] = newest.length < SHOW_EMBED_LIMIT ? [{ n: newest.length }] : await ctx.db.select({ n: count() }).from(brokerEvents).where(eq(column, id));
  return { events: newest.reverse(), total: total?.n ?? 0 };
}
