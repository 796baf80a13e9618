import { and, eq, sql, type SQL } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Context, MiddlewareHandler } from "hono";
import { idempotencyKeys } from "../../schema/auth.ts";
import type { Ctx, IdempotencyMode, KeyScope, Principal } from "./ctx.ts";
import { ApiError } from "./errors.ts";
import { guardedInsert } from "./guarded.ts";
import { sha256Hex } from "./ids.ts";
import { withWriteTransaction, type Db } from "./db.ts";
import type { AppEnv } from "./env.ts";
import { isUniqueViolation } from "./sql.ts";

/*
 * Idempotency-Key, in short (docs/security.md has the long form):
 *
 * - A key belongs to the token that sent it (`token:<id>`): another token, even one of the same
 *   host or the same session, never sees its stored response.
 * - The stored response never holds a secret. Secrets (tokens minted by the request) appear in
 *   the live response only; a replay carries null in their place and names them in the
 *   `Idempotent-Secrets-Withheld` header.
 * - "atomic" routes store the final response in the same commit as their write (`batchWithKey`,
 *   or `txWithKey` for a write that reads inside its transaction), so after a crash a retry
 *   either replays the committed request or runs a request that never committed — never twice,
 *   and never a 409 for a write that did not happen. Concurrent duplicates both run up to that
 *   commit; the key's unique index lets one commit and the other then answers with the winner's
 *   response. Routes whose effects are only in the database are atomic (docs/security.md).
 * - "pending" routes (those whose side effects leave the database: typing into panes, spawning)
 *   first claim the key with a pending row, so a duplicate in flight gets 409 instead of a second
 *   side effect. A pending key left by a dead process is taken over after STALE_PENDING_MS.
 * - At most MAX_KEYS_PER_PRINCIPAL keys are kept per token (oldest dropped); the prune-history
 *   cron drops keys after its retention.
 */

const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * A pending key older than this belongs to a request whose process died before recording an
 * outcome (the longest legitimate request, a spawn, is capped at 15 minutes).
 */
export const STALE_PENDING_MS = 20 * 60 * 1000;

/** Keys kept per token; a token that sends more has its oldest dropped. */
export const MAX_KEYS_PER_PRINCIPAL = 1000;

/** A bearer secret as makeSecret writes it (`sy_<kind>_<hex>`). */
const SECRET = /^sy_[a-z]+_[0-9a-f]{32,}$/;

/** The principal an Idempotency-Key belongs to: the token that sent it. */
export function keyPrincipal(auth: Principal): string | null {
  return auth.kind === "anonymous" ? null : `token:${auth.tokenId}`;
}

/**
 * A JSON body with every bearer secret replaced by null, and the JSON paths of what was
 * replaced. What is stored for replay; the secret itself exists only hashed.
 */
