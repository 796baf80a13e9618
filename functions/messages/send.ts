import type { z } from "@hono/zod-openapi";
import { and, eq, or } from "drizzle-orm";
import { messages, type MessageRow } from "../../schema/messages.ts";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { activeSessionByName } from "../sessions/lookup.ts";
import { postMessage } from "./message-post.ts";
import { lookUpRecipient } from "./recipient.ts";
import { SendBody, SendResult } from "./schema.ts";

// Not the daemon: it drafts and polls but never sends (DESIGN.md, Security).
export const sendRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/messages",
    tags: ["dispatch"],
    summary: "Send a message to a session; it lands in the recipient's inbox",
    description:
      "The recipient must be one active session (name, id, or an unambiguous app thread title). A session token sends as itself; the owner may send as a session with `from`. A tmux recipient also gets a deliver command that types the message into its pane — only when the caller may nudge it (the owner, the recipient itself, or its bound manager); otherwise the message waits in the inbox (pull). CLI: send, request.",
    request: { body: jsonBody(SendBody) },
    responses: { 201: jsonResponse(SendResult, "Sent") },
  },
  { idempotency: "atomic" },
);

/**
 * The session a message is sent as: a session token is always itself; the owner may name one;
 * otherwise the owner sends in its own name (null). `own` is a session token's row when the
 * caller read it already.
 */
export async function senderOf(ctx: Ctx, from: string | undefined, own?: SessionRow): Promise<SessionRow | null> {
  if (ctx.auth.kind === "session") {
    const me = own ?? (await ctx.db.select().from(sessions).where(eq(sessions.id, ctx.auth.sessionId)).limit(1))[0];
    if (from !== undefined && from !== me?.name) {
      throw new ApiError("FORBIDDEN", `a session token sends only as itself, not as '${from}'`, { hint: "Leave out `from`." });
    }
    return me ?? null;
  }
  if (from === undefined) return null;
  if (ctx.auth.kind !== "owner") throw new ApiError("FORBIDDEN", "only the owner may send as another session", { hint: "Leave out `from`." });
  return activeSessionByName(ctx, from);
}

/** Refuses an unknown thread, and a session posting into a thread it is not part of. */
async function assertThread(ctx: Ctx, threadId: string, sender: SessionRow | null): Promise<void> {
  const [any] = await ctx.db.select({ id: messages.id }).from(messages).where(eq(messages.threadId, threadId)).limit(1);
  if (!any) throw new ApiError("NOT_FOUND", `thread '${threadId}' not found`, { hint: "Leave out thread_id to start a new thread." });
  if (ctx.auth.kind !== "session" || !sender) return;
  const [mine] = await ctx.db
    .select({ id: messages.id })
    .from(messages)
    .where(and(eq(messages.threadId, threadId), or(eq(messages.fromSessionId, sender.id), eq(messages.toSessionId, sender.id))))
    .limit(1);
  if (!mine)
    throw new ApiError("FORBIDDEN", `this session is not part of thread '${threadId}'`, { hint: "Start a new thread, or reply to a message you received." });
}

/** Sends one message (any type but reply) and puts it in the recipient's inbox. */
export async function sendMessage(ctx: Ctx, input: z.output<typeof SendBody>, respond?: number) {
  // A session's own row is read with the recipient (one round trip for both).
  const lookup = await lookUpRecipient(ctx, input.to, ctx.auth.kind === "session" ? ctx.auth.sessionId : undefined);
  const from = await senderOf(ctx, input.from, lookup.self);
  const to = await lookup.recipient();
  if (input.thread_id) await assertThread(ctx, input.thread_id, from);
  const row: MessageRow = {
    id: ctx.newId("msg"),
    threadId: input.thread_id ?? ctx.newId("thr"),
    correlationId: input.correlation_id ?? ctx.newId("cor"),
    msgType: input.msg_type,
    fromSessionId: from?.id ?? null,
    fromActor: actorOf(ctx.auth),
    toSessionId: to.id,
    inReplyTo: null,
    project: input.project ?? null,
    subject: input.subject ?? null,
    body: input.body,
    createdAt: ctx.now().getTime(),
    advisedAt: null,
  };
  return postMessage(ctx, row, to, from, respond);
}
