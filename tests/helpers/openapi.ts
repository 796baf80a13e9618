// Reading the published OpenAPI document: its operations, their principals and parameters, and a
// minimal valid request for each. Shared by the route × principal walk (vitest and Deno) and the
// fuzz test, so a route added later is covered by all of them. No Node or vitest import: Deno
// runs this file too.

/** A JSON schema object from the document. */
export type Schema = Record<string, any>;

/** The principal kinds a route can list in `x-principals`, besides "anonymous". */
export const TOKEN_KINDS = ["owner", "daemon", "runner", "session", "hook"] as const;

/** One parameter of an operation (path or query). */
export interface Param {
  name: string;
  in: "path" | "query" | "header";
  required: boolean;
  schema: Schema;
}

/** One operation of the document. */
export interface Operation {
  method: string;
  /** The documented path, with `{param}` placeholders. */
  path: string;
  principals: string[];
  params: Param[];
  /** The JSON body schema, resolved one level; undefined when the route takes no body. */
  body?: Schema;
  bodyRequired: boolean;
  /** The raw operation object (x-rate-limited, x-deadline, responses…). */
  raw: Record<string, any>;
}

/** Follows `$ref`s into `components.schemas` until a concrete schema is reached. */
export function resolveSchema(doc: any, schema: Schema): Schema {
  let s = schema;
  for (let i = 0; s?.$ref && i < 20; i++) s = doc.components.schemas[String(s.$ref).replace("#/components/schemas/", "")];
  return s;
}

/** Every operation in the document, in document order. */
export function operationsOf(doc: any): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      const body = op.requestBody?.content?.["application/json"]?.schema;
      out.push({
        method: method.toUpperCase(),
        path,
        principals: op["x-principals"] ?? [],
        params: (op.parameters ?? []).map((p: any) => ({ name: p.name, in: p.in, required: Boolean(p.required), schema: p.schema ?? {} })),
        body: body ? resolveSchema(doc, body) : undefined,
        bodyRequired: Boolean(op.requestBody?.required),
        raw: op,
      });
    }
  }
  return out;
}

/** Strings tried, in order, against a `pattern`; add one when a new route needs it. */
export const PATTERN_CANDIDATES = ["x1", "tok_x1", "heartbeat-sweep", "Enter"];

/** A minimal value that satisfies the schema: required fields only, smallest values. */
export function sampleMinimal(doc: any, raw: Schema, where: string): unknown {
  const schema = resolveSchema(doc, raw);
  if (schema.enum) return schema.enum[0];
  if (schema.anyOf ?? schema.oneOf) return sampleMinimal(doc, (schema.anyOf ?? schema.oneOf)[0], where);
  const type = Array.isArray(schema.type) ? schema.type.find((t: string) => t !== "null") : schema.type;
  switch (type) {
    case "object": {
      const out: Record<string, unknown> = {};
      for (const key of schema.required ?? []) out[key] = sampleMinimal(doc, schema.properties[key], `${where}.${key}`);
      return out;
    }
    case "string": {
      if (!schema.pattern) return "x".repeat(Math.max(1, schema.minLength ?? 1));
      const re = new RegExp(schema.pattern);
      const hit = PATTERN_CANDIDATES.find((c) => re.test(c));
      if (!hit) throw new Error(`no sample string for ${where} matches /${schema.pattern}/; add one to PATTERN_CANDIDATES`);
      return hit;
    }
    case "integer":
    case "number":
      return Math.max(schema.minimum ?? 1, (schema.exclusiveMinimum ?? 0) + 1);
    case "boolean":
      return true;
    case "array":
      return [];
    default:
      throw new Error(`cannot sample ${where}: ${JSON.stringify(schema)}`);
  }
}

