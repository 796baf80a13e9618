import type { z } from "@hono/zod-openapi";
import { and, eq, isNull, type SQL, sql } from "drizzle-orm";
import { idempotencyKeys } from "../../schema/auth.ts";
import { events } from "../../schema/events.ts";
import { inboxItems } from "../../schema/messages.ts";
import { actorOf, type Ctx, type KeyScope } from "../lib/ctx.ts";
import { batchWithKey, keyInProgress, keyTaken } from "../lib/idempotency.ts";
import type { RouteOptions } from "../lib/route.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { NameParam } from "../sessions/schema.ts";
import {
  inboxHeader,
  inboxOwner,
  inboxOwnerAndOldest,
  type InboxOwner,
  type InboxRef,
  itemNames,
  namesCarried,
  type OldestItem,
  oldestPending,
} from "./inbox-target.ts";
import { itemsToWire } from "./items.ts";
import { recheckMs, type WakeReason } from "./notifier.ts";
import { ConsumeBody, ConsumeResult, MAX_WAIT_SECONDS, TaskNameParam } from "./schema.ts";

// Not the daemon: an item it consumed would count as read and never reach the session.
const PRINCIPALS = ["owner", "session"] as const;
/**
 * Inbox reads may wait up to their own timeout beyond the request deadline; a wait is charged to
 * the rate limit by the handler. Atomic: a keyed consume stores its answer with its commit.
 */
const LONG_POLL: RouteOptions = { deadline: { longPollSeconds: MAX_WAIT_SECONDS }, idempotency: "atomic" };
const CONSUME_DESCRIPTION =
  "Atomically takes the oldest unconsumed item (two consumers never get the same one), records consumed_by/consumed_at and a dispatch_inbox_consumed audit event. wait=true long-polls: it answers as soon as an item arrives; on timeout it answers HTTP 200 with item=null and timed_out=true. A session token may consume only its own inbox. With an Idempotency-Key the answer is stored with the consume: a retry, even after a crash, gets the same item again, never the next one.";

export const sessionConsumeRoute = defineRoute(
  PRINCIPALS,
  {
    method: "post",
    path: "/sessions/{name}/inbox/consume",
    tags: ["dispatch"],
    summary: "Consume the next item of a session's inbox (optionally waiting for one)",
    description: `${CONSUME_DESCRIPTION} CLI: session-inbox NAME --consume-next [--wait].`,
    request: { params: NameParam, body: jsonBody(ConsumeBody) },
    responses: { 200: jsonResponse(ConsumeResult, "The consumed item, or item=null") },
  },
  LONG_POLL,
);

/** The consume route of a task's bound manager's or worker's inbox. */
function taskConsumeRoute<R extends "manager" | "worker">(role: R) {
  return defineRoute(
    PRINCIPALS,
    {
      method: "post",
      path: `/tasks/{name}/${role}-inbox/consume`,
      tags: ["dispatch"],
      summary: `Consume the next inbox item of a task's bound ${role} (optionally waiting for one)`,
      description: `${CONSUME_DESCRIPTION} CLI: ${role}-inbox TASK --consume-next [--wait].`,
      request: { params: TaskNameParam, body: jsonBody(ConsumeBody) },
      responses: { 200: jsonResponse(ConsumeResult, "The consumed item, or item=null") },
    },
    LONG_POLL,
  );
}

export const managerConsumeRoute = taskConsumeRoute("manager");
export const workerConsumeRoute = taskConsumeRoute("worker");

const pendingOf = (sessionId: string) => and(eq(inboxItems.targetSessionId, sessionId), isNull(inboxItems.consumedAt));

/** The answer of a consume that took `item`, built by the caller that knows the poll's state. */
type Answer = (item: WireItem, hasMore: boolean, eventId: string) => ConsumeAnswer;
type WireItem = Awaited<ReturnType<typeof itemsToWire>>[number];
type ConsumeAnswer = z.output<typeof ConsumeResult>;
/** What one check of the inbox found: an answer, nothing pending, or a lost race to retry at once. */
type Taken = { body: ConsumeAnswer; hasMore: boolean } | null | "again";

/** Who an item consumed by this request says consumed it. */
function consumerOf(ctx: Ctx, owner: InboxOwner): { actor: string; consumedBy: string } {
  const actor = actorOf(ctx.auth);
  // The owner may consume for a session; the item then says so instead of passing as the session.
  return { actor, consumedBy: ctx.auth.kind === "session" ? actor : `${actor} for session:${owner.session.id}` };
}

