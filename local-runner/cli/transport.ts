// The wire types and the HTTP transport. The in-process one lives in in-process-transport.ts so a
// command sent to a server (--url) never loads the app, its schemas or the database driver.

/** One API call as the CLI describes it. */
export interface ApiRequest {
  method: "GET" | "POST";
  path: string;
  query?: Record<string, string | string[] | boolean | number | undefined>;
  body?: unknown;
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

/** Reads a response's JSON body; a non-JSON body becomes an error envelope. */
export async function toResponse(res: Response): Promise<ApiResponse> {
  const text = await res.text();
  let body: unknown = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = { error: { code: "INTERNAL", message: `non-JSON response (HTTP ${res.status}): ${text.slice(0, 200)}` } };
    }
  }
  return { status: res.status, body };
}

/** The fetch options for a request, with the bearer token when there is one. */
export function init(req: ApiRequest, token: string | null): RequestInit {
  const headers: Record<string, string> = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (req.body !== undefined) headers["Content-Type"] = "application/json";
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
    let res: Response;
    try {
      res = await fetch(url, init(req, this.token));
    } catch (e) {
      throw new Error(`cannot reach ${this.baseUrl}: ${(e as Error).message}`);
    }
    return toResponse(res);
  }
  async close() {}
}
