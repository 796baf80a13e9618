import type { z } from "@hono/zod-openapi";
import { and, desc, eq, inArray, or, type SQL, sql } from "drizzle-orm";
import { messages } from "../../schema/messages.ts";
import { sessions } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { decodeCursor, keysetAfter, pageOf } from "../lib/paging.ts";
import { notFound } from "../lib/errors.ts";
import { eqLiteral, rowFromRaw } from "../lib/sql.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { messageToWire } from "./message-post.ts";
import { MessageList, MessagesQuery } from "./schema.ts";

export const messagesRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/messages",
  tags: ["dispatch"],
  summary: "List messages by thread, session or type, a page of the newest at a time, each page oldest first",
  description:
    "Returns the newest `limit` matches in chronological order, like a conversation's scrollback; `next_cursor` gives the page of older messages before them. A session sees only messages it sent or received. CLI: messages.",
  request: { query: MessagesQuery },
  responses: { 200: jsonResponse(MessageList, "Messages") },
});

/** Lists messages matching the filters; a session principal is confined to its own. */
export async function listMessages(ctx: Ctx, q: z.output<typeof MessagesQuery>) {
  const where: SQL[] = [];
  if (q.thread_id) where.push(eq(messages.threadId, q.thread_id));
  // Literal: a bound type would make SQLite prepare the statement afresh on every call, since
  // the partial index of open requests (messages_unadvised_idx) is on msg_type.
  // With a thread, the type is checked row by row on the thread's index: the planner would
  // otherwise walk every message of that type ever sent (`+` keeps it off the type index).
  if (q.msg_type) where.push(q.thread_id ? sql`+${eqLiteral(messages.msgType, q.msg_type)}` : eqLiteral(messages.msgType, q.msg_type));
  // The sessions whose messages (sent or received) are listed: the caller's own, else the named one's.
  let party: string[] | null = null;
  if (q.session) {
    // History outlives registrations, so a gone session's name still selects its messages.
    const ids = (await ctx.db.select({ id: sessions.id }).from(sessions).where(eq(sessions.name, q.session))).map((s) => s.id);
    if (!ids.length) throw notFound("session", q.session, "List sessions with `switchyard sessions --state all`.");
    party = ids;
  }
  if (ctx.auth.kind === "session") {
    if (party) where.push(or(inArray(messages.fromSessionId, party), inArray(messages.toSessionId, party))!);
    party = [ctx.auth.sessionId];
  }
  const next = keysetAfter([messages.createdAt, messages.id], decodeCursor(q.cursor, 2, "messages/messages-list"), "desc");
  if (next) where.push(next);
  // Newest first a page at a time; each page reads oldest first, like a conversation.
  const page = pageOf(
    party
      ? await partyPage(ctx, party, where, q.limit + 1)
      : await ctx.db
          .select()
          .from(messages)
          .where(and(...where))
          .orderBy(desc(messages.createdAt), desc(messages.id))
          .limit(q.limit + 1),
    q.limit,
    (m) => [m.createdAt, m.id],
    "messages/messages-list",
  );
  const rows = page.items.reverse();
  const ids = [...new Set(rows.flatMap((m) => [m.toSessionId, ...(m.fromSessionId ? [m.fromSessionId] : [])]))];
  const names = new Map<string, string>();
  if (ids.length)
    for (const s of await ctx.db.select({ id: sessions.id, name: sessions.name }).from(sessions).where(inArray(sessions.id, ids))) names.set(s.id, s.name);
  return {
    messages: rows.map((m) =>
      messageToWire(m, { from: m.fromSessionId ? (names.get(m.fromSessionId) ?? null) : null, to: names.get(m.toSessionId) ?? m.toSessionId }),
    ),
    count: rows.length,
    next_cursor: page.next_cursor,
  };
}

/**
 * The newest `n` messages `party` sent or received that also match `where`, newest first: what
 * it sent and what it received (and did not send), each read off its index in page order and
 * merged. An OR over the two columns would walk the whole table newest first until it found `n`
 * of them, which for a quiet session is all of it.
 */
async function partyPage(ctx: Ctx, party: string[], where: SQL[], n: number) {
  const ids = sql.join(
    party.map((id) => sql`${id}`),
    sql`, `,
  );
  const rest = where.length ? sql` AND ${and(...where)}` : sql``;
  // Compound, ordered as each arm's index is: SQLite merges the two in order and stops at `n`.
  const rows = await ctx.db.all<Record<string, unknown>>(
    sql`SELECT * FROM ${messages} WHERE "from_session_id" IN (${ids})${rest}
      UNION ALL SELECT * FROM ${messages} WHERE "to_session_id" IN (${ids}) AND ("from_session_id" IS NULL OR "from_session_id" NOT IN (${ids}))${rest}
      ORDER BY "created_at" DESC, "id" DESC LIMIT ${n}`,
  );
  return rows.map((r) => rowFromRaw(messages, r));
}
