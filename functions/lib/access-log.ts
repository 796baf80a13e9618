import type { Context, MiddlewareHandler } from "hono";
import { requestId } from "hono/request-id";
import { matchedRoutes } from "hono/route";
import type { AppEnv } from "./env.ts";

/** The header that carries a request's id both ways. */
export const REQUEST_ID_HEADER = "X-Request-Id";

/**
 * Gives every request an id: the caller's `X-Request-Id` when it is well-formed (letters,
 * digits, `_`, `-`, `=`; at most 128 characters), else a fresh UUID. It is answered in the same
 * header and carried by every log entry of the request (hono/request-id).
 */
export const requestIds = requestId({ headerName: REQUEST_ID_HEADER, limitLength: 128 });

const MAX_PATH = 256;

/** The route pattern that answered (`/v1/tasks/:name/cycle`), or null when none matched. */
function routeOf(c: Context<AppEnv>): string | null {
  const routes = matchedRoutes(c).filter((r) => r.method !== "ALL");
  return routes.at(-1)?.path ?? null;
}

/**
 * One `request` entry per request on the request's logger, written when the answer is ready:
 * id (bound on the logger), method, route pattern, path (never the query string, which may carry
 * anything), status, duration, and who called (principal kind and token id). Never a header, a
 * token or a body: the entry is built from these fields only.
 */
export const accessLog: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started = performance.now();
  try {
    await next();
  } finally {
    const ctx = c.get("ctx");
    const auth = ctx.auth;
    ctx.log.info("request", {
      method: c.req.method,
      route: routeOf(c),
      // Capped: a hostile client may send a path of any length.
      path: c.req.path.length > MAX_PATH ? `${c.req.path.slice(0, MAX_PATH)}…` : c.req.path,
      // After a deadline's early 504 the caller got that, and the route's own outcome came later.
      status: c.get("deadlineAnswered") ? 504 : c.res.status,
      ...(c.get("deadlineAnswered") ? { completed_status: c.res.status } : {}),
      duration_ms: Math.round((performance.now() - started) * 10) / 10,
      principal: auth.kind,
      token_id: auth.kind === "anonymous" ? null : auth.tokenId,
    });
  }
};
