// The wire types and the HTTP transport. The in-process one lives in in-process-transport.ts so a
// command sent to a server (--url) never loads the app, its schemas or the database driver.
import { request as httpRequest, type IncomingMessage } from "node:http";
import { queryText } from "../../functions/lib/query-text.ts";

/** One API call as the CLI describes it. */
export interface ApiRequest {
  method: "GET" | "POST";
  path: string;
  query?: Record<string, string | string[] | boolean | number | undefined>;
  body?: unknown;
  /** Sent as the Idempotency-Key header: a retry with the same key gets the first answer again. */
  idempotencyKey?: string;
}

/** The wire answer: HTTP status and parsed JSON body. */
export interface ApiResponse {
  status: number;
  body: any;
}

/** Sends API requests either in-process or over HTTP; the CLI does not care which. */
export interface Transport {
  send(req: ApiRequest): Promise<ApiResponse>;
  close(): Promise<void>;
}

/** The request's URL path and query, under /v1. */
export function buildPath(req: ApiRequest): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(req.query ?? {})) {
    if (v === undefined || v === false) continue;
    for (const item of Array.isArray(v) ? v : [v]) qs.append(k, queryText(item));
  }
  const q = qs.toString();
  return `/v1${req.path}${q ? `?${q}` : ""}`;
}

/** Parses a response's JSON body; a non-JSON body becomes an error envelope. */
export function parseBody(status: number, text: string): ApiResponse {
  let body: unknown = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = { error: { code: "INTERNAL", message: `non-JSON response (HTTP ${status}): ${text.slice(0, 200)}` } };
    }
  }
  return { status, body };
}

/** Reads a fetch Response's JSON body; a non-JSON body becomes an error envelope. */
export async function toResponse(res: Response): Promise<ApiResponse> {
  return parseBody(res.status, await res.text());
}

/** The fetch options for a request, with the bearer token when there is one. */
export function init(req: ApiRequest, token: string | null): RequestInit {
  const headers: Record<string, string> = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (req.body !== undefined) headers["Content-Type"] = "application/json";
  if (req.idempotencyKey !== undefined) headers["Idempotency-Key"] = req.idempotencyKey;
  return { method: req.method, headers, body: req.body === undefined ? undefined : JSON.stringify(req.body) };
}

/** How long a connection to the server may take to open. */
export const CONNECT_TIMEOUT_SECONDS = 10;
/** The server's own request deadline (functions/lib/deadline.ts DEFAULT_REQUEST_TIMEOUT_MS), in s. */
const SERVER_DEADLINE_SECONDS = 60;
/** Slack over what the server may take, for the answer to travel and a loaded machine. */
const MARGIN_SECONDS = 30;
/** Routes that bound their own work (a spawn's timeout, a patrol run, a plugin): up to 15 minutes. */
const OWN_DEADLINE_SECONDS = 16 * 60;
/**
 * The routes whose deadline is "own" (lib/deadline.ts), as method and path under /v1. A test
 * compares this list with the routes' published x-deadline, so a new one cannot be missed.
 */
export const OWN_DEADLINE_ROUTES: RegExp[] = [
  /^GET \/admin\/doctor$/,
  /^POST \/orchestrator\/watch$/,
  /^POST \/harvest\/[^/]+$/,
  /^POST \/patrol\/runs$/,
  /^POST \/patrol\/plugins\/[^/]+\/run$/,
  /^POST \/broker\/tick$/,
  /^POST \/crons\/[^/]+$/,
  /^POST \/sessions\/spawn$/,
  /^POST \/pairs$/,
  /^GET \/dashboard\/stream$/,
];

/**
 * How long to wait for the server's answer before giving up on it: what the server may take for
 * this request (its deadline, a long poll's wait on top of it, or a route's own bound) plus a
 * margin. The server's deadline is 60 s unless `SWITCHYARD_REQUEST_TIMEOUT_MS` here says more (0,
 * none: 16 minutes, as for the routes that bound their own work). `SWITCHYARD_HTTP_TIMEOUT`
 * (seconds) replaces it for every request.
 */
