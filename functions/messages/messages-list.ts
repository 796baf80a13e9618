import type { z } from "@hono/zod-openapi";
import { and, desc, eq, inArray, or, type SQL } from "drizzle-orm";
import { messages } from "../../schema/messages.ts";
import { sessions } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { decodeCursor, keysetAfter, pageOf } from "../lib/paging.ts";
import { notFound } from "../lib/errors.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { messageToWire } from "./message-post.ts";
import { MessageList, MessagesQuery } from "./schema.ts";

export const messagesRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/messages",
  tags: ["dispatch"],
  summary: "List messages by thread, session or type, oldest first",
  description: "Returns the newest `limit` matches in chronological order. A session sees only messages it sent or received. CLI: messages.",
  request: { query: MessagesQuery },
  responses: { 200: jsonResponse(MessageList, "Messages") },
});

/** Lists messages matching the filters; a session principal is confined to its own. */
export async function listMessages(ctx: Ctx, q: z.output<typeof MessagesQuery>) {
  const where: SQL[] = [];
  if (q.thread_id) where.push(eq(messages.threadId, q.thread_id));
  if (q.msg_type) where.push(eq(messages.msgType, q.msg_type));
  if (q.session) {
    // History outlives registrations, so a gone session's name still selects its messages.
    const ids = (await ctx.db.select({ id: sessions.id }).from(sessions).where(eq(sessions.name, q.session))).map((s) => s.id);
    if (!ids.length) throw notFound("session", q.session, "List sessions with `switchyard sessions --state all`.");
    where.push(or(inArray(messages.fromSessionId, ids), inArray(messages.toSessionId, ids))!);
  }
  if (ctx.auth.kind === "session") where.push(or(eq(messages.fromSessionId, ctx.auth.sessionId), eq(messages.toSessionId, ctx.auth.sessionId))!);
  const next = keysetAfter([messages.createdAt, messages.id], decodeCursor(q.cursor, 2, "messages/messages-list"), "desc");
  if (next) where.push(next);
  // Newest first a page at a time; each page reads oldest first, like a conversation.
  const page = pageOf(
    await ctx.db
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
