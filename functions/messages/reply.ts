import type { z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { messages, type MessageRow } from "../../schema/messages.ts";
import { sessions } from "../../schema/sessions.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { ApiError, notFound } from "../lib/errors.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { postMessage } from "./message-post.ts";
import { MessageIdParam, ReplyBody, SendResult } from "./schema.ts";

// Not the daemon: a reply speaks for the recipient, and daemons never send (DESIGN.md, Security).
export const replyRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/messages/{id}/reply",
    tags: ["dispatch"],
    summary: "Reply to a message; the reply lands in the original sender's inbox on the same thread",
    description:
      "The reply is sent as the original recipient, keeps the thread and correlation id, and refers to the original with in_reply_to. A session may reply only to messages addressed to it. CLI: reply.",
    request: { params: MessageIdParam, body: jsonBody(ReplyBody) },
    responses: { 201: jsonResponse(SendResult, "Replied") },
  },
  { idempotency: "atomic" },
);

/** Replies to message `id` from its recipient to its sender. */
export async function replyToMessage(ctx: Ctx, id: string, input: z.output<typeof ReplyBody>, respond?: number) {
  const [original] = await ctx.db.select().from(messages).where(eq(messages.id, id)).limit(1);
  if (!original) throw notFound("message", id, "List messages with `switchyard messages --session NAME`.");
  if (ctx.auth.kind === "session" && ctx.auth.sessionId !== original.toSessionId) {
    throw new ApiError("FORBIDDEN", `message '${id}' was not addressed to this session`, { hint: "Reply only to messages in your own inbox." });
  }
  if (!original.fromSessionId) {
    throw new ApiError("CONFLICT", `message '${id}' was sent by ${original.fromActor}, which has no inbox to reply to`, {
      hint: "Send a new message to the session you want to reach instead.",
    });
  }
  const [to] = await ctx.db.select().from(sessions).where(eq(sessions.id, original.fromSessionId)).limit(1);
  if (!to || to.state !== "active") {
    throw new ApiError("SESSION_INACTIVE", `the sender of message '${id}' (${to?.name ?? original.fromSessionId}) has been deregistered`, {
      hint: "Replies go only to active sessions.",
    });
  }
  // The owner replying acts on the recipient's behalf; from_actor records who did.
  const [from] = await ctx.db.select().from(sessions).where(eq(sessions.id, original.toSessionId)).limit(1);
  const row: MessageRow = {
    id: ctx.newId("msg"),
    threadId: original.threadId,
    correlationId: original.correlationId,
    msgType: "reply",
    fromSessionId: original.toSessionId,
    fromActor: actorOf(ctx.auth),
    toSessionId: to.id,
    inReplyTo: original.id,
    project: input.project ?? original.project,
    subject: input.subject ?? (original.subject ? `Re: ${original.subject.replace(/^Re: /, "")}` : null),
    body: input.body,
    createdAt: ctx.now().getTime(),
    advisedAt: null,
  };
  return postMessage(ctx, row, to, from ?? null, respond);
}
