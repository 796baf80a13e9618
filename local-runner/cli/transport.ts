// The wire types and the HTTP transport. The in-process one lives in in-process-transport.ts so a
// command sent to a server (--url) never loads the app, its schemas or the database driver.
import { request as httpRequest, type IncomingMessage } from "node:http";

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
    for (const item of Array.isArray(v) ? v : [v]) qs.append(k, String(item));
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
        r.end(body);
      });
      return parseBody(status, text);
    } catch (e) {
      throw new Error(`cannot reach ${this.baseUrl}: ${(e as Error).message}`);
    }
  }
  async close() {}
}
