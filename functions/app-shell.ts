import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context, Hono, HonoRequest } from "hono";
import { HTTPException } from "hono/http-exception";
import { accessLog, cappedPath, requestIds } from "./lib/access-log.ts";
import { resolvePrincipal } from "./lib/auth.ts";
import { answerEarly, earlyAnswerFor } from "./lib/deadline.ts";
import { makeCtx, withFields, type Services } from "./lib/ctx.ts";
import type { AppEnv } from "./lib/env.ts";
import { ApiError, type ErrorCode } from "./lib/errors.ts";
import { sqliteErrorOf } from "./lib/sql.ts";
import { documentedRoute } from "./lib/validation.ts";

const DEFAULT_MAX_BODY = 1024 * 1024;

/**
 * The route groups in the order createApp mounts them, each with its mount prefix. The full app
 * (functions/app.ts) and the partial one the CLI builds (functions/app-partial.ts) both follow
 * this order, so a path that two groups could answer goes to the same handler in both.
 */
export const ROUTE_GROUPS = [
  ["health", "/"],
  ["sessions", "/v1"],
  ["tasks", "/v1"],
  ["bindings", "/v1"],
  ["discover", "/v1"],
  ["audit", "/v1"],
  ["admin", "/v1"],
  ["crons", "/v1"],
  ["observe", "/v1"],
  ["actuate", "/v1"],
  ["queue", "/v1"],
  ["messages", "/v1"],
  ["appLoop", "/v1"],
  ["broker", "/v1"],
  ["orchestrator", "/v1"],
  ["brokerRuns", "/v1"],
  ["brokerTick", "/v1"],
  ["patrol", "/v1"],
  ["gates", "/v1"],
  ["convoys", "/v1"],
  ["coordination", "/v1"],
  ["verdicts", "/v1"],
  ["supervision", "/v1"],
  ["loops", "/v1"],
  ["telemetry", "/v1"],
  ["transcripts", "/v1"],
  ["exports", "/v1"],
  ["dashboardApi", "/v1"],
  ["hooks", "/v1"],
] as const;

/** The name of one route group. */
export type RouteGroupName = (typeof ROUTE_GROUPS)[number][0];

/** A group's sub-app, whatever its exact route types (mounting does not care about them). */
export type GroupApp = OpenAPIHono<AppEnv, any, any> | Hono<AppEnv, any, any>;

/**
 * What a caller refused by the framework itself (not by our code) should do next, per code: the
 * envelope always carries a hint, so an agent is never left with a bare status.
 */
const FRAMEWORK_HINTS: Partial<Record<ErrorCode, (c: Context<AppEnv>) => string>> = {
  VALIDATION_FAILED: (c) => `See ${c.req.method} ${documentedRoute(c)} in /v1/openapi.json for the expected request.`,
  UNAUTHENTICATED: () => "Send 'Authorization: Bearer <token>'; the owner token is in <home>/owner.token.",
  FORBIDDEN: (c) => `The x-principals of ${c.req.method} ${documentedRoute(c)} in /v1/openapi.json lists the tokens that may call it.`,
  NOT_FOUND: () => "See /v1/openapi.json for the routes and the methods each accepts.",
  PAYLOAD_TOO_LARGE: () => "Send less data per request.",
  UNSUPPORTED_MEDIA_TYPE: () => "Send the body as JSON with Content-Type: application/json, or no body at all (read as {}).",
};

/** The hint of the INTERNAL answer: nothing the caller sent can fix it. */
const INTERNAL_HINT = "The server logged the details; retry later, and report the X-Request-Id of this answer if it persists.";

/** Maps a framework HTTPException (not thrown by us) onto our closed code set. */
function codeForStatus(e: HTTPException, c: Context<AppEnv>): ApiError {
  if (e.status === 400 && /malformed json/i.test(e.message)) {
    return new ApiError("MALFORMED_JSON", "the request body is not valid JSON", {
      hint: "Send a JSON object with Content-Type: application/json (an empty body counts as {}).",
    });
  }
  const byStatus: Partial<Record<number, ErrorCode>> = {
    400: "VALIDATION_FAILED",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
  };
  const code = byStatus[e.status] ?? "INTERNAL";
  if (code === "INTERNAL") return new ApiError(code, "internal error", { hint: INTERNAL_HINT });
  return new ApiError(code, e.message || code.toLowerCase(), { hint: FRAMEWORK_HINTS[code]?.(c) ?? INTERNAL_HINT });
}

/**
 * SQLite's answers that say the database itself cannot do the work (as opposed to a bug in the
 * request's handling), with what the operator should look at.
 */
const DATABASE_FAULTS: Array<[RegExp, string]> = [
  [/^SQLITE_READONLY/, "Check that the server's user can write the database file and its directory (its -wal and -shm files live beside it)."],
  [/^SQLITE_FULL/, "The disk holding the database is full: free space, then retry."],
  [/^SQLITE_(IOERR|CANTOPEN)/, "The database file could not be read or written: check the disk and the file's permissions."],
  [/^SQLITE_(CORRUPT|NOTADB)/, "The database file is damaged or not a database: run `switchyard db-doctor`, or restore it from a backup."],
];

