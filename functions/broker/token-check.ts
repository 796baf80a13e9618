import type { z } from "@hono/zod-openapi";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { checkApprovalToken } from "./approval-tokens.ts";
import { TokenCheckQuery, TokenCheckResult, TokenIdParam } from "./schema.ts";
import { tokenToWire } from "./wire.ts";

export const tokenCheckRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/broker/tokens/{id}/check",
  tags: ["broker"],
  summary: "Would this approval token be accepted for a run, recipient and thread? Valid, or the exact reason not",
  description:
    "Reasons: missing, revoked, expired, overused, run_mismatch, session_mismatch, thread_mismatch, wrong_run_mode, run_not_running. Uses nothing. CLI: broker token-check ID --run-id R --to-session S --thread-id T.",
  request: { params: TokenIdParam, query: TokenCheckQuery },
  responses: { 200: jsonResponse(TokenCheckResult, "Verdict") },
});

/** Checks a token by id without consuming a use. */
export async function checkToken(ctx: Ctx, id: string, q: z.output<typeof TokenCheckQuery>): Promise<z.infer<typeof TokenCheckResult>> {
  const verdict = await checkApprovalToken(ctx, { tokenId: id, runId: q.run_id, toSession: q.to_session, threadId: q.thread_id });
  return { valid: verdict.ok, reason: verdict.ok ? null : verdict.reason, token: verdict.token ? tokenToWire(verdict.token) : null };
}
