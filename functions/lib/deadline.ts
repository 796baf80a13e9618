import type { MiddlewareHandler } from "hono";
import { timeout } from "hono/timeout";
import type { AppEnv } from "./env.ts";
import { ApiError } from "./errors.ts";

/** How long a request may take when Services.requestTimeoutMs is not set. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

/**
 * How long a route may run before the caller gets REQUEST_TIMEOUT:
 * - "default": the server's request deadline (Services.requestTimeoutMs);
 * - `{ longPollSeconds }`: a long poll, which may wait that long on top of the deadline;
 * - "own": the route bounds its work itself (a spawn's timeout_seconds, a plugin's or the
 *   drafter's timeout), so no server deadline applies.
 */
export type Deadline = "default" | { longPollSeconds: number } | "own";

/** The deadline as published in the OpenAPI document (`x-deadline`). */
export function deadlineLabel(d: Deadline): string {
  return typeof d === "string" ? d : `long-poll:${d.longPollSeconds}s`;
}

/**
 * Route middleware: answers 504 REQUEST_TIMEOUT once the deadline passes (hono/timeout). The
 * route's own work is not cancelled, only no longer waited for: it runs inside this middleware
 * (idempotency included), so a write it still makes is stored with its Idempotency-Key, and a
 * retry with that key replays the outcome instead of doing the work twice.
 */
export function deadline(d: Deadline): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (d === "own") return next();
    const base = c.get("services").requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    if (!(base > 0)) return next();
    const ms = typeof d === "string" ? base : base + d.longPollSeconds * 1000;
    const expired = () =>
      new ApiError("REQUEST_TIMEOUT", `${c.req.method} ${c.req.path} did not finish within ${ms} ms`, {
        hint: "The work may still complete. Retry with the same Idempotency-Key to get its outcome rather than a second run; the owner sets the deadline with SWITCHYARD_REQUEST_TIMEOUT_MS.",
      });
    return timeout(ms, expired)(c, next);
  };
}
