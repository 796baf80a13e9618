import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerSession } from "../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";

/**
 * Route × principal matrix, driven by the published OpenAPI document so that a route added
 * later is covered without touching this file.
 */

type Schema = Record<string, any>;
type Caller = "owner" | "daemon" | "runner" | "session" | "hook" | "session's hook" | "no token" | "garbage token";
const CALLERS: Caller[] = ["owner", "daemon", "runner", "session", "hook", "session's hook", "no token", "garbage token"];
// `hook` tokens may post agent hook events and nothing else, whether minted for a host or for one session.
const KINDS = new Set(["owner", "daemon", "runner", "session", "hook"]);
/** The principal kind a caller's token resolves to (null: none). */
const kindOf = (caller: Caller): string | null => (caller === "session's hook" ? "hook" : KINDS.has(caller) ? caller : null);

/** Strings tried, in order, against a `pattern`; add one when a new route needs it. */
const PATTERN_CANDIDATES = ["x1", "tok_x1", "heartbeat-sweep"];

let env: TestEnv;
let doc: any;
let tokens: Record<Caller, string | null>;

beforeAll(async () => {
  env = await makeTestEnv();
  const session = await registerSession(env, "worker");
  tokens = {
    owner: env.owner,
    daemon: await env.mint("daemon"),
    runner: await env.mint("runner", "test-host"),
    session: session.token,
    hook: await env.mint("hook", "test-host"),
    "session's hook": (await env.call("POST", `/v1/sessions/${session.session.name}/hook-token`)).body.token,
    "no token": null,
    "garbage token": "sy_owner_not-a-real-token",
  };
  doc = (await env.call("GET", "/v1/openapi.json", { token: null })).body;
});
afterAll(() => env.close());

function resolve(schema: Schema): Schema {
  if (!schema.$ref) return schema;
  const name = String(schema.$ref).replace("#/components/schemas/", "");
  return resolve(doc.components.schemas[name]);
}

/** A minimal value that satisfies the schema: required fields only, smallest values. */
function sample(raw: Schema, where: string): unknown {
  const schema = resolve(raw);
  if (schema.enum) return schema.enum[0];
  if (schema.anyOf ?? schema.oneOf) return sample((schema.anyOf ?? schema.oneOf)[0], where);
  switch (schema.type) {
    case "object": {
      const out: Record<string, unknown> = {};
      for (const key of schema.required ?? []) out[key] = sample(schema.properties[key], `${where}.${key}`);
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

interface Operation {
  method: string;
  path: string;
  principals: string[];
  url: string;
  body?: unknown;
}

function operations(): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      let url = path;
      const query = new URLSearchParams();
      for (const p of op.parameters ?? []) {
        const value = String(sample(p.schema, `${method} ${path} ${p.name}`));
        if (p.in === "path") url = url.replace(`{${p.name}}`, encodeURIComponent(value));
        else if (p.in === "query" && p.required) query.set(p.name, value);
      }
      const q = query.toString();
      const bodySchema = op.requestBody?.content?.["application/json"]?.schema;
      out.push({
        method: method.toUpperCase(),
        path,
        principals: op["x-principals"],
        url: q ? `${url}?${q}` : url,
        body: bodySchema ? sample(bodySchema, `${method} ${path} body`) : undefined,
      });
    }
  }
  return out;
}

function allowed(op: Operation, caller: Caller): boolean {
  if (op.principals.includes("anonymous")) return true;
  const kind = kindOf(caller);
  return kind !== null && op.principals.includes(kind);
}

describe("route × principal matrix", () => {
  it("covers every route, each declaring a non-empty, known principal list", () => {
    const ops = operations();
    const ids = ops.map((o) => `${o.method} ${o.path}`);
    // A floor, not the list: it fails if the document stops exposing the routes we know.
    for (const known of ["POST /v1/sessions", "POST /v1/bindings", "GET /v1/tasks/{name}/audit", "POST /v1/tokens/{id}/revoke", "GET /healthz"]) {
      expect(ids).toContain(known);
    }
    for (const op of ops) {
      expect(Array.isArray(op.principals), `${op.method} ${op.path} has no x-principals`).toBe(true);
      expect(op.principals.length, `${op.method} ${op.path}`).toBeGreaterThan(0);
      for (const p of op.principals) expect([...KINDS, "anonymous"]).toContain(p);
    }
  });

  it("refuses every principal a route does not list with exactly 401 or 403, and lets listed ones through", async () => {
    const failures: string[] = [];
    for (const op of operations()) {
      for (const caller of CALLERS) {
        const res = await env.call(op.method, op.url, { token: tokens[caller], body: op.body });
        const ok = allowed(op, caller);
        const expected = ok ? null : kindOf(caller) ? 403 : 401;
        const line = `${op.method} ${op.url} as ${caller}: ${res.status} ${res.body?.error?.code ?? ""}`;
        if (expected !== null && res.status !== expected) failures.push(`${line} (expected ${expected})`);
        if (expected !== null && res.body?.error?.code !== (expected === 401 ? "UNAUTHENTICATED" : "FORBIDDEN")) failures.push(`${line} (wrong code)`);
        if (ok && (res.status === 401 || res.status === 403)) failures.push(`${line} (listed principal refused)`);
      }
    }
    expect(failures).toEqual([]);
  });

  it("checks the principal before the body, so refused callers learn nothing from validation", async () => {
    const failures: string[] = [];
    for (const op of operations().filter((o) => o.body !== undefined && !o.principals.includes("anonymous"))) {
      for (const caller of CALLERS.filter((c) => !allowed(op, c))) {
        const res = await env.call(op.method, op.url, { token: tokens[caller], rawBody: '{"unexpected": ' });
        const expected = kindOf(caller) ? 403 : 401;
        if (res.status !== expected) failures.push(`${op.method} ${op.url} as ${caller}: ${res.status} (expected ${expected})`);
      }
    }
    expect(failures).toEqual([]);
  });
});
