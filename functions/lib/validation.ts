import type { Hook } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "./env.ts";
import { ApiError } from "./errors.ts";

/**
 * The route of a request as /v1/openapi.json spells it (`/v1/tasks/{name}`, not Hono's
 * `/v1/tasks/:name`), so a hint that names it can be looked up there; the request's own path
 * where no route matched.
 */
export function documentedRoute(c: Context): string {
  const pattern = c.req.routePath;
  return pattern.includes("*") ? c.req.path : pattern.replace(/:(\w+)/g, "{$1}");
}

/** The media types Hono's JSON validator reads: application/json and application/*+json. */
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;
/**
 * A JSON Content-Type header as zod-openapi's media-type check accepts it: the media type and
 * `; name=value` parameters only. A stray `;` or a space before one fails that check (415) though
 * the media type is JSON; such a header is rewritten to plain application/json.
 */
const WELL_FORMED_JSON_TYPE = /^application\/([a-z-.]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i;
/** The characters JSON counts as whitespace (String#trim would also take NBSP, BOM, …). */
const JSON_WHITESPACE_ONLY = /^[ \t\n\r]*$/;

/**
 * Reads a JSON route's body the way a caller means it:
 * - An empty body (none at all, or JSON whitespace only, sent untyped or as JSON) reads as `{}`.
 *   A client (often an agent) calling a route whose fields are all optional expects that to mean
 *   "all defaults"; left alone, JSON.parse("") is answered MALFORMED_JSON, and a route whose body
 *   is optional (`required: false`) hands its handler an unvalidated `{}` without the schema's
 *   defaults. The route's validator then applies the schema as to any body (a route with
 *   required fields answers VALIDATION_FAILED naming them), and an Idempotency-Key hashes the
 *   same body whether the caller sent nothing, whitespace or `{}`.
 * - An untyped body that is not empty is read as JSON, and a JSON media type whose header
 *   zod-openapi would refuse for its punctuation (`application/json;`) is read as JSON too.
 * - A body that is not empty is checked before it is read:
 *   - compressed (any Content-Encoding but identity, any Transfer-Encoding but chunked):
 *     UNSUPPORTED_MEDIA_TYPE naming the encoding, since the server does not inflate bodies and
 *     MALFORMED_JSON would send the caller looking at their JSON;
 *   - declared in a charset other than UTF-8 (any of its charset parameters) and not plain
 *     ASCII: UNSUPPORTED_MEDIA_TYPE naming the charset, since the server does not transcode;
 *   - not valid UTF-8: MALFORMED_JSON, rather than stored with U+FFFD in place of its bytes.
 * A body under another media type is left to the route's media-type check.
 */
export const readJsonBody: MiddlewareHandler<AppEnv> = async (c, next) => {
  // An empty header counts as none: zod-openapi reads both as "no body" and, on a route whose
  // body is optional, hands the handler an unvalidated {} whatever the body holds.
  const type = c.req.header("content-type")?.trim() || undefined;
  if (type !== undefined && !JSON_MEDIA_TYPE.test(type.split(";")[0]!.trim())) return next();
  // Read through the request's body cache, so the validator after this reads the same bytes.
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  let text: string | null;
  try {
    text = STRICT_UTF8.decode(bytes);
  } catch {
    text = null;
  }
  const empty = text !== null && JSON_WHITESPACE_ONLY.test(text);
  if (!empty) {
    const encoding = bodyEncoding(c.req.header("content-encoding"), c.req.header("transfer-encoding"));
    if (encoding) {
      throw new ApiError("UNSUPPORTED_MEDIA_TYPE", `the request body is sent with ${encoding}, which this server does not decode`, {
        hint: "Send the JSON body uncompressed: no Content-Encoding (or identity), and no Transfer-Encoding but chunked.",
      });
    }
    // Text in printable ASCII reads the same in every ASCII-compatible charset, whatever is declared.
    const foreign = type === undefined ? undefined : declaredCharsets(type).find((label) => !UTF8_LABEL.test(label));
    if (foreign !== undefined && (text === null || !ASCII_TEXT.test(text))) {
      throw new ApiError("UNSUPPORTED_MEDIA_TYPE", `the request body is declared charset=${echo(foreign)}; JSON bodies are read as UTF-8`, {
        hint: "Send the JSON body as UTF-8, with Content-Type: application/json (charset=utf-8, or no charset).",
      });
    }
    if (text === null) {
      throw new ApiError("MALFORMED_JSON", "the request body is not valid UTF-8", {
        hint: "Send the JSON body encoded as UTF-8; read as anything else, its non-ASCII text would be stored changed.",
      });
    }
    if (type !== undefined && WELL_FORMED_JSON_TYPE.test(type)) return next();
  }
  const headers = new Headers(c.req.raw.headers);
  headers.set("content-type", "application/json");
  // The replacement's length is not the original's; nothing after this reads these two.
  headers.delete("content-length");
  headers.delete("transfer-encoding");
  c.req.raw = new Request(c.req.raw, { headers, body: empty ? "{}" : text });
  c.req.bodyCache = {};
  return next();
};

/**
 * For a route that takes no body: reads a chunked one through to its end (at most the limit), so the
 * app's count (app-shell.ts) refuses one over the limit before the route runs, as a
 * Content-Length body over the limit is refused. A body with a Content-Length was judged by its
 * header already, and is left unread (reading it would build the whole web Request).
 */
export const discardChunkedBody: MiddlewareHandler<AppEnv> = async (c, next) => {
  // Through the request's body cache: an Idempotency-Key after this hashes the same bytes.
  if (c.req.header("transfer-encoding") !== undefined && c.req.raw.body) await c.req.arrayBuffer();
  return next();
};

/** Decodes UTF-8 and throws on any invalid sequence (one decode per call, so sharing it is safe). */
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });
/** Printable ASCII and JSON whitespace. */
const ASCII_TEXT = /^[\t\n\r\x20-\x7e]*$/;
/** A charset label that means UTF-8 (`charset*` values carry a `'lang'` suffix, cut before the test). */
const UTF8_LABEL = /^utf-?8$/i;

