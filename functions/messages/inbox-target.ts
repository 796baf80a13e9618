import { and, eq, isNull, type SQLWrapper, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/sqlite-core";
import { inboxItems, type InboxItemRow } from "../../schema/messages.ts";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import { tasks } from "../../schema/tasks.ts";
import { boundTask, boundTaskFrom, boundTaskReads } from "../bindings/lookup.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { eqLiteral } from "../lib/sql.ts";
import { activeSessionByName } from "../sessions/lookup.ts";

/** Which inbox a request addresses: a session's own, or a task's bound manager or worker. */
export type InboxRef = { session: string } | { task: string; role: "manager" | "worker" };

/** The session whose inbox `ref` names, and the task it was reached through. */
export interface InboxOwner {
  session: SessionRow;
  task: string | null;
}

/** Resolves the addressed inbox; a session token may only reach its own. */
export async function inboxOwner(ctx: Ctx, ref: InboxRef): Promise<InboxOwner> {
  let owner: InboxOwner;
  if ("session" in ref) {
    owner = { session: await activeSessionByName(ctx, ref.session), task: null };
  } else {
    const bt = await boundTask(ctx, ref.task);
    owner = { session: ref.role === "manager" ? bt.manager : bt.worker, task: bt.task.name };
  }
  return mayRead(ctx, owner);
}

/** An inbox's oldest unconsumed item, with the names its wire form shows (sender, task). */
export interface OldestItem {
  item: InboxItemRow;
  sourceName: string | null;
  taskName: string | null;
}

const source = alias(sessions, "source");

/**
 * An inbox item's sender and task names as scalar subqueries (by primary key), for a page or an
 * UPDATE … RETURNING that must name its items without another round trip.
 */
export const itemNames = {
  // Qualified by hand: drizzle writes a single-table query's columns unqualified.
  sourceName: sql<string | null>`(SELECT s.name FROM ${sessions} s WHERE s.id = "inbox_items"."source_session_id")`,
  taskName: sql<string | null>`(SELECT t.name FROM ${tasks} t WHERE t.id = "inbox_items"."task_id")`,
};

/** The names `rows` carry, by id, as itemsToWire takes them (so it reads none of them again). */
export function namesCarried(rows: Array<{ item: InboxItemRow; sourceName: string | null; taskName: string | null }>) {
  const sessions: Record<string, string> = {};
  const tasks: Record<string, string> = {};
  for (const { item, sourceName, taskName } of rows) {
    if (item.sourceSessionId && sourceName !== null) sessions[item.sourceSessionId] = sourceName;
    if (item.taskId && taskName !== null) tasks[item.taskId] = taskName;
  }
  return { sessions, tasks };
}

/**
 * The oldest unconsumed item of the inbox whose session id `target` yields, with its sender's and
 * task's names, so its answer needs no further read (index-served; the names by primary key).
 */
export function oldestPending(ctx: Ctx, target: string | SQLWrapper) {
  return ctx.db
    .select({ item: inboxItems, sourceName: source.name, taskName: tasks.name })
    .from(inboxItems)
    .leftJoin(source, eq(source.id, inboxItems.sourceSessionId))
    .leftJoin(tasks, eq(tasks.id, inboxItems.taskId))
    .where(and(eq(inboxItems.targetSessionId, target), isNull(inboxItems.consumedAt)))
    .orderBy(inboxItems.createdAt, sql`${inboxItems}.rowid`)
    .limit(1);
}

/**
 * inboxOwner and the inbox's oldest unconsumed item, read in one round trip: the item's query
 * names its session through a subquery off the same indexes. The item is read before the access
 * check and dropped with it when refused.
 */
export async function inboxOwnerAndOldest(ctx: Ctx, ref: InboxRef): Promise<{ owner: InboxOwner; oldest: OldestItem | undefined }> {
  const db = ctx.db;
  if ("session" in ref) {
    const byName = and(eq(sessions.name, ref.session), eqLiteral(sessions.state, "active"));
    const [found, items] = await db.batch([
      db.select().from(sessions).where(byName).limit(1),
      oldestPending(ctx, db.select({ id: sessions.id }).from(sessions).where(byName).limit(1)),
    ]);
    // Not found: the plain lookup says whether the name is unknown or deregistered.
    const session = found[0] ?? (await activeSessionByName(ctx, ref.session));
    return { owner: mayRead(ctx, { session, task: null }), oldest: found[0] ? items[0] : undefined };
  }
  const reads = boundTaskReads(ctx, ref.task);
  const [t, b, w, m, items] = await db.batch([...reads.reads, oldestPending(ctx, ref.role === "manager" ? reads.managerId : reads.workerId)]);
  const bt = boundTaskFrom(ref.task, [t, b, w, m]);
  return { owner: mayRead(ctx, { session: ref.role === "manager" ? bt.manager : bt.worker, task: bt.task.name }), oldest: items[0] };
}

function mayRead(ctx: Ctx, owner: InboxOwner): InboxOwner {
  if (ctx.auth.kind === "session" && ctx.auth.sessionId !== owner.session.id) {
    throw new ApiError("FORBIDDEN", `a session token may read only its own inbox, not '${owner.session.name}'s`, {
      hint: "Use the token returned when this session registered, or the owner token.",
    });
  }
  return owner;
}

/** The fields every inbox answer starts with. */
export function inboxHeader(o: InboxOwner) {
  return { session: o.session.name, session_id: o.session.id, role: o.session.role, task: o.task };
}