/** The dispatch_inbox_consumed event of the item `which` selects, written only if it selects one. */
function consumedEvent(ctx: Ctx, owner: InboxOwner, pollCount: number, eventId: string, nowMs: number, which: SQL) {
  const s = owner.session;
  const { actor, consumedBy } = consumerOf(ctx, owner);
  return ctx.db.run(sql`INSERT INTO ${events} (id, kind, task_id, session_id, actor, payload_json, created_at)
      SELECT ${eventId}, 'dispatch_inbox_consumed', task_id, target_session_id, ${actor},
        json_object('notification_id', id, 'signal_type', signal_type, 'delivery_mode', delivery_mode,
          'target_session', ${s.name}, 'target_role', ${s.role}, 'poll_count', ${pollCount},
          'consumed_by', ${consumedBy}, 'correlation_id', correlation_id, 'via_task', ${owner.task}),
        ${nowMs}
      FROM ${inboxItems} WHERE ${which}`);
}

/**
 * Takes the oldest pending item in one batch (one write transaction, one round trip): the
 * audit event is written from the oldest pending row, then a conditional UPDATE … WHERE
 * consumed_at IS NULL … RETURNING consumes that same row (nothing can change between the two
 * inside the write lock, so they name the same item), then whether more is pending is read.
 * Two consumers never both get an item: the second's batch sees it consumed and takes the next.
 * A batch, not an interactive transaction: two interactive write transactions open at once in
 * one process block each other for the whole busy timeout.
 */
async function takeNext(ctx: Ctx, owner: InboxOwner, pollCount: number, answer: Answer): Promise<Taken> {
  const s = owner.session;
  const nowMs = ctx.now().getTime();
  const { consumedBy } = consumerOf(ctx, owner);
  const eventId = ctx.newId("evt");
  // rowid breaks created_at ties in insertion order and is part of the target index, so the
  // oldest item is read straight off the index even with 100k pending.
  const oldest = sql`(SELECT id FROM ${inboxItems} WHERE target_session_id = ${s.id} AND consumed_at IS NULL ORDER BY created_at, rowid LIMIT 1)`;
  const [, updated, more] = await ctx.db.batch([
    consumedEvent(ctx, owner, pollCount, eventId, nowMs, sql`id = ${oldest}`),
    ctx.db
      .update(inboxItems)
      .set({ consumedAt: nowMs, consumedBy })
      .where(and(sql`${inboxItems.id} = ${oldest}`, isNull(inboxItems.consumedAt)))
      // The item's names come back with it, so its answer needs no read of its own.
      .returning({ item: inboxItems, ...itemNames }),
    ctx.db.select({ id: inboxItems.id }).from(inboxItems).where(pendingOf(s.id)).limit(1),
  ]);
  const taken = updated[0];
  if (!taken) return null;
  const names = namesCarried([taken]);
  const [item] = await itemsToWire(ctx, [taken.item], { ...names.sessions, [s.id]: s.name }, names.tasks);
  return { body: answer(item!, more.length > 0, eventId), hasMore: more.length > 0 };
}

/**
 * takeNext for a request with an Idempotency-Key: the answer is stored with the consume, in the
 * same commit, so a retry after a crash replays the item this request took instead of taking
 * the next one (the first would be consumed and delivered to nobody). The answer has to exist
 * before that batch, so the oldest item is read first and the batch consumes exactly that row,
 * if it is still pending and unchanged and the key is still unused; the event decides, and the
 * update and the stored answer follow it. A lost race tries again with the next item, unless a
 * duplicate of this request won, whose answer the idempotency layer then replays. `read` is the
 * oldest item when the caller read it with the inbox's owner (the first check).
 */
