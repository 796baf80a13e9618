import type { z } from "@hono/zod-openapi";
import { and, count, eq, isNull, sql } from "drizzle-orm";
import { inboxItems } from "../../schema/messages.ts";
import type { Ctx } from "../lib/ctx.ts";
import type { RouteOptions } from "../lib/route.ts";
import { decodeTypedCursor, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { NameParam } from "../sessions/schema.ts";
import { inboxHeader, inboxOwner, itemNames, namesCarried, type InboxRef } from "./inbox-target.ts";
import { itemsToWire } from "./items.ts";
import { recheckMs, type WakeReason } from "./notifier.ts";
import { InboxList, InboxListQuery, MAX_WAIT_SECONDS, TaskNameParam } from "./schema.ts";

const PRINCIPALS = ["owner", "daemon", "session"] as const;
/** Inbox reads may wait up to their own timeout beyond the request deadline; a wait is charged to the rate limit by the handler. */
const LONG_POLL: RouteOptions = { deadline: { longPollSeconds: MAX_WAIT_SECONDS } };
const LIST_DESCRIPTION =
  "Unconsumed items, oldest first, with the pending count. wait=true long-polls until at least one item is pending (or timeout seconds pass: timed_out=true, HTTP 200). A session token may read only its own inbox.";

export const sessionInboxRoute = defineRoute(
  PRINCIPALS,
  {
    method: "get",
    path: "/sessions/{name}/inbox",
    tags: ["dispatch"],
    summary: "List a session's pending inbox items",
    description: `${LIST_DESCRIPTION} CLI: session-inbox NAME.`,
    request: { params: NameParam, query: InboxListQuery },
    responses: { 200: jsonResponse(InboxList, "Inbox") },
  },
  LONG_POLL,
);

/** The list route of a task's bound manager's or worker's inbox. */
function taskInboxListRoute<R extends "manager" | "worker">(role: R) {
  return defineRoute(
    PRINCIPALS,
    {
      method: "get",
      path: `/tasks/{name}/${role}-inbox`,
      tags: ["dispatch"],
      summary: `List the pending inbox items of a task's bound ${role}`,
      description: `${LIST_DESCRIPTION} CLI: ${role}-inbox TASK.`,
      request: { params: TaskNameParam, query: InboxListQuery },
      responses: { 200: jsonResponse(InboxList, "Inbox") },
    },
    LONG_POLL,
  );
}

export const managerInboxRoute = taskInboxListRoute("manager");
export const workerInboxRoute = taskInboxListRoute("worker");

/** Lists pending items; with `wait`, first waits until there is at least one. */
export async function listInbox(ctx: Ctx, ref: InboxRef, q: z.output<typeof InboxListQuery>, abort?: AbortSignal) {
  const owner = await inboxOwner(ctx, ref);
  const pendingWhere = and(eq(inboxItems.targetSessionId, owner.session.id), isNull(inboxItems.consumedAt));
  const anyPending = async () => (await ctx.db.select({ id: inboxItems.id }).from(inboxItems).where(pendingWhere).limit(1)).length > 0;
  let polls = 1;
  let wokenBy: WakeReason | null = null;
  let timedOut = false;
  if (q.wait && ctx.notifier) {
    // Watchers only read, so every one of them is woken by a new item.
    const waiter = ctx.notifier.watch(owner.session.id, abort);
    try {
      const deadline = performance.now() + q.timeout * 1000;
      while (!(await anyPending())) {
        const remaining = deadline - performance.now();
        if (remaining <= 0 || wokenBy === "aborted") {
          timedOut = true;
          break;
        }
        wokenBy = await waiter.next(Math.min(recheckMs(ctx, q.interval), remaining));
        polls++;
      }
    } finally {
      waiter.leave();
    }
  }
  // Oldest pending first, in the (target, consumed_at, created_at) index's order; rowid breaks ties.
  // The pending total rides along as a scalar subquery: one round trip for the page and its count.
  const after = decodeTypedCursor(q.cursor, ["int", "int"], "messages/inbox-list");
  const keyed = await ctx.db
    .select({
      item: inboxItems,
      rid: sql<number>`${inboxItems}.rowid`,
      total: sql<number>`(SELECT count(*) FROM ${inboxItems} WHERE ${pendingWhere})`.mapWith(Number),
      ...itemNames,
    })
    .from(inboxItems)
    .where(and(pendingWhere, after ? sql`(${inboxItems.createdAt}, ${inboxItems}.rowid) > (${after[0]}, ${after[1]})` : undefined))
    .orderBy(inboxItems.createdAt, sql`${inboxItems}.rowid`)
    .limit(q.limit + 1);
  const page = pageOf(keyed, q.limit, (r) => [r.item.createdAt, r.rid], "messages/inbox-list");
  const rows = page.items.map((r) => r.item);
  const names = namesCarried(page.items);
  // With no row on this page (an empty inbox, or a cursor past the end) the total needs its own read.
  const total = keyed[0]?.total ?? (after ? ((await ctx.db.select({ n: count() }).from(inboxItems).where(pendingWhere))[0]?.n ?? 0) : 0);
  return {
    ...inboxHeader(owner),
    pending: total,
    items: await itemsToWire(ctx, rows, { ...names.sessions, [owner.session.id]: owner.session.name }, names.tasks),
    count: rows.length,
    timed_out: timedOut,
    poll_count: polls,
    woken_by: wokenBy === "aborted" ? null : wokenBy,
    next_cursor: page.next_cursor,
  };
}
