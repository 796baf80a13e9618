import { and, eq, gt, isNull, or, sql, type SQL } from "drizzle-orm";
import type { MiddlewareHandler } from "hono";
import { sessions } from "../../schema/sessions.ts";
import { idempotencyKeys, tokens, type PrincipalKind } from "../../schema/auth.ts";
import { perDatabase, type Database, type Db } from "./db.ts";
import type { Principal, PrincipalKindOrAnon, TokenProblem } from "./ctx.ts";
import { ApiError } from "./errors.ts";
import { makeSecret, sha256Hex, sha256HexSync } from "./ids.ts";
import type { AppEnv } from "./env.ts";
import { eqLiteral } from "./sql.ts";
import { documentedRoute } from "./validation.ts";

/**
 * Tokens accepted at `nowMs`: never revoked, or revoked for a time still to come (the grace
 * period of a rotation, `token rotate --grace`).
 */
export function liveTokenAt(nowMs: number): SQL {
  return or(isNull(tokens.revokedAt), gt(tokens.revokedAt, nowMs))!;
}

/** Whether a token row is accepted at `nowMs` (see liveTokenAt). */
export function tokenIsLive(row: { revokedAt: number | null }, nowMs: number): boolean {
  return row.revokedAt === null || row.revokedAt > nowMs;
}

/** An idempotency_keys row, as read with the token when the request carries an Idempotency-Key. */
export type PriorKey = typeof idempotencyKeys.$inferSelect;

/**
 * The two token lookups, built once per database handle: every request runs one of them, and
 * building the SQL through drizzle's query builder cost more than SQLite running it. Only the
 * SQL text and the row mapping are kept; each call reads the rows afresh, so a revoked token, a
 * rotated one or a deregistered session is refused on the very next request, whichever server
 * process changed it.
 */
function buildAuthQueries(db: Db) {
  const liveSession = and(eq(sessions.id, tokens.sessionId), eqLiteral(sessions.state, "active"));
  const base = { token: tokens, liveSessionId: sessions.id };
  const byHash = eq(tokens.secretHash, sql.placeholder("hash"));
  return {
    plain: db.select(base).from(tokens).leftJoin(sessions, liveSession).where(byHash).limit(1).prepare(),
    withKey: db
      .select({ ...base, prior: idempotencyKeys })
      .from(tokens)
      .leftJoin(sessions, liveSession)
      .leftJoin(idempotencyKeys, and(eq(idempotencyKeys.principal, sql`'token:' || ${tokens.id}`), eq(idempotencyKeys.key, sql.placeholder("key"))))
      .where(byHash)
      .limit(1)
      .prepare(),
  };
}

const authQueries = perDatabase(buildAuthQueries);

/**
 * Resolves a bearer secret to a principal at `nowMs`, or says why it cannot. One query: a session or hook
 * token's session is checked for being active in the same statement, and with `idempotencyKey`
 * the token's stored use of that key (if any) is read along (`prior`), so that auth and the
 * idempotency check cost one round trip together.
 */
export async function principalForSecret(db: Db, secret: string, nowMs: number, idempotencyKey?: string): Promise<Principal | TokenProblem>;
export async function principalForSecret(
  db: Db,
  secret: string,
  nowMs: number,
  idempotencyKey: string | undefined,
  withPrior: true,
): Promise<{ principal: Principal | TokenProblem; prior: PriorKey | null }>;
export async function principalForSecret(
  db: Db,
  secret: string,
  nowMs: number,
  idempotencyKey?: string,
  withPrior?: true,
): Promise<Principal | TokenProblem | { principal: Principal | TokenProblem; prior: PriorKey | null }> {
  const hash = sha256HexSync(secret);
  const q = authQueries(db);
  const [row] = idempotencyKey === undefined ? await q.plain.all({ hash }) : await q.withKey.all({ hash, key: idempotencyKey });
  const found: { token: typeof tokens.$inferSelect; liveSessionId: string | null; prior: PriorKey | null } | undefined = row && {
    prior: null,
    ...row,
  };
  const principal = principalOf(found, nowMs);
  return withPrior ? { principal, prior: typeof principal === "string" ? null : (found?.prior ?? null) } : principal;
}

/** A token row as the plain lookup reads it, with its session if that is active. */
type FoundToken = { token: typeof tokens.$inferSelect; liveSessionId: string | null };

/** Token rows kept per database file; a few hundred callers at most use one server. */
const MAX_KEPT_TOKENS = 512;

/**
 * Token rows found by secret hash, each with the change stamp (Database.changeStamp) read
 * before it was looked up. A row is reused only while the stamp is the same, that is while
 * nothing at all committed to the file: a revoke, a rotation or a deregistration is a commit,
 * so it is seen on the very next request, from whichever process made it. Unknown hashes are not
 * kept (a caller guessing tokens cannot fill this), and what a row means is decided afresh on
 * every request (a rotation's grace period ends by the clock, not by a commit).
 */
const keptTokens = new WeakMap<Database, Map<string, { stamp: number; found: FoundToken }>>();

/**
 * The principal of a request without an Idempotency-Key: principalForSecret, but reusing the
 * token's row while the database is unchanged (keptTokens), which saves the token query on the
 * read routes agents and dashboards poll. A database that cannot say whether it changed
 * (remote, in-memory) is always asked.
 */