export function answerWithinSeconds(req: ApiRequest, env: NodeJS.ProcessEnv = process.env): number {
  const set = env.SWITCHYARD_HTTP_TIMEOUT;
  if (set !== undefined && set !== "") {
    const n = Number(set);
    if (!/^\d+(\.\d+)?$/.test(set.trim()) || !(n > 0) || n > 86_400) {
      throw new TransportError(`SWITCHYARD_HTTP_TIMEOUT must be a positive number of seconds (at most 86400), got '${set}'`, "Unset it to use the defaults.");
    }
    return n;
  }
  if (OWN_DEADLINE_ROUTES.some((r) => r.test(`${req.method} ${req.path}`))) return OWN_DEADLINE_SECONDS;
  // A server this machine configures with a longer deadline (or none) is waited for accordingly,
  // read as the server reads it (digits only); "none" still gets the longest bound a route has, so
  // a server that never answers cannot stall a command or a runner for good.
  const configured = env.SWITCHYARD_REQUEST_TIMEOUT_MS ?? "";
  const deadlineMs = /^\d+$/.test(configured) ? Number(configured) : SERVER_DEADLINE_SECONDS * 1000;
  const deadline = deadlineMs === 0 ? OWN_DEADLINE_SECONDS : Math.min(Math.max(deadlineMs / 1000, SERVER_DEADLINE_SECONDS), 86_400);
  const options = (req.method === "GET" ? req.query : req.body) as { wait?: unknown; timeout?: unknown } | undefined;
  const wait = options?.wait === true ? (typeof options.timeout === "number" ? options.timeout : 60) : 0;
  return deadline + wait + MARGIN_SECONDS;
}

/** Calls a running server over HTTP with a bearer token. */
export class HttpTransport implements Transport {
  constructor(
    readonly baseUrl: string,
    readonly token: string | null,
  ) {}
  async send(req: ApiRequest) {
    // Relative to the base so a server mounted under a path prefix keeps its prefix.
    const url = new URL(buildPath(req).slice(1), this.baseUrl.endsWith("/") ? this.baseUrl : `${this.baseUrl}/`);
    const { method, headers, body } = init(req, this.token) as { method: string; headers: Record<string, string>; body?: string };
    if (body !== undefined) headers["Content-Length"] = String(Buffer.byteLength(body));
    const within = answerWithinSeconds(req);
    // node:http rather than fetch: fetch loads undici, a fifth of a CLI call's start-up.
    try {
      // node:https (and TLS with it) loads only for an https URL: a read command's start-up is most of its time.
      const request = url.protocol === "https:" ? (await import("node:https")).request : url.protocol === "http:" ? httpRequest : null;
      if (!request) throw new Error(`unsupported protocol ${url.protocol}`);
      const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const onResponse = (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
          res.on("error", reject);
        };
        const r = request(url, { method, headers }, onResponse);
        r.on("error", reject);
        // A server that accepts the connection and never answers must not hang the command.
        const connecting = setTimeout(() => r.destroy(new NoAnswer("connect", CONNECT_TIMEOUT_SECONDS)), CONNECT_TIMEOUT_SECONDS * 1000);
        r.on("socket", (socket) => {
          if (!socket.connecting) clearTimeout(connecting);
          else socket.once("connect", () => clearTimeout(connecting));
        });
        r.on("close", () => clearTimeout(connecting));
        r.setTimeout(within * 1000, () => r.destroy(new NoAnswer("answer", within)));
        r.end(body);
      });
      return parseBody(status, text);
    } catch (e) {
      if (e instanceof NoAnswer) {
        throw new TransportError(
          e.phase === "connect"
            ? `cannot reach ${this.baseUrl}: no connection within ${e.seconds}s`
            : `no answer from ${this.baseUrl} within ${e.seconds}s: it accepted the connection but did not reply`,
          e.phase === "connect"
            ? "Check the address (--url or SWITCHYARD_URL) and that nothing in between drops the connection."
            : `Check that ${this.baseUrl} is a Switchyard server that is not stuck (curl ${this.baseUrl.replace(/\/$/, "")}/healthz), or allow longer with SWITCHYARD_HTTP_TIMEOUT=SECONDS.`,
        );
      }
      if (e instanceof TransportError) throw e;
      throw new TransportError(
        `cannot reach ${this.baseUrl}: ${(e as Error).message}`,
        "Is `switchyard up` running there? Check the address (--url or SWITCHYARD_URL).",
      );
    }
  }
  async close() {}
}

/**
 * A transport failure with what to check; the CLI prints `hint` under the error, as for its
 * HintedError (not imported: spec.ts imports this file's types).
 */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/** The server did not connect, or did not answer, in time. */
class NoAnswer extends Error {
  constructor(
    readonly phase: "connect" | "answer",
    readonly seconds: number,
  ) {
    super(`no ${phase} within ${seconds}s`);
  }
}