/** The database fault behind `err` (its code, or one in its cause chain), or null. */
function databaseFault(err: unknown): ApiError | null {
  const e = sqliteErrorOf(err);
  const fault = e && DATABASE_FAULTS.find(([re]) => re.test(e.code));
  return e && fault ? new ApiError("DATABASE_UNAVAILABLE", `the database refused the work (${e.code}): ${e.message}`, { hint: fault[1] }) : null;
}

/** Renders every error as the envelope; unknown errors are logged and answered generically. */
function renderError(err: Error, c: Context<AppEnv>) {
  let api: ApiError;
  const fault = err instanceof ApiError || err instanceof HTTPException ? null : databaseFault(err);
  if (err instanceof ApiError) api = err;
  else if (err instanceof HTTPException) {
    api = codeForStatus(err, c);
    // Its hint says the details are in the log: put them there.
    if (api.code === "INTERNAL")
      c.get("ctx")?.log.error("unmapped framework error", { method: c.req.method, path: cappedPath(c.req.path), status: err.status, error: err.message });
  } else if (fault) {
    c.get("ctx")?.log.error("database fault", { method: c.req.method, path: cappedPath(c.req.path), error: String(err) });
    api = fault;
  } else {
    c.get("ctx")?.log.error("unhandled error", { method: c.req.method, path: cappedPath(c.req.path), error: err.stack ?? String(err) });
    api = new ApiError("INTERNAL", "internal error", { hint: INTERNAL_HINT });
  }
  return c.json(api.toBody(), api.status, api.headers);
}

/**
 * The app with its error handling and the middleware every request passes (request ids, the
 * request's ctx, the access log, the body limit, the principal) and no routes yet. createApp and
 * createPartialApp mount the route groups on it, so both answer a request the same way.
 */
export function createAppShell(services: Services) {
  const app = new OpenAPIHono<AppEnv>();
  app.onError(renderError);
  app.notFound((c) =>
    c.json(
      new ApiError("NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`, {
        hint: "See /v1/openapi.json for the routes and the methods each accepts.",
      }).toBody(),
      404,
    ),
  );

  app.use("*", requestIds);
  app.use("*", async (c, next) => {
    c.set("services", services);
    // Taken now: later middleware (the body limit) may replace the Request object it is keyed by.
    c.set("earlyAnswer", earlyAnswerFor(c.req.raw));
    const ctx = makeCtx(services, { kind: "anonymous" });
    // Everything the request logs carries its id, the one answered in X-Request-Id.
    ctx.log = withFields(ctx.log, { request_id: c.get("requestId") });
    c.set("ctx", ctx);
    await next();
  });
  app.use("*", accessLog);
  const maxBody = services.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const tooLarge = () => new ApiError("PAYLOAD_TOO_LARGE", `request body exceeds ${maxBody} bytes`, { hint: "Send less data per request." });
  // Asking for the body makes the Node adapter build the full Request object (a web stream over
  // the socket) on every request, which cost a POST about a quarter of its server time. A GET or
  // HEAD has no body (the Fetch API refuses one), and a body with a Content-Length and no chunked
  // encoding is judged by that header alone (the server's HTTP parser never hands on more than
  // that length). A chunked body is counted as it is read, by whoever reads it after the
  // principal check, and never buffered here: a caller without a token cannot make the server
  // hold a megabyte per connection. A TRACE's body the Node adapter drops.
  app.use("*", (c, next) => {
    if (c.req.method === "GET" || c.req.method === "HEAD") return next();
    const length = c.req.method === "TRACE" ? undefined : c.req.header("content-length");
    if (length !== undefined && c.req.header("transfer-encoding") === undefined) {
      if (Number.parseInt(length, 10) > maxBody) throw tooLarge();
      return next();
    }
    countBodyAsRead(c.req, maxBody, tooLarge);
    return next();
  });
  app.use("*", resolvePrincipal);
  // A route's deadline answers the caller early through this, leaving the request's context to
  // finish with the route's real outcome (lib/deadline.ts).
  app.fetch = answerEarly(app.fetch);
  return app;
}

/**
 * Replaces the request's body with one that passes its bytes on as they are read and fails the
 * read with `tooLarge()` once more than `max` have come. Nothing is read until a handler asks, so
 * a request refused before that (no principal, no route) costs no buffer.
 */
function countBodyAsRead(req: HonoRequest, max: number, tooLarge: () => Error): void {
  const raw = req.raw;
  if (!raw.body) return;
  let size = 0;
  const counted = raw.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, out) {
        size += chunk.byteLength;
        if (size > max) out.error(tooLarge());
        else out.enqueue(chunk);
      },
    }),
  );
  req.raw = new Request(raw, { body: counted, duplex: "half" } as RequestInit);
}
