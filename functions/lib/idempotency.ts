import { and, eq, type SQL } from "drizzle-orm";
import type { MiddlewareHandler } from "hono";
import { idempotencyKeys } from "../../schema/auth.ts";
import { actorOf, type Ctx } from "./ctx.ts";
import { ApiError } from "./errors.ts";
import { sha256Hex } from "./ids.ts";
import type { AppEnv } from "./env.ts";
import { isUniqueViolation } from "./sql.ts";

const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * A pending key older than this belongs to a request whose process died before recording an
 * outcome (the longest legitimate request, a spawn, is capped at 15 minutes).
 */
export const STALE_PENDING_MS = 20 * 60 * 1000;

/** A bearer secret (session, daemon, runner, owner or approval token) in a JSON body. */
export const SECRET_IN_BODY = /"(?:token|secret)"\s*:\s*"sy_/;

/**
 * How long a response that carries a secret can be replayed. Long enough for a client to retry
 * a request whose answer it lost; after that the secret exists only hashed again (the
 * prune-history cron also clears such bodies).
 */
export const SECRET_REPLAY_MS = 10 * 60 * 1000;

/** Re-arms a stale pending key for this request; one conditional UPDATE so only one retry wins. */
async function takeOverStale(ctx: Ctx, where: SQL | undefined, priorCreatedAt: number): Promise<boolean> {
  const nowMs = ctx.now().getTime();
  if (nowMs - priorCreatedAt < STALE_PENDING_MS) return false;
  const won = await ctx.db
    .update(idempotencyKeys)
    .set({ createdAt: nowMs })
    .where(and(where, eq(idempotencyKeys.state, "pending"), eq(idempotencyKeys.createdAt, priorCreatedAt)))
    .returning({ key: idempotencyKeys.key });
  return won.length === 1;
}

/**
 * Honours `Idempotency-Key` on mutations: the first request with a key runs and its 2xx
 * response is stored; a retry with the same key and body gets the stored response; the same
 * key with a different body is refused. Keys are scoped to the calling principal.
 */
export const idempotency: MiddlewareHandler<AppEnv> = async (c, next) => {
  const key = c.req.header("Idempotency-Key");
  if (!key || !MUTATING.has(c.req.method)) return next();
  if (key.length > 200) {
    throw new ApiError("VALIDATION_FAILED", "Idempotency-Key is longer than 200 characters", {
      fields: [{ field: "Idempotency-Key", message: "at most 200 characters" }],
    });
  }
  const ctx = c.get("ctx");
  const principal = actorOf(ctx.auth);
  const path = new URL(c.req.url).pathname;
  const requestHash = await sha256Hex(`${c.req.method} ${path}\n${await c.req.text()}`);
  const where = and(eq(idempotencyKeys.principal, principal), eq(idempotencyKeys.key, key));

  try {
    await ctx.db.insert(idempotencyKeys).values({
      principal,
      key,
      method: c.req.method,
      path,
      requestHash,
      state: "pending",
      createdAt: ctx.now().getTime(),
    });
  } catch (e) {
    if (!isUniqueViolation(e)) throw e;
    const [prior] = await ctx.db.select().from(idempotencyKeys).where(where).limit(1);
    if (!prior) throw new ApiError("IDEMPOTENCY_IN_PROGRESS", "a request with this Idempotency-Key just finished failing", { hint: "Retry the request." });
    if (prior.requestHash !== requestHash) {
      throw new ApiError("IDEMPOTENCY_MISMATCH", "this Idempotency-Key was already used for a different request", {
        hint: "Use a new key for a new request; reuse a key only to retry the identical request.",
      });
    }
    if (prior.state === "pending") {
      if (!(await takeOverStale(ctx, where, prior.createdAt))) {
        throw new ApiError("IDEMPOTENCY_IN_PROGRESS", "a request with this Idempotency-Key is still running", { hint: "Retry after it finishes." });
      }
    } else {
      if (prior.responseBody === null || (SECRET_IN_BODY.test(prior.responseBody) && ctx.now().getTime() - prior.createdAt > SECRET_REPLAY_MS)) {
        throw new ApiError("CONFLICT", "the request with this Idempotency-Key already succeeded; its response held a secret, which is no longer kept", {
          hint: "Look the result up instead (e.g. switchyard sessions / token list); send a new key to do it again.",
        });
      }
      return c.body(prior.responseBody, (prior.statusCode ?? 200) as 200, {
        "Content-Type": "application/json",
        "Idempotent-Replayed": "true",
      });
    }
  }

  try {
    await next();
  } finally {
    const res = c.res;
    if (res && res.status >= 200 && res.status < 300 && !c.error) {
      const body = await res.clone().text();
      await ctx.db.update(idempotencyKeys).set({ state: "done", statusCode: res.status, responseBody: body }).where(where);
    } else {
      // A failed request changed nothing, so the caller may fix it and retry with the same key.
      await ctx.db.delete(idempotencyKeys).where(where);
    }
  }
};
