import type { z } from "@hono/zod-openapi";
import { and, eq, or } from "drizzle-orm";
import { approvalTokens, brokerEvents, brokerRuns, type ApprovalTokenRow } from "../../schema/broker.ts";
import { messages } from "../../schema/messages.ts";
import { events } from "../../schema/events.ts";
import { sessions } from "../../schema/sessions.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError, notFound } from "../lib/errors.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { makeSecret, sha256Hex } from "../lib/ids.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { TokenCreateBody, TokenCreateResult } from "./schema.ts";
import { brokerEventValues, tokenToWire } from "./wire.ts";
import { eqLiteral } from "../lib/sql.ts";

export const tokenCreateRoute = defineRoute(
  ["owner"],
  {
    method: "post",
    path: "/broker/tokens",
    tags: ["broker"],
    summary: "Owner mints a scoped auto-send approval token for one run, recipient and thread",
    description:
      "Only for scoped_auto_send runs that are not stopped. The secret is returned once and stored hashed. CLI: broker token-create RUN --to-session S --thread-id T --max-uses N --expires-minutes M.",
    request: { body: jsonBody(TokenCreateBody) },
    responses: { 201: jsonResponse(TokenCreateResult, "Created") },
  },
  { idempotency: "atomic" },
);

/** Mints an approval token; refuses runs of any other mode so tokens never widen a dry run. */
export async function createApprovalToken(ctx: Ctx, input: z.output<typeof TokenCreateBody>, respond?: number): Promise<z.infer<typeof TokenCreateResult>> {
  const [run] = await ctx.db.select().from(brokerRuns).where(eq(brokerRuns.id, input.run_id)).limit(1);
  if (!run) throw notFound("broker run", input.run_id, "List runs with `switchyard broker runs`; tokens are minted for a scoped_auto_send run.");
  if (run.mode !== "scoped_auto_send") {
    throw new ApiError("CONFLICT", `run ${run.id} is ${run.mode}; approval tokens exist only for scoped_auto_send runs`, {
      hint: "Create a scoped_auto_send run for bounded auto-send; supervised and overnight_dry_run runs never send on their own.",
    });
  }
  if (run.state === "stopped") throw new ApiError("CONFLICT", `run ${run.id} is stopped`, { hint: "Tokens are for runs that can still send." });
  const [to] = await ctx.db
    .select()
    .from(sessions)
    .where(and(or(eq(sessions.id, input.to_session), eq(sessions.name, input.to_session)), eqLiteral(sessions.state, "active")))
    .limit(1);
  if (!to) throw notFound("active session", input.to_session, "Tokens are scoped to a live recipient; list them with `switchyard sessions`.");
  const [inThread] = await ctx.db.select({ id: messages.id }).from(messages).where(eq(messages.threadId, input.thread_id)).limit(1);
  if (!inThread) throw notFound("thread", input.thread_id, "Scope the token to the thread of an existing request (see `switchyard broker review ID`).");
  const nowMs = ctx.now().getTime();
  const secret = makeSecret("approval");
  const row: ApprovalTokenRow = {
    id: ctx.newId("apt"),
    runId: run.id,
    secretHash: await sha256Hex(secret),
    toSession: to.id,
    threadId: input.thread_id,
    maxUses: input.max_uses,
    uses: 0,
    expiresAt: nowMs + input.expires_minutes * 60_000,
    revokedAt: null,
    revokeReason: null,
    createdAt: nowMs,
  };
  const audit = auditInsert(ctx, {
    kind: "approval_token_created",
    sessionId: to.id,
    payload: { token_id: row.id, run_id: run.id, thread_id: row.threadId, max_uses: row.maxUses, expires_at: new Date(row.expiresAt).toISOString() },
  });
  const result = { token: tokenToWire(row), token_id: row.id, secret, event_id: audit.id };
  // One batch, with the Idempotency-Key's response (which keeps null for the secret).
  await batchWithKey(
    ctx,
    [
      ctx.db.insert(approvalTokens).values(row),
      ctx.db.insert(brokerEvents).values(
        brokerEventValues(ctx, {
          kind: "token_created",
          runId: run.id,
          payload: { token_id: row.id, to_session: to.id, thread_id: row.threadId, max_uses: row.maxUses },
        }),
      ),
      ctx.db.insert(events).values(audit.row),
    ],
    respond ? { body: result, status: respond } : undefined,
  );
  return result;
}
