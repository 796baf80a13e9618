import type { Context, MiddlewareHandler } from "hono";
import type { Ctx, RateBuckets, RateLimit, Services } from "./ctx.ts";
import type { AppEnv } from "./env.ts";
import { ApiError } from "./errors.ts";

export type { RateLimit };

/**
 * Generous on purpose: an agent cycling or long-polling in a loop stays far below it; only a
 * runaway client (or a token used by many) reaches it.
 */
export const DEFAULT_RATE_LIMIT: RateLimit = { burst: 120, perMinute: 120 };

/** Buckets kept before full (idle) ones are dropped; a full bucket is the same as a new one. */
const PRUNE_AT = 10_000;

/**
 * Token buckets in this process's memory. A limit is therefore per process: several `up`
 * processes on one database each allow the full rate (docs/security.md says so). Time comes from
 * the caller (the injected clock), so tests move it instead of sleeping.
 */
export class RateLimiter implements RateBuckets {
  readonly #buckets = new Map<string, { level: number; at: number }>();

  /** Takes one call from `key`'s bucket: 0 when allowed, else the milliseconds until one is. */
  take(key: string, limit: RateLimit, nowMs: number): number {
    const perMs = limit.perMinute / 60_000;
    const b = this.#buckets.get(key) ?? { level: limit.burst, at: nowMs };
    // A clock set back (tests, NTP) refills nothing rather than draining.
    b.level = Math.min(limit.burst, b.level + Math.max(0, nowMs - b.at) * perMs);
    b.at = Math.max(b.at, nowMs);
    if (b.level >= 1) {
      b.level -= 1;
      this.#buckets.set(key, b);
      if (this.#buckets.size > PRUNE_AT) this.#prune(limit, nowMs);
      return 0;
    }
    this.#buckets.set(key, b);
    return perMs > 0 ? Math.ceil((1 - b.level) / perMs) : Number.POSITIVE_INFINITY;
  }

  #prune(limit: RateLimit, nowMs: number): void {
    const perMs = limit.perMinute / 60_000;
    for (const [key, b] of this.#buckets) {
      if (b.level + (nowMs - b.at) * perMs >= limit.burst) this.#buckets.delete(key);
    }
  }
}

/** The limit in force: Services.rateLimit, the default when unset, none when null or zero. */
function limitOf(services: Services): RateLimit | null {
  const limit = services.rateLimit === undefined ? DEFAULT_RATE_LIMIT : services.rateLimit;
  return limit && limit.burst > 0 && limit.perMinute > 0 ? limit : null;
}

/**
 * Charges one call of `routeKey` to the calling token, or throws RATE_LIMITED with Retry-After.
 * Anonymous callers are not charged (they reach only public routes, none of them expensive).
 */
export function chargeRateLimit(services: Services, ctx: Ctx, routeKey: string): void {
  if (ctx.auth.kind === "anonymous") return;
  const limit = limitOf(services);
  if (!limit) return;
  services.rateLimiter ??= new RateLimiter();
  const waitMs = services.rateLimiter.take(`${ctx.auth.tokenId}\u0000${routeKey}`, limit, ctx.now().getTime());
  if (waitMs === 0) return;
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  throw new ApiError("RATE_LIMITED", `rate limit reached on ${routeKey}: a token may make ${limit.burst} calls at once, then ${limit.perMinute} per minute`, {
    hint: `Retry after ${seconds} s (the Retry-After header). Each token has its own allowance per expensive route; the owner sets it with SWITCHYARD_RATE_BURST and SWITCHYARD_RATE_PER_MINUTE.`,
    headers: { "Retry-After": String(seconds) },
  });
}

/** Route middleware: charges every call of the route (after the principal check). */
export function rateLimited(routeKey: string): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    chargeRateLimit(c.get("services"), c.get("ctx"), routeKey);
    return next();
  };
}

/** For routes that are expensive only in one mode (an inbox read that waits): charge from the handler. */
export function chargeRequest(c: Context<AppEnv>, routeKey: string): void {
  chargeRateLimit(c.get("services"), c.get("ctx"), routeKey);
}
