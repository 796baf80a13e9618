import type { z } from "@hono/zod-openapi";
import { and, eq, isNull, sql } from "drizzle-orm";
import { inboxItems, type InboxItemRow } from "../../schema/dispatch.ts";
import { events } from "../../schema/events.ts";
import { auditInsert } from "../lib/audit.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { withWriteTransaction } from "../lib/db.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { NameParam } from "../sessions/schema.ts";
import { inboxHeader, inboxOwner, type InboxOwner, type InboxRef } from "./inbox-target.ts";
import { itemsToWire } from "./items.ts";
import { InboxWaiter, type WakeReason } from "./notifier.ts";
import { ConsumeBody, ConsumeResult, TaskNameParam } from "./schema.ts";

const PRINCIPALS = ["owner", "daemon", "session"] as const;
const CONSUME_DESCRIPTION =
  "Atomically takes the oldest unconsumed item (two consumers never get the same one), records consumed_by/consumed_at and a dispatch_inbox_consumed audit event. wait=true long-polls: it answers as soon as an item arrives; on timeout it answers HTTP 200 with item=null and timed_out=true. A session token may consume only its own inbox.";

export const sessionConsumeRoute = defineRoute(PRINCIPALS, {
  method: "post",
  path: "/sessions/{name}/inbox/consume",
  tags: ["dispatch"],
  summary: "Consume the next item of a session's inbox (optionally waiting for one)",
  description: `${CONSUME_DESCRIPTION} CLI: session-inbox NAME --consume-next [--wait].`,
  request: { params: NameParam, body: jsonBody(ConsumeBody) },
  responses: { 200: jsonResponse(ConsumeResult, "The consumed item, or item=null") },
});

/** The consume route of a task's bound manager's or worker's inbox. */
function taskConsumeRoute<R extends "manager" | "worker">(role: R) {
  return defineRoute(PRINCIPALS, {
    method: "post",
    path: `/tasks/{name}/${role}-inbox/consume`,
    tags: ["dispatch"],
    summary: `Consume the next inbox item of a task's bound ${role} (optionally waiting for one)`,
    description: `${CONSUME_DESCRIPTION} CLI: ${role}-inbox TASK --consume-next [--wait].`,
    request: { params: TaskNameParam, body: jsonBody(ConsumeBody) },
    responses: { 200: jsonResponse(ConsumeResult, "The consumed item, or item=null") },
  });
}

export const managerConsumeRoute = taskConsumeRoute("manager");
export const workerConsumeRoute = taskConsumeRoute("worker");

const pendingOf = (sessionId: string) => and(eq(inboxItems.targetSessionId, sessionId), isNull(inboxItems.consumedAt));

/**
 * Takes the oldest pending item with one conditional UPDATE … RETURNING inside a write
 * transaction, together with its audit event. A lock-free read first keeps idle polls from
 * taking the write lock.
 */
async function takeNext(ctx: Ctx, owner: InboxOwner, pollCount: number): Promise<{ row: InboxItemRow; eventId: string } | null> {
  const s = owner.session;
  const [any] = await ctx.db.select({ id: inboxItems.id }).from(inboxItems).where(pendingOf(s.id)).limit(1);
  if (!any) return null;
  return withWriteTransaction(ctx.db, async (tx) => {
    const nowMs = ctx.now().getTime();
    // rowid breaks created_at ties in insertion order and is part of the target index, so the
    // oldest item is read straight off the index even with 100k pending.
    const oldest = sql`(SELECT id FROM inbox_items WHERE target_session_id = ${s.id} AND consumed_at IS NULL ORDER BY created_at, rowid LIMIT 1)`;
    const [row] = await tx
      .update(inboxItems)
      .set({ consumedAt: nowMs, consumedBy: actorOf(ctx.auth) })
      .where(and(eq(inboxItems.id, oldest), isNull(inboxItems.consumedAt)))
      .returning();
    if (!row) return null;
    const ev = auditInsert(ctx, {
      kind: "dispatch_inbox_consumed",
      taskId: row.taskId,
      sessionId: s.id,
      payload: {
        notification_id: row.id,
        signal_type: row.signalType,
        delivery_mode: row.deliveryMode,
        target_session: s.name,
        target_role: s.role,
        poll_count: pollCount,
        consumed_by: row.consumedBy,
        correlation_id: row.correlationId,
        via_task: owner.task,
      },
    });
    await tx.insert(events).values(ev.row);
    return { row, eventId: ev.id };
  });
}

/** Consumes the next item; with `wait`, long-polls until one arrives or the timeout passes. */
export async function consumeNext(ctx: Ctx, ref: InboxRef, input: z.output<typeof ConsumeBody>, abort?: AbortSignal) {
  const owner = await inboxOwner(ctx, ref);
  const waiter = input.wait ? new InboxWaiter(ctx, owner.session.id, abort) : null;
  try {
    const deadline = performance.now() + input.timeout * 1000;
    let wokenBy: Exclude<WakeReason, "aborted"> | null = null;
    for (let polls = 1; ; polls++) {
      const taken = await takeNext(ctx, owner, polls);
      if (taken) {
        const [more] = await ctx.db.select({ id: inboxItems.id }).from(inboxItems).where(pendingOf(owner.session.id)).limit(1);
        const [item] = await itemsToWire(ctx, [taken.row]);
        return { ...inboxHeader(owner), item: item!, timed_out: false, has_more: !!more, poll_count: polls, woken_by: wokenBy, event_id: taken.eventId };
      }
      const empty = { ...inboxHeader(owner), item: null, timed_out: waiter !== null, has_more: false, poll_count: polls, woken_by: null, event_id: null };
      const remaining = deadline - performance.now();
      if (!waiter || remaining <= 0) return empty;
      const why = await waiter.wait(Math.min(input.interval * 1000, remaining));
      // The caller went away: consuming now would hand an item to nobody.
      if (why === "aborted") return empty;
      wokenBy = why;
    }
  } finally {
    waiter?.close();
  }
}
