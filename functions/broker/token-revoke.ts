import type { z } from "@hono/zod-openapi";
import { and, eq, isNull } from "drizzle-orm";
import { approvalTokens, brokerEvents } from "../../schema/broker.ts";
import { events } from "../../schema/events.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { notFound } from "../lib/errors.ts";
import { txWithKey } from "../lib/idempotency.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { TokenIdParam, TokenRevokeBody, TokenRevokeResult } from "./schema.ts";
import { brokerEventValues, tokenToWire } from "./wire.ts";

export const tokenRevokeRoute = defineRoute(
  ["owner"],
  {
    method: "post",
    path: "/broker/tokens/{id}/revoke",
    tags: ["broker"],
    summary: "Owner revokes an approval token; every later use is refused as revoked",
    description: "Revoking twice keeps the first revocation. CLI: broker token-revoke ID --reason R.",
    request: { params: TokenIdParam, body: jsonBody(TokenRevokeBody) },
    responses: { 200: jsonResponse(TokenRevokeResult, "Revoked") },
  },
  { idempotency: "atomic" },
);

/** Revokes a token (idempotent: the first time and reason stand). */
export async function revokeApprovalToken(
  ctx: Ctx,
  id: string,
  input: z.output<typeof TokenRevokeBody>,
  respond?: number,
): Promise<z.infer<typeof TokenRevokeResult>> {
  const nowMs = ctx.now().getTime();
  const audit = auditInsert(ctx, { kind: "approval_token_revoked", payload: { token_id: id, reason: input.reason } });
  const result = (r: { token: typeof approvalTokens.$inferSelect; eventId: string | null }) => ({
    token: tokenToWire(r.token),
    token_id: id,
    event_id: r.eventId,
  });
  const row = await txWithKey(
    ctx,
    async (tx) => {
      const [revoked] = await tx
        .update(approvalTokens)
        .set({ revokedAt: nowMs, revokeReason: input.reason })
        .where(and(eq(approvalTokens.id, id), isNull(approvalTokens.revokedAt)))
        .returning();
      if (revoked) {
        await tx
          .insert(brokerEvents)
          .values(brokerEventValues(ctx, { kind: "token_revoked", runId: revoked.runId, payload: { token_id: id, reason: input.reason } }));
        await tx.insert(events).values(audit.row);
        return { token: revoked, eventId: audit.id };
      }
      const [existing] = await tx.select().from(approvalTokens).where(eq(approvalTokens.id, id)).limit(1);
      return existing ? { token: existing, eventId: null } : null;
    },
    (r) => (r && respond ? { body: result(r), status: respond } : undefined),
  );
  if (!row)
    throw notFound(
      "approval token",
      id,
      "Use the token_id `switchyard broker token-create` printed (not the secret); `switchyard broker token-check TOKEN_ID` tells whether it exists.",
    );
  return result(row);
}