async function takeNextKeyed(ctx: Ctx, owner: InboxOwner, pollCount: number, answer: Answer, scope: KeyScope, read?: OldestItem | null): Promise<Taken> {
  const s = owner.session;
  const found = read === undefined ? (await oldestPending(ctx, s.id))[0] : read;
  if (!found) {
    // A duplicate of this request that waited beside it may have taken the item this one was
    // woken for: then its answer is this one's, now rather than at the end of the wait.
    if (read === undefined && (await keyTaken(ctx, scope))) throw keyInProgress();
    return null;
  }
  const candidate = found.item;
  const nowMs = ctx.now().getTime();
  const { consumedBy } = consumerOf(ctx, owner);
  const eventId = ctx.newId("evt");
  // The names came with the item, so building its answer reads nothing more.
  const [item] = await itemsToWire(
    ctx,
    [{ ...candidate, consumedAt: nowMs, consumedBy }],
    { [s.id]: s.name, ...(candidate.sourceSessionId && found.sourceName ? { [candidate.sourceSessionId]: found.sourceName } : {}) },
    candidate.taskId && found.taskName ? { [candidate.taskId]: found.taskName } : {},
  );
  const body = answer(item!, false, eventId);
  const unchanged = sql`id = ${candidate.id} AND consumed_at IS NULL AND delivery_mode = ${candidate.deliveryMode} AND delivered_at IS ${candidate.deliveredAt}
    AND NOT EXISTS (SELECT 1 FROM ${idempotencyKeys} WHERE principal = ${scope.principal} AND key = ${scope.key})`;
  const won = sql`EXISTS (SELECT 1 FROM ${events} WHERE id = ${eventId})`;
  const pending = sql`EXISTS (SELECT 1 FROM ${inboxItems} WHERE target_session_id = ${s.id} AND consumed_at IS NULL)`;
  const [, updated, more] = await batchWithKey(
    ctx,
    [
      consumedEvent(ctx, owner, pollCount, eventId, nowMs, unchanged),
      ctx.db
        .update(inboxItems)
        .set({ consumedAt: nowMs, consumedBy })
        .where(and(eq(inboxItems.id, candidate.id), won))
        .returning({ id: inboxItems.id }),
      ctx.db.select({ id: inboxItems.id }).from(inboxItems).where(pendingOf(s.id)).limit(1),
    ],
    { body, status: 200, guard: won, fill: { paths: ["$.has_more"], value: sql`json(CASE WHEN ${pending} THEN 'true' ELSE 'false' END)` } },
  );
  if (!updated.length) {
    if (await keyTaken(ctx, scope)) throw keyInProgress();
    return "again";
  }
  body.has_more = more.length > 0;
  return { body, hasMore: body.has_more };
}

/**
 * Consumes the next item; with `wait`, long-polls until one arrives or the timeout passes.
 * Waiting consumers of one inbox in this process form a line (lib/notifier.ts): only the head
 * checks the database, so a new item wakes one consumer and the others make no query, let alone
 * a losing claim. The head leaving hands its turn to the next, which checks at once.
 */
export async function consumeNext(ctx: Ctx, ref: InboxRef, input: z.output<typeof ConsumeBody>, abort?: AbortSignal) {
  // A key taken over from a dead process's pending claim is finished the pending way instead
  // (lib/idempotency.ts settlePrior): its row exists, so the atomic consume could never commit.
  const scope = ctx.idempotency && !ctx.idempotency.recorded && ctx.idempotency.mode === "atomic" ? ctx.idempotency : null;
  // Keyed, the first check's item is read with the owner: the key's answer must exist before the
  // consume's batch, and this keeps the request within three round trips.
  let read: OldestItem | null | undefined;
  let owner: InboxOwner;
  if (scope) {
    const found = await inboxOwnerAndOldest(ctx, ref);
    owner = found.owner;
    read = found.oldest ?? null;
  } else owner = await inboxOwner(ctx, ref);
  const turn = input.wait && ctx.notifier ? ctx.notifier.consumer(owner.session.id, abort) : null;
  let drained = false;
  try {
    const deadline = performance.now() + input.timeout * 1000;
    const interval = recheckMs(ctx, input.interval);
    let wokenBy: Exclude<WakeReason, "aborted"> | null = null;
    let polls = 0;
    const empty = () => ({ ...inboxHeader(owner), item: null, timed_out: input.wait, has_more: false, poll_count: polls, woken_by: null, event_id: null });
    for (;;) {
      // The read made with the owner stands only for the first check: one made behind the head is
      // stale by the time this consumer is handed the turn.
      const firstRead = read;
      read = undefined;
      if (!turn || turn.isHead) {
        polls++;
        const answer: Answer = (item, hasMore, eventId) => ({
          ...inboxHeader(owner),
          item,
          timed_out: false,
          has_more: hasMore,
          poll_count: polls,
          woken_by: wokenBy,
          event_id: eventId,
        });
        const taken = scope ? await takeNextKeyed(ctx, owner, polls, answer, scope, firstRead) : await takeNext(ctx, owner, polls, answer);
        if (taken === "again") continue;
        if (taken) {
          drained = !taken.hasMore;
          return taken.body;
        }
      }
      const remaining = deadline - performance.now();
      if (!turn || remaining <= 0) return empty();
      // Behind the head there is nothing to re-check, but the turn can pass without a signal (the
      // head took the last item and left): a consumer that finds itself head at its interval
      // checks then, so nothing another server writes waits for its whole timeout.
      const why = await turn.next(Math.min(interval, remaining));
      // The caller went away: consuming now would hand an item to nobody.
      if (why === "aborted") return empty();
      wokenBy = why;
    }
  } finally {
    turn?.leave({ drained });
  }
}