export async function principalForRequest(database: Database, secret: string, nowMs: number): Promise<Principal | TokenProblem> {
  const stamp = database.changeStamp();
  if (stamp === null) return principalForSecret(database.db, secret, nowMs);
  const hash = sha256HexSync(secret);
  let kept = keptTokens.get(database);
  if (!kept) {
    kept = new Map();
    keptTokens.set(database, kept);
  }
  const hit = kept.get(hash);
  if (hit && hit.stamp === stamp) return principalOf(hit.found, nowMs);
  const [row] = await authQueries(database.db).plain.all({ hash });
  if (row) {
    kept.delete(hash);
    kept.set(hash, { stamp, found: row });
    if (kept.size > MAX_KEPT_TOKENS) kept.delete(kept.keys().next().value!);
  } else kept.delete(hash);
  return principalOf(row, nowMs);
}

function principalOf(found: { token: typeof tokens.$inferSelect; liveSessionId: string | null } | undefined, nowMs: number): Principal | TokenProblem {
  if (!found) return "unknown";
  const { token: row, liveSessionId } = found;
  if (!tokenIsLive(row, nowMs)) return "revoked";
  switch (row.kind) {
    case "owner":
      return { kind: "owner", tokenId: row.id };
    case "daemon":
      return { kind: "daemon", tokenId: row.id };
    case "runner":
      return { kind: "runner", tokenId: row.id, host: row.host ?? "" };
    case "session":
      if (!liveSessionId) return "session_gone";
      return { kind: "session", tokenId: row.id, sessionId: liveSessionId };
    case "hook":
      if (row.sessionId === null) return { kind: "hook", tokenId: row.id, sessionId: null, host: row.host ?? "" };
      if (!liveSessionId) return "session_gone";
      return { kind: "hook", tokenId: row.id, sessionId: liveSessionId, host: null };
  }
}

const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * Global middleware: reads the bearer token (if any) and records the principal on the context.
 * A mutation with an Idempotency-Key gets the token's stored use of that key read in the same
 * query; the idempotency middleware (lib/idempotency.ts) starts from it instead of reading again.
 */
export const resolvePrincipal: MiddlewareHandler<AppEnv> = async (c, next) => {
  const header = c.req.header("Authorization");
  const ctx = c.get("ctx");
  if (!header) {
    c.set("tokenProblem", "missing");
  } else {
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    const key = MUTATING.has(c.req.method) ? c.req.header("Idempotency-Key") : undefined;
    const prefetch = key !== undefined && key.length <= 200 ? key : undefined;
    const nowMs = ctx.now().getTime();
    const resolved = !m
      ? { principal: "unknown" as const, prior: null }
      : prefetch === undefined
        ? { principal: await principalForRequest(ctx.database, m[1]!, nowMs), prior: null }
        : await principalForSecret(ctx.db, m[1]!, nowMs, prefetch, true);
    if (typeof resolved.principal === "string") c.set("tokenProblem", resolved.principal);
    else {
      ctx.auth = resolved.principal;
      if (prefetch !== undefined) c.set("idempotencyPrior", { key: prefetch, row: resolved.prior });
    }
  }
  await next();
};

const PROBLEM_TEXT: Record<TokenProblem, [string, string]> = {
  missing: ["missing bearer token", "Send 'Authorization: Bearer <token>'; the owner token is in <home>/owner.token."],
  unknown: ["unknown bearer token", "Check the token you pasted; mint a new one with `switchyard token mint`."],
  revoked: ["this token has been revoked", "Ask the owner for a new token."],
  session_gone: ["this session token belongs to a deregistered session", "Register the session again to get a new token."],
};

/** Route middleware: refuses callers whose principal kind is not in `allowed`. */
export function requirePrincipal(allowed: readonly PrincipalKindOrAnon[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (allowed.includes("anonymous")) return next();
    const auth = c.get("ctx").auth;
    if (auth.kind === "anonymous") {
      const [message, hint] = PROBLEM_TEXT[c.get("tokenProblem") ?? "missing"];
      throw new ApiError("UNAUTHENTICATED", message, { hint });
    }
    if (!allowed.includes(auth.kind)) {
      throw new ApiError("FORBIDDEN", `${/^[aeiou]/.test(auth.kind) ? "an" : "a"} ${auth.kind} token may not call ${c.req.method} ${documentedRoute(c)}`, {
        hint: `This route accepts: ${allowed.join(", ")}.`,
      });
    }
    return next();
  };
}

/** The statement that stores a token, for callers that batch it with other writes. */
export async function tokenInsert(
  db: Db,
  input: { id: string; kind: PrincipalKind; nowMs: number; host?: string | null; sessionId?: string | null; label?: string | null },
) {
  const secret = makeSecret(input.kind);
  const row = {
    id: input.id,
    kind: input.kind,
    secretHash: await sha256Hex(secret),
    host: input.host ?? null,
    sessionId: input.sessionId ?? null,
    label: input.label ?? null,
    createdAt: input.nowMs,
    revokedAt: null,
  };
  return { id: input.id, stmt: db.insert(tokens).values(row), secret, row };
}

/** Owner tokens live at `nowMs`; used at start-up to decide whether one must be created. */
export async function liveOwnerTokenIds(db: Db, nowMs: number): Promise<string[]> {
  const rows = await db
    .select({ id: tokens.id })
    .from(tokens)
    .where(and(eq(tokens.kind, "owner"), liveTokenAt(nowMs)));
  return rows.map((r) => r.id);
}
