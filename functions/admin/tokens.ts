import type { z } from "@hono/zod-openapi";
import { and, asc, eq, isNull } from "drizzle-orm";
import { tokens, type TokenRow } from "../../schema/auth.ts";
import { auditInsert, guardedUpdate } from "../lib/audit.ts";
import { tokenInsert } from "../lib/auth.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { MintTokenBody, MintTokenResult, RevokeResult, TokenIdParam, TokenList } from "./schema.ts";

export const mintTokenRoute = defineRoute(
  ["owner"],
  {
    method: "post",
    path: "/tokens",
    tags: ["admin"],
    summary: "Mint a daemon, runner, hook or extra owner token",
    description: "The secret is returned once and stored hashed. CLI: token mint --scope daemon|runner|hook --host H.",
    request: { body: jsonBody(MintTokenBody) },
    responses: { 201: jsonResponse(MintTokenResult, "Minted") },
  },
  { idempotency: "atomic" },
);

export const listTokensRoute = defineRoute(["owner"], {
  method: "get",
  path: "/tokens",
  tags: ["admin"],
  summary: "List tokens (never their secrets)",
  description: "CLI: token list.",
  responses: { 200: jsonResponse(TokenList, "Tokens") },
});

export const revokeTokenRoute = defineRoute(
  ["owner"],
  {
    method: "post",
    path: "/tokens/{id}/revoke",
    tags: ["admin"],
    summary: "Revoke a token",
    description: "CLI: token revoke ID.",
    request: { params: TokenIdParam },
    responses: { 200: jsonResponse(RevokeResult, "Revoked") },
  },
  { idempotency: "atomic" },
);

function tokenToWire(t: TokenRow) {
  return { id: t.id, kind: t.kind, host: t.host, session_id: t.sessionId, label: t.label, created_at: iso(t.createdAt)!, revoked_at: iso(t.revokedAt) };
}

/** Mints a token for a daemon, a runner or a host's hooks (each bound to one host) or another owner device. */
export async function mintToken(ctx: Ctx, input: z.infer<typeof MintTokenBody>, respond?: number) {
  if ((input.scope === "runner" || input.scope === "hook") && !input.host) {
    throw new ApiError("VALIDATION_FAILED", `a ${input.scope} token needs the host it serves`, {
      hint:
        input.scope === "runner"
          ? "Pass --host <name>, the same name the runner will use with --host."
          : "Pass --host <name>: the token may post hook events only for sessions registered on that host.",
      fields: [{ field: "host", message: `required for scope ${input.scope}` }],
    });
  }
  const nowMs = ctx.now().getTime();
  const token = await tokenInsert(ctx.db, { id: ctx.newId("tok"), kind: input.scope, nowMs, host: input.host ?? null, label: input.label ?? null });
  const audit = auditInsert(ctx, { kind: "token_minted", payload: { token_id: token.id, scope: input.scope, host: input.host ?? null } });
  const row: TokenRow = {
    id: token.id,
    kind: input.scope,
    secretHash: "",
    host: input.host ?? null,
    sessionId: null,
    label: input.label ?? null,
    createdAt: nowMs,
    revokedAt: null,
  };
  const result = { token_id: token.id, token: token.secret, info: tokenToWire(row), event_id: audit.id };
  // The secret is in the live answer only; a replay of this key carries null (lib/idempotency.ts).
  await batchWithKey(ctx, [token.stmt, audit.stmt], respond ? { body: result, status: respond } : undefined);
  return result;
}

/** Lists every token's metadata. */
export async function listTokens(ctx: Ctx) {
  const rows = await ctx.db.select().from(tokens).orderBy(asc(tokens.createdAt));
  return { tokens: rows.map(tokenToWire), count: rows.length };
}

/** Revokes a token; the owner cannot revoke the token it is calling with. */
export async function revokeToken(ctx: Ctx, id: string, respond?: number) {
  if (ctx.auth.kind === "owner" && ctx.auth.tokenId === id) {
    throw new ApiError("CONFLICT", "refusing to revoke the token this request is using", { hint: "Revoke it with another owner token." });
  }
  const nowMs = ctx.now().getTime();
  const audit = auditInsert(ctx, { kind: "token_revoked", payload: { token_id: id } });
  const result = { token_id: id, revoked_at: iso(nowMs)!, event_id: audit.id };
  await guardedUpdate(
    ctx,
    audit,
    (tx) =>
      tx
        .update(tokens)
        .set({ revokedAt: nowMs })
        .where(and(eq(tokens.id, id), isNull(tokens.revokedAt)))
        .returning({ id: tokens.id }),
    () => new ApiError("NOT_FOUND", `no live token with id '${id}'`, { hint: "List tokens with `switchyard token list`." }),
    () => (respond ? { body: result, status: respond } : undefined),
  );
  return result;
}
