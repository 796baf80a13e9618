import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { AppEnv } from "./env.ts";

/** The header that carries a request's id both ways. */
export const REQUEST_ID_HEADER = "X-Request-Id";

/** A caller's request id we accept: short, plain characters. */
const CLIENT_REQUEST_ID = /^[\w.:=-]{1,64}$/;

/** Text that looks like a bearer secret (`sy_<kind>_<hex>`, lib/ids.ts), or the start of one. */
const SECRET_LIKE = /sy_[a-z]+_[0-9a-z]*/gi;

/** Whether a caller's X-Request-Id may be echoed and logged: plain, short, and not a secret. */
export function acceptableRequestId(id: string | undefined): id is string {
  if (!id || !CLIENT_REQUEST_ID.test(id)) return false;
  SECRET_LIKE.lastIndex = 0;
  return !SECRET_LIKE.test(id);
}

/** `text` with every secret-looking run replaced, so a token pasted into a URL is not logged. */
export function scrubSecrets(text: string): string {
  return text.replace(SECRET_LIKE, "[secret]");
}

/**
 * Gives every request an id: the caller's `X-Request-Id` when it is 1–64 letters, digits, `.`,
 * `_`, `:`, `=` or `-` and does not look like a bearer secret (a client that pasted its token
 * there would see it echoed and logged), else a fresh UUID. It is answered in the same header
 * and carried by every log entry of the request.
 */
export const requestIds: MiddlewareHandler<AppEnv> = async (c, next) => {
  const given = c.req.header(REQUEST_ID_HEADER);
  const id = acceptableRequestId(given) ? given : crypto.randomUUID();
  c.set("requestId", id);
  c.header(REQUEST_ID_HEADER, id);
  await next();
};

const MAX_PATH = 256;

/** A request path as logged: secret-looking runs replaced, capped at MAX_PATH characters. */
export function cappedPath(path: string): string {
  const clean = scrubSecrets(path);
  return clean.length > MAX_PATH ? `${clean.slice(0, MAX_PATH)}…` : clean;
}

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
      // Capped: a hostile client may send a path of any length, or paste a token into it.
      path: cappedPath(c.req.path),
      // After a deadline's early 504 the caller got that, and the route's own outcome came later.
      status: c.get("deadlineAnswered") ? 504 : c.res.status,
      ...(c.get("deadlineAnswered") ? { completed_status: c.res.status } : {}),
      duration_ms: Math.round((performance.now() - started) * 10) / 10,
      principal: auth.kind,
      token_id: auth.kind === "anonymous" ? null : auth.tokenId,
    });
  }
};