/** The operation as one concrete request: path parameters filled, required query parameters set, a minimal body. */
export function minimalRequest(doc: any, op: Operation): { url: string; body?: unknown } {
  let url = op.path;
  const query = new URLSearchParams();
  for (const p of op.params) {
    const value = String(sampleMinimal(doc, p.schema, `${op.method} ${op.path} ${p.name}`));
    if (p.in === "path") url = url.replace(`{${p.name}}`, encodeURIComponent(value));
    else if (p.in === "query" && p.required) query.set(p.name, value);
  }
  const q = query.toString();
  return { url: q ? `${url}?${q}` : url, body: op.body ? sampleMinimal(doc, op.body, `${op.method} ${op.path} body`) : undefined };
}

/** One caller of the route × principal walk: a bearer token and the principal kind it resolves to (null: none). */
export interface Caller {
  name: string;
  token: string | null;
  kind: string | null;
}

/** Calls the app under test and parses its JSON answer. */
export type CallFn = (method: string, url: string, opts: { token: string | null; body?: unknown; rawBody?: string }) => Promise<{ status: number; body: any }>;

/** Whether `caller` may call the operation. */
export function allowedFor(op: Operation, caller: Caller): boolean {
  if (op.principals.includes("anonymous")) return true;
  return caller.kind !== null && op.principals.includes(caller.kind);
}

/** Operations whose `x-principals` is missing, empty or names an unknown kind. */
export function principalListProblems(doc: any, kinds: readonly string[] = TOKEN_KINDS): string[] {
  const problems: string[] = [];
  for (const op of operationsOf(doc)) {
    const where = `${op.method} ${op.path}`;
    if (!Array.isArray(op.raw["x-principals"]) || op.principals.length === 0) problems.push(`${where} has no x-principals`);
    for (const p of op.principals) if (![...kinds, "anonymous"].includes(p)) problems.push(`${where} lists unknown principal ${p}`);
  }
  return problems;
}

/**
 * Calls every operation as every caller with a minimal valid request. A caller the route does
 * not list must get exactly 401 UNAUTHENTICATED (no principal) or 403 FORBIDDEN (another kind);
 * a listed caller must never get 401/403. Returns one line per violation.
 */
export async function principalMatrix(doc: any, callers: Caller[], call: CallFn): Promise<string[]> {
  const failures: string[] = [];
  for (const op of operationsOf(doc)) {
    const req = minimalRequest(doc, op);
    for (const caller of callers) {
      const res = await call(op.method, req.url, { token: caller.token, body: req.body });
      const ok = allowedFor(op, caller);
      const expected = ok ? null : caller.kind ? 403 : 401;
      const line = `${op.method} ${req.url} as ${caller.name}: ${res.status} ${res.body?.error?.code ?? ""}`;
      if (expected !== null && res.status !== expected) failures.push(`${line} (expected ${expected})`);
      if (expected !== null && res.body?.error?.code !== (expected === 401 ? "UNAUTHENTICATED" : "FORBIDDEN")) failures.push(`${line} (wrong code)`);
      if (ok && (res.status === 401 || res.status === 403)) failures.push(`${line} (listed principal refused)`);
    }
  }
  return failures;
}

/**
 * Sends a malformed body to every operation that takes one, as every caller it refuses: the
 * principal is checked first, so the answer is 401/403 and never a validation error that would
 * tell a refused caller about the body. Returns one line per violation.
 */
export async function principalBeforeBody(doc: any, callers: Caller[], call: CallFn): Promise<string[]> {
  const failures: string[] = [];
  for (const op of operationsOf(doc).filter((o) => o.body !== undefined && !o.principals.includes("anonymous"))) {
    const req = minimalRequest(doc, op);
    for (const caller of callers.filter((c) => !allowedFor(op, c))) {
      const res = await call(op.method, req.url, { token: caller.token, rawBody: '{"unexpected": ' });
      const expected = caller.kind ? 403 : 401;
      if (res.status !== expected) failures.push(`${op.method} ${req.url} as ${caller.name}: ${res.status} (expected ${expected})`);
    }
  }
  return failures;
}
