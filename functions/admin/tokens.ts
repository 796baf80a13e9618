import type { z } from "@hono/zod-openapi";
import { and, asc, eq, isNull, sql } from "drizzle-orm";
import { tokens, type TokenRow } from "../../schema/auth.ts";
import { events } from "../../schema/events.ts";
import { auditInsert, guardedUpdate } from "../lib/audit.ts";
import { liveTokenAt, tokenInsert, tokenIsLive } from "../lib/auth.ts";
import type { Ctx } from "../lib/ctx.ts";
import { decodeCursor, keysetAfter, pageOf } from "../lib/paging.ts";
import { ApiError } from "../lib/errors.ts";
import { guardedInsert } from "../lib/guarded.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import {
  MintTokenBody,
  MintTokenResult,
  RevokeResult,
  RotateIdParam,
  RotateTokenBody,
  RotateTokenResult,
  SELF_ROTATE_MIN_GRACE_SECONDS,
  TokenIdParam,
  TokenList,
  TokenListQuery,
} from "./schema.ts";

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
  summary: "List tokens (never their secrets), oldest first, a page at a time",
  description: "CLI: token list [--limit N] [--cursor C].",
  request: { query: TokenListQuery },
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

export const rotateTokenRoute = defineRoute(["owner"], {
  method: "post",
  path: "/tokens/{id}/rotate",
  tags: ["admin"],
  summary: "Replace a token with a new one of the same kind, host, session and label",
  description:
    "Mints the replacement (its secret is returned once) and revokes the old token, at once or after grace_seconds so its users can switch; one token_rotated audit event. `self` rotates the token making the request; rotating the calling token needs grace_seconds of at least 60 (409 otherwise), so the caller cannot lock itself out. A token already in a rotation's grace period is not rotated again (409). CLI: token rotate ID [--grace 10m], token rotate --owner-file.",
  request: { params: RotateIdParam, body: { ...jsonBody(RotateTokenBody), required: false } },
  responses: { 201: jsonResponse(RotateTokenResult, "Rotated") },
});

function tokenToWire(t: TokenRow, nowMs: number) {
  return {
    id: t.id,
    kind: t.kind,
    host: t.host,
    session_id: t.sessionId,
    label: t.label,
    created_at: iso(t.createdAt)!,
    revoked_at: iso(t.revokedAt),
    live: tokenIsLive(t, nowMs),
  };
}

const noLiveToken = (id: string) => new ApiError("NOT_FOUND", `no live token with id '${id}'`, { hint: "List tokens with `switchyard token list`." });

const inGrace = (id: string, revokedAt: number) =>
  new ApiError("CONFLICT", `token '${id}' was already rotated and stops working at ${iso(revokedAt)}; it is not rotated again`, {
    hint: "Use (or rotate) its replacement, listed by `switchyard token list`; revoke the old one now with `switchyard token revoke ID`.",
  });

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
  const result = { token_id: token.id, token: token.secret, info: tokenToWire(row, nowMs), event_id: audit.id };
  // The secret is in the live answer only; a replay of this key carries null (lib/idempotency.ts).
  await batchWithKey(ctx, [token.stmt, audit.stmt], respond ? { body: result, status: respond } : undefined);
  return result;
}

/** Lists every token's metadata. */
export async function listTokens(ctx: Ctx, q: z.output<typeof TokenListQuery>) {
  const rows = await ctx.db
    .select()
    .from(tokens)
    .where(keysetAfter([tokens.createdAt, tokens.id], decodeCursor(q.cursor, 2, "admin/tokens")))
    .orderBy(asc(tokens.createdAt), asc(tokens.id))
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.createdAt, r.id], "admin/tokens");
  const nowMs = ctx.now().getTime();
  return { tokens: page.items.map((t) => tokenToWire(t, nowMs)), count: page.items.length, next_cursor: page.next_cursor };
}