export function withoutSecrets(body: string): { body: string; withheld: string[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { body, withheld: [] };
  }
  const withheld: string[] = [];
  const walk = (v: unknown, path: string): unknown => {
    if (typeof v === "string") {
      if (!SECRET.test(v)) return v;
      withheld.push(path);
      return null;
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}/${i}`));
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, `${path}/${k}`)]));
    return v;
  };
  const clean = walk(parsed, "");
  return withheld.length ? { body: JSON.stringify(clean), withheld } : { body, withheld };
}

function whereKey(scope: Pick<KeyScope, "principal" | "key">): SQL {
  return and(eq(idempotencyKeys.principal, scope.principal), eq(idempotencyKeys.key, scope.key))!;
}

/**
 * A value of the response that exists only once the batch ran (an integer id SQLite assigns):
 * the SQL that reads it back inside the same batch (index-served), and the JSON paths
 * (`$.decision_id`) of the response that carry it. The live response has it from RETURNING.
 */
export interface KeyFill {
  paths: string[];
  value: SQL;
}

/** The database, or the write transaction a keyed route's final write runs in. */
type KeyDb = Pick<Db, "insert" | "update" | "run">;

/** Drops a token's keys beyond the newest MAX_KEYS_PER_PRINCIPAL (index-served, bounded work). */
function boundStatement(db: KeyDb, principal: string) {
  return db.run(sql`DELETE FROM ${idempotencyKeys} WHERE ${idempotencyKeys.principal} = ${principal} AND ${idempotencyKeys.createdAt} <= (
    SELECT ${idempotencyKeys.createdAt} FROM ${idempotencyKeys} WHERE ${idempotencyKeys.principal} = ${principal}
    ORDER BY ${idempotencyKeys.createdAt} DESC LIMIT 1 OFFSET ${MAX_KEYS_PER_PRINCIPAL})`);
}

/**
 * The statements that store `rawBody` (secrets removed) as the final response of the request's
 * key: the pending row turns done, or (atomic) the row is created. `late` is for a response
 * stored after the request's write, where a concurrent winner's row must be left alone.
 */
function recordStatements(
  ctx: Ctx,
  scope: KeyScope,
  status: number,
  rawBody: string,
  late = false,
  db: KeyDb = ctx.db,
  fill?: KeyFill,
  guard?: SQL,
): BatchItem<"sqlite">[] {
  const { body, withheld } = withoutSecrets(rawBody);
  const stored = fill
    ? sql`json_set(${body}, ${sql.join(
        fill.paths.map((p) => sql`${p}, (${fill.value})`),
        sql`, `,
      )})`
    : body;
  const done = { state: "done" as const, statusCode: status, responseBody: stored, secretsWithheld: withheld.length ? withheld.join(",") : null };
  if (scope.mode === "pending")
    return [
      db
        .update(idempotencyKeys)
        .set(done)
        .where(guard ? and(whereKey(scope), guard) : whereKey(scope)),
      boundStatement(db, scope.principal),
    ];
  const values = {
    principal: scope.principal,
    key: scope.key,
    method: scope.method,
    path: scope.path,
    requestHash: scope.requestHash,
    createdAt: ctx.now().getTime(),
    ...done,
  };
  // Not OR IGNORE: a duplicate of this request that committed first must fail this batch whole,
  // or its other writes would commit with no key to show for them (two claims for one key).
  if (guard) return [guardedInsert(db as Db, idempotencyKeys, values, guard, { orIgnore: false }), boundStatement(db, scope.principal)];
  const insert = db.insert(idempotencyKeys).values(values);
  return [late ? insert.onConflictDoNothing() : insert, boundStatement(db, scope.principal)];
}

/**
 * Runs the request's final write batch and, when the request carries an Idempotency-Key, stores
 * `response` as the key's final response in the same batch: a crash after the commit leaves a
 * key that replays, a crash before it leaves nothing. Call it once, for the write that makes the
 * request's outcome; domain functions take a `respond` status only when their caller is the
 * route whose response this is. Returns the results of `stmts`.
 *
 * `fill` puts values SQLite assigns in that batch (integer ids) into the stored response.
 * `guard` stores the response only where the batch's conditional change won (the EXISTS test of
 * lib/guarded.ts); the request is marked recorded only if it was stored, so a lost race that
 * ends in an error leaves no stored answer and the middleware finishes the key as for any failure.
 */
export async function batchWithKey<T extends BatchItem<"sqlite">[]>(
  ctx: Ctx,
  stmts: [...T],
  response?: { body: unknown; status: number; fill?: KeyFill; guard?: SQL },
) {
  const scope = ctx.idempotency;
  const record =
    scope && !scope.recorded && response
      ? recordStatements(ctx, scope, response.status, JSON.stringify(response.body), false, ctx.db, response.fill, response.guard)
      : [];
  if (record.length) await ctx.hooks?.beforeKeyCommit?.();
  const results = await ctx.db.batch([...stmts, ...record] as unknown as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  if (scope && record.length) {
    // Guarded, the key's row went in only where the change won: its own count says which.
    if (!response?.guard || (results[stmts.length] as { rowsAffected?: number } | undefined)?.rowsAffected === 1) scope.recorded = true;
    ctx.hooks?.afterKeyCommit?.();
  }
  return results.slice(0, stmts.length) as unknown as { [K in keyof T]: Awaited<T[K]> };
}

/** The transaction handle `withWriteTransaction` passes to its callback. */
type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

/**
 * `batchWithKey` for a final write that has to read inside its transaction (a conditional change
 * whose audit row or follow-up depends on what it found): runs `fn` in one write transaction and,
 * when the request carries an Idempotency-Key and `respond` maps the outcome to the route's
 * response, stores that response as the transaction's last write. The commit carries both or
 * neither, as with `batchWithKey`. `respond` is omitted by callers that are not the route.
 */
export async function txWithKey<T>(ctx: Ctx, fn: (tx: Tx) => Promise<T>, respond?: (out: T) => { body: unknown; status: number } | undefined): Promise<T> {
  const scope = ctx.idempotency;
  let stored = false;
  const out = await withWriteTransaction(ctx.db, async (tx) => {
    stored = false;
    const value = await fn(tx);
    const response = scope && !scope.recorded && respond ? respond(value) : undefined;
    if (scope && response) {
      await ctx.hooks?.beforeKeyCommit?.();
      for (const stmt of recordStatements(ctx, scope, response.status, JSON.stringify(response.body), false, tx)) await stmt;
      stored = true;
    }
    return value;
  });
  if (scope && stored) {
    scope.recorded = true;
    ctx.hooks?.afterKeyCommit?.();
  }
  return out;
}

/**
 * The stored response, as the replay of a retried request. Rows stored before secrets were
 * withheld are cleaned on the way out too.
 */
function replay(c: Context<AppEnv>, prior: typeof idempotencyKeys.$inferSelect): Response {
  const { body, withheld } = withoutSecrets(prior.responseBody ?? "null");
  const names = [...(prior.secretsWithheld ? prior.secretsWithheld.split(",") : []), ...withheld];
  const headers: Record<string, string> = { "Content-Type": "application/json", "Idempotent-Replayed": "true" };
  if (names.length) headers["Idempotent-Secrets-Withheld"] = names.join(",");
  return c.body(body, (prior.statusCode ?? 200) as 200, headers);
}

const mismatch = () =>
  new ApiError("IDEMPOTENCY_MISMATCH", "this Idempotency-Key was already used for a different request", {
    hint: "Use a new key for a new request; reuse a key only to retry the identical request.",
  });
const inProgress = () => new ApiError("IDEMPOTENCY_IN_PROGRESS", "a request with this Idempotency-Key is still running", { hint: "Retry after it finishes." });

/**
 * The error an atomic route throws when its conditional write lost to a duplicate of the request
 * (same token, same key) that committed first: the middleware then answers with that duplicate's
 * stored response when it is the same request, and with this 409 otherwise.
 */
export const keyInProgress = inProgress;

/** Whether the request's key has a row now: a duplicate of the request committed (index-served). */
export async function keyTaken(ctx: Ctx, scope: Pick<KeyScope, "principal" | "key">): Promise<boolean> {
  const [row] = await ctx.db.select({ key: idempotencyKeys.key }).from(idempotencyKeys).where(whereKey(scope)).limit(1);
  return !!row;
}

/** Re-arms a stale pending key for this request; one conditional UPDATE so only one retry wins. */
async function takeOverStale(ctx: Ctx, scope: KeyScope, priorCreatedAt: number): Promise<boolean> {
  const nowMs = ctx.now().getTime();
  if (nowMs - priorCreatedAt < STALE_PENDING_MS) return false;
  const won = await ctx.db
    .update(idempotencyKeys)
    .set({ createdAt: nowMs, requestHash: scope.requestHash })
    .where(and(whereKey(scope), eq(idempotencyKeys.state, "pending"), eq(idempotencyKeys.createdAt, priorCreatedAt)))
    .returning({ key: idempotencyKeys.key });
  return won.length === 1;
}

/**
 * What an earlier use of the key means for this request: a Response to answer with (replay),
 * an error (mismatch, still running), or null when this request should run (a stale pending
 * key it has just taken over).
 */
async function settlePrior(c: Context<AppEnv>, ctx: Ctx, scope: KeyScope, prior: typeof idempotencyKeys.$inferSelect): Promise<Response | null> {
  if (prior.requestHash !== scope.requestHash) throw mismatch();
  if (prior.state === "done") return replay(c, prior);
  if (await takeOverStale(ctx, scope, prior.createdAt)) {
    // This request now holds the pending row: it finishes it like a pending-mode request.
    scope.mode = "pending";
    return null;
  }
  throw inProgress();
}

/**
 * Route middleware (added by defineRoute after the principal check) honouring Idempotency-Key on
 * mutations. See the notes at the top of this file for the two modes.
 */
export function idempotency(mode: IdempotencyMode): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const key = c.req.header("Idempotency-Key");
    if (!key || !MUTATING.has(c.req.method)) return next();
    if (key.length > 200) {
      throw new ApiError("VALIDATION_FAILED", "Idempotency-Key is longer than 200 characters", {
        hint: "Use a key of at most 200 characters, e.g. a UUID.",
        fields: [{ field: "Idempotency-Key", message: "at most 200 characters" }],
      });
    }
    const ctx = c.get("ctx");
    const principal = keyPrincipal(ctx.auth);
    if (!principal) return next();
    const path = new URL(c.req.url).pathname;
    const scope: KeyScope = {
      principal,
      key,
      method: c.req.method,
      path,
      requestHash: await sha256Hex(`${c.req.method} ${path}\n${await c.req.text()}`),
      mode,
      recorded: false,
    };
    const where = whereKey(scope);

    if (mode === "pending") {
      // Twice at most: a first request that failed and released the key in between frees it.
      for (let attempt = 1; ; attempt++) {
        try {
          await ctx.db.insert(idempotencyKeys).values({ ...scope, state: "pending", createdAt: ctx.now().getTime() });
          break;
        } catch (e) {
          if (!isUniqueViolation(e)) throw e;
        }
        const [prior] = await ctx.db.select().from(idempotencyKeys).where(where).limit(1);
        if (!prior) {
          if (attempt < 2) continue;
          throw inProgress();
        }
        const settled = await settlePrior(c, ctx, scope, prior);
        if (settled) return settled;
        break;
      }
    } else {
      // Atomic: nothing is written before the request's own write, which carries the key. The
      // key's row was usually read with the token already (resolvePrincipal); else read it now.
      const prefetched = c.get("idempotencyPrior");
      const [prior] = prefetched?.key === key ? (prefetched.row ? [prefetched.row] : []) : await ctx.db.select().from(idempotencyKeys).where(where).limit(1);
      if (prior) {
        const settled = await settlePrior(c, ctx, scope, prior);
        if (settled) return settled;
      }
    }
    return run();

    async function run() {
      ctx.idempotency = scope;
      if (scope.mode === "pending") await ctx.hooks?.afterKeyClaimed?.();
      await next();
      if (scope.recorded) return;
      const res = c.res;
      const ok = !!res && res.status >= 200 && res.status < 300 && !c.error;
      if (ok) {
        // A route that did not store its response with its write (no write, or a path that
        // ends elsewhere): store it now.
        const stmts = recordStatements(ctx, scope, res.status, await res.clone().text(), true);
        const [stored] = (await ctx.db.batch(stmts as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]])) as unknown as [{ rowsAffected?: number }];
        // Atomic and late: a duplicate of this request that committed first kept its row. Its
        // answer is the key's, so this request gives the same one (a consume that found nothing
        // while its twin took an item answers with that item).
        if (scope.mode === "atomic" && stored?.rowsAffected === 0) await answerAsWinner(false);
        return;
      }
      if (scope.mode === "pending") {
        // A failed request changed nothing, so the caller may fix it and retry with the same key.
        await ctx.db.delete(idempotencyKeys).where(and(where, eq(idempotencyKeys.state, "pending")));
        return;
      }
      // Atomic and failed: a concurrent request with the same key may have committed first (its
      // key row is why this one's batch failed). Then this request's answer is that one's, or,
      // when that one was a different request, the mismatch a later retry would get.
      await answerAsWinner(true);
    }

    /**
     * Answers with the response a duplicate that committed the key first stored; with
     * `mismatch`, a different request's key answers IDEMPOTENCY_MISMATCH (this one wrote nothing).
     */
    async function answerAsWinner(withMismatch: boolean) {
      const [winner] = await ctx.db.select().from(idempotencyKeys).where(where).limit(1);
      if (winner?.state === "done" && winner.requestHash === scope.requestHash) c.res = replay(c, winner);
      else if (withMismatch && winner && winner.requestHash !== scope.requestHash) {
        const m = mismatch();
        c.res = c.json(m.toBody(), m.status);
      }
    }
  };
}
