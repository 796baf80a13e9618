import { createRoute, z, type RouteConfig } from "@hono/zod-openapi";
import { requirePrincipal } from "./auth.ts";
import type { IdempotencyMode, PrincipalKindOrAnon } from "./ctx.ts";
import { deadline, deadlineLabel, type Deadline } from "./deadline.ts";
import { ERROR_CODES } from "./errors.ts";
import { idempotency } from "./idempotency.ts";
import { rateLimited } from "./rate-limit.ts";
import { discardChunkedBody, readJsonBody } from "./validation.ts";

/** The error envelope, documented once and referenced by every route. */
export const ErrorEnvelope = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODES as [string, ...string[]]),
      message: z.string(),
      hint: z.string().openapi({ description: "What to do next: the command or route to run, the value that is allowed" }),
      fields: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
    }),
  })
  .openapi("Error");

const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: ErrorEnvelope } },
});

/** Error responses every authenticated route can give. */
const COMMON_ERRORS = {
  400: errorResponse("Validation failed or malformed JSON"),
  401: errorResponse("Missing, unknown or revoked bearer token"),
  403: errorResponse("The caller's principal may not use this route"),
  404: errorResponse("A named resource does not exist"),
  409: errorResponse("The request conflicts with current state"),
  413: errorResponse("Request body too large"),
  422: errorResponse("The request is well-formed but cannot be applied"),
};

/** Every route except those that bound their own work can outlive the server's deadline. */
const TIMEOUT_ERROR = { 504: errorResponse("The request did not finish within the server's deadline (REQUEST_TIMEOUT)") };

const RATE_LIMIT_ERROR = {
  429: {
    ...errorResponse("The calling token used up its allowance on this route (RATE_LIMITED)"),
    headers: { "Retry-After": { description: "Seconds until the next call is allowed", schema: { type: "integer" as const } } },
  },
};

/** What defineRoute accepts besides the principals and the route itself. */
export interface RouteOptions {
  /** How the route treats Idempotency-Key (mutations only); default "pending". */
  idempotency?: IdempotencyMode;
  /**
   * An expensive route: each token's calls are limited (lib/rate-limit.ts). Published as
   * `x-rate-limited: true`; such routes document a 429.
   */
  rateLimited?: boolean;
  /** How long the route may run (lib/deadline.ts); default "default". Published as `x-deadline`. */
  deadline?: Deadline;
}

type Principals = readonly PrincipalKindOrAnon[];

const MUTATING = new Set(["post", "put", "patch", "delete"]);

const pascal = (word: string) =>
  word
    .split(/[-_]/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join("");

/**
 * The operationId of a route, derived from its method and path so it is stable and unique as
 * long as (method, path) is: `POST /broker/advice/{id}/approve` is `postBrokerAdviceByIdApprove`.
 * Client generators name their functions after it.
 */
export function operationIdOf(method: string, path: string): string {
  const parts = path
    .split("/")
    .filter(Boolean)
    .map((seg) => {
      const param = /^\{(.+)\}$/.exec(seg);
      return param ? `By${pascal(param[1]!)}` : pascal(seg);
    });
  return method.toLowerCase() + parts.join("");
}

/**
 * Declares an API route together with the principals allowed to call it. The principals are
 * enforced by middleware and published in the OpenAPI document as `x-principals`, which the
 * route × principal security test reads. A mutation also honours Idempotency-Key, after the
 * principal check: `idempotency: "atomic"` for a route whose domain function stores its
 * response with its write (lib/idempotency.ts `batchWithKey`), "pending" (the default) for
 * routes with side effects outside the database. Published as `x-idempotency`.
 *
 * Every route runs under a deadline (`opts.deadline`, lib/deadline.ts) that encloses everything
 * else, so work that outlives it still finishes and records its key; an expensive route
 * (`opts.rateLimited`) charges the calling token after the principal check and before the key
 * is claimed, so a refused caller is told 401/403 and a limited one burns no key.
 */
export function defineRoute<const R extends Omit<RouteConfig, "middleware" | "security">>(principals: Principals, config: R, opts: RouteOptions = {}) {
  const isPublic = principals.includes("anonymous");
  const keyed = !isPublic && MUTATING.has(config.method);
  const mode = opts.idempotency ?? "pending";
  const operationId = operationIdOf(config.method, config.path);
  const limit = opts.deadline ?? "default";
  const jsonBodied = Boolean((config.request?.body?.content as Record<string, unknown> | undefined)?.["application/json"]);
  // The middleware is attached at runtime only; leaving it out of the static type keeps the
  // handler's input types inferred from `config` alone.
  const full = {
    operationId,
    ...config,
    middleware: [
      deadline(limit),
      requirePrincipal(principals),
      ...(opts.rateLimited ? [rateLimited(`${config.method.toUpperCase()} ${config.path}`)] : []),
      // After the principal check (a refused caller's body is never read, not even a chunked
      // one: the app counts those as they are read), before the key's hash.
      ...(jsonBodied ? [readJsonBody] : [discardChunkedBody]),
      ...(keyed ? [idempotency(mode)] : []),
    ],
    security: isPublic ? [] : [{ bearer: [] }],
    "x-principals": [...principals],
    ...(keyed ? { "x-idempotency": mode } : {}),
    "x-deadline": deadlineLabel(limit),
    ...(opts.rateLimited ? { "x-rate-limited": true } : {}),
    responses: {
      ...(isPublic ? {} : COMMON_ERRORS),
      ...(opts.rateLimited ? RATE_LIMIT_ERROR : {}),
      ...(limit === "own" ? {} : TIMEOUT_ERROR),
      ...config.responses,
    },
  };
  return createRoute(full as unknown as R);
}

/** JSON body helper for route definitions. */
export function jsonBody<T extends z.ZodType>(schema: T, description?: string) {
  return { required: true, description, content: { "application/json": { schema } } } as const;
}

/** JSON 2xx response helper for route definitions. */
export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } } as const;
}