/**
 * Replaces a live token that is not yet scheduled for revocation: the new one has the old one's
 * kind, host, session and label, and the old one is revoked now or `grace_seconds` from now.
 * The calling token gets at least SELF_ROTATE_MIN_GRACE_SECONDS (else CONFLICT), and a token
 * already in a rotation's grace period is refused (CONFLICT), so a grace cannot be renewed
 * forever by rotating again. One batch: the conditional UPDATE of the old token comes first and
 * the new token and its audit row are inserted only if it changed a row, so a token revoked (or
 * rotated) meanwhile gets no replacement and the answer is NOT_FOUND.
 */
export async function rotateToken(ctx: Ctx, idOrSelf: string, input: Partial<z.output<typeof RotateTokenBody>> = {}) {
  const auth = ctx.auth;
  if (auth.kind === "anonymous") {
    throw new ApiError("UNAUTHENTICATED", "missing bearer token", { hint: "Send Authorization: Bearer with an owner token (the home's owner.token)." });
  }
  const id = idOrSelf === "self" ? auth.tokenId : idOrSelf;
  const grace = input.grace_seconds ?? 0;
  if (id === auth.tokenId && grace < SELF_ROTATE_MIN_GRACE_SECONDS) {
    throw new ApiError(
      "CONFLICT",
      `refusing to rotate the token this request is using with grace_seconds ${grace}: it needs at least ${SELF_ROTATE_MIN_GRACE_SECONDS}`,
      {
        hint: `Pass grace_seconds >= ${SELF_ROTATE_MIN_GRACE_SECONDS} and switch to the new token within it (\`switchyard token rotate --owner-file\` does this for owner.token), or rotate it with another owner token.`,
      },
    );
  }
  const nowMs = ctx.now().getTime();
  const [old] = await ctx.db
    .select()
    .from(tokens)
    .where(and(eq(tokens.id, id), liveTokenAt(nowMs)))
    .limit(1);
  if (!old) throw noLiveToken(id);
  if (old.revokedAt !== null) throw inGrace(id, old.revokedAt);
  const revokeAt = nowMs + grace * 1000;
  const fresh = await tokenInsert(ctx.db, { id: ctx.newId("tok"), kind: old.kind, nowMs, host: old.host, sessionId: old.sessionId, label: old.label });
  const audit = auditInsert(ctx, {
    kind: "token_rotated",
    sessionId: old.sessionId,
    payload: { token_id: fresh.id, replaced_token_id: old.id, kind: old.kind, host: old.host, old_revoked_at: iso(revokeAt), grace_seconds: grace },
  });
  const [revoked] = await ctx.db.batch([
    ctx.db
      .update(tokens)
      .set({ revokedAt: revokeAt })
      .where(and(eq(tokens.id, old.id), isNull(tokens.revokedAt)))
      .returning({ id: tokens.id }),
    // changes() is the UPDATE's row count: 0 when the old token was no longer unscheduled.
    guardedInsert(ctx.db, tokens, fresh.row, sql`changes() = 1`),
    guardedInsert(ctx.db, events, audit.row, sql`EXISTS (SELECT 1 FROM ${tokens} WHERE ${tokens.id} = ${fresh.id})`),
  ]);
  if (revoked.length === 0) throw noLiveToken(id);
  return {
    token_id: fresh.id,
    token: fresh.secret,
    info: tokenToWire(fresh.row, nowMs),
    replaced: { token_id: old.id, revoked_at: iso(revokeAt)! },
    event_id: audit.id,
  };
}

/**
 * Revokes a token at once (also one still in a rotation's grace period); the owner cannot
 * revoke the token it is calling with.
 */
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
        .where(and(eq(tokens.id, id), liveTokenAt(nowMs)))
        .returning({ id: tokens.id }),
    () => noLiveToken(id),
    () => (respond ? { body: result, status: respond } : undefined),
  );
  return result;
}