/**
 * Every charset a Content-Type declares: each `charset=` and `charset*=` parameter, unquoted.
 * All of them count, so a second, conflicting one cannot hide behind a first `utf-8`.
 */
function declaredCharsets(type: string): string[] {
  return [...type.matchAll(/[;,]\s*charset\*?\s*=\s*(?:"([^"]*)"|([^;,\s]*))/gi)].map((m) => (m[1] ?? m[2] ?? "").split("'")[0]!);
}

/**
 * The encoding a body is sent with that this server would have to undo, as the message names
 * it, or null: any Content-Encoding but identity, and any Transfer-Encoding coding but chunked
 * (Node's parser undoes chunked alone).
 */
function bodyEncoding(contentEncoding: string | undefined, transferEncoding: string | undefined): string | null {
  const undone = (header: string | undefined, plain: string[]) =>
    (header ?? "").split(",").some((t) => t.trim() !== "" && !plain.includes(t.trim().toLowerCase()));
  if (undone(contentEncoding, ["identity"])) return `Content-Encoding: ${echo(contentEncoding!.trim())}`;
  if (undone(transferEncoding, ["chunked", "identity"])) return `Transfer-Encoding: ${echo(transferEncoding!.trim())}`;
  return null;
}

/** A header value as a message may quote it: its first 40 characters, anything outside a header token's set shown as '?'. */
function echo(value: string): string {
  return value.slice(0, 40).replace(/[^A-Za-z0-9!#$%&'*+.^_`|~ ,;=/-]/g, "?");
}

/**
 * The path (dotted) of the first string, or object key, in `value` holding U+0000; null with
 * none. Walked with a stack of its own: a body nested thousands deep must get its answer, not
 * overflow the call stack.
 */
export function nulPath(value: unknown): string | null {
  const todo: Array<[unknown, string[]]> = [[value, []]];
  while (todo.length) {
    const [v, path] = todo.pop()!;
    if (typeof v === "string") {
      if (v.includes("\u0000")) return path.join(".");
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) todo.push([v[i], [...path, String(i)]]);
    } else if (v && typeof v === "object") {
      const entries = Object.entries(v);
      for (const [k] of entries) if (k.includes("\u0000")) return [...path, k.replaceAll("\u0000", "\\u0000")].join(".");
      for (let i = entries.length - 1; i >= 0; i--) todo.push([entries[i]![1], [...path, entries[i]![0]]]);
    }
  }
  return null;
}

/**
 * Turns a zod failure into VALIDATION_FAILED listing every offending field; the same for a
 * string holding U+0000, since the database driver reads text only up to its first NUL: the
 * request would be answered with the whole text and every later read would return its start.
 */
export const validationHook: Hook<unknown, any, any, any> = (result, c) => {
  if (result.success) {
    const at = nulPath(result.data);
    if (at === null) return;
    const field = at || result.target;
    throw new ApiError("VALIDATION_FAILED", `invalid ${result.target}: ${field}: contains the NUL character (U+0000)`, {
      hint: "Remove NUL characters from the text: stored, everything after one would be lost when it is read back.",
      fields: [{ field, message: "contains the NUL character (U+0000)" }],
    });
  }
  return shapeHook(result, c);
};

/**
 * Turns a zod failure into VALIDATION_FAILED listing every offending field, and accepts any
 * text: for an agent's hook payload, taken as the agent sent it and stored as JSON, where a NUL
 * stays an escape.
 */
export const shapeHook: Hook<unknown, any, any, any> = (result, c) => {
  if (result.success) return;
  const issues = (result.error as { issues: Array<{ code?: string; path: PropertyKey[]; message: string; keys?: string[] }> }).issues;
  const fields = issues.flatMap((i) => {
    const at = (key?: string) => [...i.path.map(String), ...(key === undefined ? [] : [key])].join(".") || result.target;
    // zod reports every unknown key of a strict object in one issue on the object; name each key.
    if (i.code === "unrecognized_keys" && i.keys?.length) return i.keys.map((k) => ({ field: at(k), message: "unknown field" }));
    return [{ field: at(), message: i.message }];
  });
  const summary = fields.map((f) => `${f.field}: ${f.message}`).join("; ");
  throw new ApiError("VALIDATION_FAILED", `invalid ${result.target}: ${summary}`, {
    hint: `See ${c.req.method} ${documentedRoute(c)} in /v1/openapi.json for the expected shape.`,
    fields,
  });
};
