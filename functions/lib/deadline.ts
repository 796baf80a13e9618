import type { MiddlewareHandler } from "hono";
import { timeout } from "hono/timeout";
import type { AppEnv } from "./env.ts";
import { REQUEST_ID_HEADER } from "./access-log.ts";
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

/** Who answers a request early when its deadline passes: set for each request by answerEarly. */
const earlyAnswers = new WeakMap<Request, (res: Response) => void>();

/**
 * Wraps an app's `fetch` so a route's deadline can answer the caller before the route finishes
 * (the `deadline` middleware hands its 504 here) while the request's own Hono context keeps
 * running untouched. The route's handler, its Idempotency-Key middleware and the access log then
 * see the real outcome, not the 504: hono/timeout finalised the shared context with the 504, so
 * a key middleware saw a failure, released a pending key (or stored nothing), and a retry ran the
 * work a second time.
 */
export function answerEarly<F extends (req: Request, ...rest: any[]) => Response | Promise<Response>>(fetch: F): F {
  return ((req: Request, ...rest: unknown[]) => {
    let answer!: (res: Response) => void;
    const early = new Promise<Response>((resolve) => {
      answer = resolve;
    });
    earlyAnswers.set(req, answer);
    const full = Promise.resolve(fetch(req, ...rest)).finally(() => earlyAnswers.delete(req));
    // After an early answer nobody awaits `full`; its failure was logged by the error handler.
    full.catch(() => {});
    return Promise.race([full, early]);
  }) as F;
}

/**
 * The early answer of a request as answerEarly registered it. Read by the app's first
 * middleware and kept in the context: the body limit replaces `c.req.raw` later on.
 */
export function earlyAnswerFor(req: Request): ((res: Response) => void) | undefined {
  return earlyAnswers.get(req);
}

/**
 * Route middleware: answers 504 REQUEST_TIMEOUT once the deadline passes. The route's own work is
 * not cancelled, only no longer waited for: the 504 goes to the caller through answerEarly and
 * this middleware keeps awaiting the route, so everything inside (the Idempotency-Key middleware
 * included) finishes with the route's real outcome. A retry with the same key then gets 409 while
 * the work still runs and its stored outcome once it finished, never a second run. Without
 * answerEarly (an app whose fetch is not wrapped) it falls back to hono/timeout.
 */
export function deadline(d: Deadline): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (d === "own") return next();
    const base = c.get("services").requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    if (!(base > 0)) return next();
    const ms = typeof d === "string" ? base : base + d.longPollSeconds * 1000;
    const expired = () =>
      new ApiError("REQUEST_TIMEOUT", `${c.req.method} ${c.req.path} did not finish within ${ms} ms`, {
        // A read has no work to finish and no key to retry with.
        hint:
          c.req.method === "GET"
            ? "Retry the read; if it keeps timing out, narrow it (a smaller limit, a filter). The owner sets the deadline with SWITCHYARD_REQUEST_TIMEOUT_MS."
            : "The work may still complete. Retry with the same Idempotency-Key to get its outcome rather than a second run (409 while it still runs); the owner sets the deadline with SWITCHYARD_REQUEST_TIMEOUT_MS.",
      });
    const answer = c.get("earlyAnswer");
    if (!answer) return timeout(ms, expired)(c, next);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const work = next();
    const passed = new Promise<true>((resolve) => {
      timer = setTimeout(() => resolve(true), ms);
    });
    try {
      if ((await Promise.race([work.then(() => false), passed])) === true) {
        const err = expired();
        c.set("deadlineAnswered", true);
        answer(
          new Response(JSON.stringify(err.toBody()), {
            status: err.status,
            headers: { "Content-Type": "application/json", ...(c.get("requestId") ? { [REQUEST_ID_HEADER]: c.get("requestId") } : {}) },
          }),
        );
      }
      await work;
    } finally {
      clearTimeout(timer);
    }
  };
}
