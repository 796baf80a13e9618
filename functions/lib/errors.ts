import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** The closed set of error codes the API answers with, and the HTTP status of each. */
export const ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  MALFORMED_JSON: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  NAME_TAKEN: 409,
  ALREADY_BOUND: 409,
  SESSION_BOUND: 409,
  SESSION_INACTIVE: 409,
  IDEMPOTENCY_IN_PROGRESS: 409,
  CONFLICT: 409,
  TRANSCRIPT_TAKEN: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  ROLE_MISMATCH: 422,
  IDEMPOTENCY_MISMATCH: 422,
  PATH_NOT_FOUND: 422,
  PATH_NOT_ALLOWED: 422,
  PANE_NOT_OWNED: 422,
  SPAWN_FAILED: 422,
  AGENT_NOT_SIGNED_IN: 422,
  NOT_ADVICE_REQUEST: 422,
  APPROVAL_TOKEN_INVALID: 422,
  /** A supervision policy (manager permission, finish gate, loop guardrail) refused the action. */
  POLICY_REFUSED: 422,
  /** The caller's token used up its allowance on an expensive route; Retry-After says when to retry. */
  RATE_LIMITED: 429,
  HOST_UNAVAILABLE: 503,
  /** The database refused the work: read-only, full, damaged or not a database. Nothing was changed. */
  DATABASE_UNAVAILABLE: 503,
  /** The request outlived the server's deadline; its work may still finish (retry with the same Idempotency-Key). */
  REQUEST_TIMEOUT: 504,
  INTERNAL: 500,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof ERROR_STATUS;
export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

/** One offending field in a validation error. */
export interface FieldIssue {
  field: string;
  message: string;
}

/** What an ApiError carries besides its code and message. */
export interface ApiErrorOptions {
  /**
   * What the caller should do next: the command or route to run, the value that is allowed.
   * Required: the caller is often an agent, and a refusal that does not say how to get past it
   * leaves it guessing.
   */
  hint: string;
  fields?: FieldIssue[];
  /** Response headers that belong to the error (Retry-After of RATE_LIMITED). */
  headers?: Record<string, string>;
}

/** The error every handler and domain function throws; `onError` renders it as the envelope. */
export class ApiError extends HTTPException {
  readonly code: ErrorCode;
  readonly hint: string;
  readonly fields?: FieldIssue[];
  /** Response headers that belong to the error (Retry-After of RATE_LIMITED). */
  readonly headers?: Record<string, string>;

  constructor(code: ErrorCode, message: string, opts: ApiErrorOptions) {
    super(ERROR_STATUS[code], { message });
    this.code = code;
    this.hint = opts.hint;
    this.fields = opts.fields;
    this.headers = opts.headers;
  }

  /** The wire envelope for this error. */
  toBody() {
    return {
      error: {
        code: this.code,
        message: this.message,
        hint: this.hint,
        ...(this.fields ? { fields: this.fields } : {}),
      },
    };
  }
}

/** Shorthand for the most common refusal; the hint says where to find the names that exist. */
export function notFound(what: string, name: string, hint: string): ApiError {
  return new ApiError("NOT_FOUND", `${what} '${name}' not found`, { hint });
}
