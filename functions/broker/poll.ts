import type { z } from "@hono/zod-openapi";
import { and, eq, inArray, isNull, ne, notExists, or, sql, type SQL } from "drizzle-orm";
import { adviceRequests } from "../../schema/broker.ts";
import { messages } from "../../schema/messages.ts";
import { sessions } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { notFound } from "../lib/errors.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { eqLiteral, iso, rowFromRaw } from "../lib/sql.ts";
import { ingestMessage } from "./ingest.ts";
import { PollBody, PollResult } from "./schema.ts";

export const pollMessagesRoute = defineRoute(
  ["owner", "daemon"],
  {
    method: "post",
    path: "/broker/poll-messages",
    tags: ["broker"],
    summary: "Find request messages not yet ingested and (unless dry_run) ingest them",
    description:
      "Candidates: msg_type=request, non-empty body, matching project / to_session when given, no advice request yet. CLI: broker poll-messages [--project P] [--to-session S] [--dry-run].",
    request: { body: jsonBody(PollBody) },
    responses: { 200: jsonResponse(PollResult, "Candidates and what was ingested") },
  },
  { rateLimited: true },
);

/** Session ids a `to_session` filter names: the id itself, or every session (any state) with that name. */
async function recipientIds(ctx: Ctx, nameOrId: string): Promise<string[]> {
  const rows = await ctx.db
    .select({ id: sessions.id })
    .from(sessions)
    .where(or(eq(sessions.id, nameOrId), eq(sessions.name, nameOrId)));
  if (!rows.length) throw notFound("session", nameOrId, "The --to-session filter names no session; list them with `switchyard sessions --state all`.");
  return rows.map((r) => r.id);
}

/**
 * Lists request messages that have no advice request yet (oldest first) and, unless `dry_run`,
 * ingests each one. Ingest is idempotent, so two pollers racing over the same message still
 * produce one advice request.
 */
export async function pollMessages(ctx: Ctx, input: z.input<typeof PollBody>): Promise<z.infer<typeof PollResult>> {
  const opts = PollBody.parse(input);
  const where: SQL[] = [
    // The partial index's own terms, literal, so the index it names below applies.
    eqLiteral(messages.msgType, "request"),
    isNull(messages.advisedAt),
    // SQLite trims only spaces unless told which characters; a body of newlines is empty too.
    ne(sql`trim(${messages.body}, ${" \t\r\n"})`, ""),
    notExists(ctx.db.select({ one: sql`1` }).from(adviceRequests).where(eq(adviceRequests.sourceMessageId, messages.id))),
  ];
  if (opts.project !== undefined) where.push(eq(messages.project, opts.project));
  if (opts.to_session !== undefined) where.push(inArray(messages.toSessionId, await recipientIds(ctx, opts.to_session)));
  // Named, since the planner without statistics prefers the index of every request by type,
  // which holds the whole history of requests, long since advised, ahead of the open ones.
  const rows = (
    await ctx.db.all<Record<string, unknown>>(
      sql`SELECT * FROM ${messages} INDEXED BY messages_unadvised_idx WHERE ${and(...where)} ORDER BY ${messages.createdAt} ASC, ${messages.id} ASC LIMIT ${opts.limit}`,
    )
  ).map((r) => rowFromRaw(messages, r));
  const candidates = rows.map((m) => ({
    message_id: m.id,
    thread_id: m.threadId,
    from_session_id: m.fromSessionId,
    to_session_id: m.toSessionId,
    project: m.project,
    subject: m.subject,
    body_chars: m.body.length,
    created_at: iso(m.createdAt)!,
  }));
  const ingested = [];
  if (!opts.dry_run) {
    for (const m of rows) ingested.push(await ingestMessage(ctx, { messageId: m.id, researchPolicy: opts.research_policy, runId: opts.run_id }));
  }
  return { dry_run: opts.dry_run, candidates, count: candidates.length, ingested };
}
