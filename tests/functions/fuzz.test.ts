// Fuzz over every operation of the published OpenAPI document: at least 20,000 requests generated
// from a seeded PRNG — valid requests, and requests with wrong types, huge strings, unicode and
// NUL, nested junk, missing and extra fields, bad path and query parameters and raw junk bodies —
// sent with the tokens of every principal kind. Proves: no 500 (and no 5xx but the host being
// unavailable), no request left unanswered, every error is the envelope with a known code, no
// caller a route does not list ever gets a success, no rejected request changed a row, and
// PRAGMA integrity_check stays ok.
//
// The requests go through app.request in-process (the same Hono app `up` serves, without the
// socket), which keeps 20,000 of them to about a minute on two shared cores; the HTTP layer
// itself is walked by the security suites and tests/deno/http.deno.ts.
//
// The seed is printed. Reproduce a failure with SWITCHYARD_FUZZ_SEED=<seed>; explore new inputs
// with SWITCHYARD_FUZZ_SEED=random (and SWITCHYARD_FUZZ_REQUESTS=N for a longer run).
//
// Rows are watched by triggers the test adds to every table of its own database: each insert,
// update and delete is logged with the row's before and after image, so a rejected request is
// checked exactly (a write it undid itself — a pending Idempotency-Key released — nets to nothing).
// The server runs without a host (no tmux, no processes probed, no agent spawned by a lucky
// request): routes that need one answer HOST_UNAVAILABLE, which the fuzz accepts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../functions/lib/errors.ts";
import { boundPair, createTask, registerSession } from "../helpers/factories.ts";
import { type Operation, operationsOf, resolveSchema, type Schema } from "../helpers/openapi.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";

const DEFAULT_SEED = 20_261_121;
/** A request still unanswered after this long counts as hung. */
const HANG_MS = 30_000;
const REQUESTS = Number(process.env.SWITCHYARD_FUZZ_REQUESTS ?? 20_000);
const SEED = process.env.SWITCHYARD_FUZZ_SEED === "random" ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.SWITCHYARD_FUZZ_SEED ?? DEFAULT_SEED);

/** mulberry32: small, fast, good enough to make inputs; the same seed gives the same run. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p: number) => next() < p,
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
  };
}
type Rng = ReturnType<typeof prng>;

// ---------------------------------------------------------------------------------------------
// Hostile values
// ---------------------------------------------------------------------------------------------

const UNICODE = [
  "\u0000",
  "a\u0000b",
  "\u001b[31mred\u001b[0m",
  "\u202eevil\u202c",
  "e\u0301\u0301\u0301",
  "\u200b\u200d\ufeff",
  "😀👨‍👩‍👧‍👦",
  "\ud800",
  "\udfff\ud800",
  "日本語テキスト",
  "Ω≈ç√∫",
  "\r\n\t\v\f",
  "\u0085\u2028\u2029",
  "../../etc/passwd",
  "%00%2e%2e%2f",
  "'; DROP TABLE tasks; --",
  '{"$gt": ""}',
  "$" + "{7*7}{{7*7}}",
  "<script>alert(1)</script>",
  "C:\\Windows\\System32",
  "   ",
  "",
];

function hugeString(r: Rng): string {
  const unit = r.pick(["x", "é", "😀", "\u0000", "ab\n"]);
  // Mostly big but under the body limit; now and then past it (413).
  const size = r.chance(0.03) ? 1_100_000 : r.int(2_000, 120_000);
  return unit.repeat(Math.ceil(size / unit.length));
}

function nestedJunk(r: Rng, depth = r.int(5, 600)): unknown {
  let v: unknown = r.pick([1, "x", null, true, {}]);
  for (let i = 0; i < depth; i++) v = r.chance(0.5) ? [v] : { [r.pick(["a", "__proto__", "constructor", "name", ""])]: v };
  return v;
}

function wrongType(r: Rng, value: unknown): unknown {
  const options: unknown[] = [
    42,
    -1,
    0,
    1.5,
    1e308,
    -1e308,
    Number.MAX_SAFE_INTEGER + 2,
    true,
    false,
    null,
    "",
    "42",
    "true",
    "null",
    [],
    [1, "2", null],
    {},
    { nested: { deep: true } },
  ];
  let v = r.pick(options);
  for (let i = 0; i < 3 && typeof v === typeof value && Array.isArray(v) === Array.isArray(value); i++) v = r.pick(options);
  return v;
}

function hostileString(r: Rng): string {
  switch (r.int(0, 3)) {
    case 0:
      return hugeString(r);
    case 1:
      return r.pick(UNICODE) + r.pick(UNICODE);
    case 2:
      return r.pick(UNICODE);
    default:
      return `x${r.pick(UNICODE)}`;
  }
}

/** Percent-encodes any string; a lone surrogate (which encodeURIComponent refuses) becomes bytes that are not UTF-8. */
function encodeLoose(v: string): string {
  try {
    return encodeURIComponent(v);
  } catch {
    return v
      .split("")
      .map((ch) => (/[\ud800-\udfff]/.test(ch) ? "%ED%A0%80" : encodeURIComponent(ch)))
      .join("");
  }
}

const ODD_SEGMENTS = ["%00", "a%00b", "%E2%98%83", "..", "%2e%2e", "%2F", "a%20b", "-", "_", "tok_%00", "%F0%9F%98%80", "%FF", "%", "null", "0", "-1", "1e999"];
const ODD_QUERY_VALUES = ["", "-1", "0", "1e999", "NaN", "Infinity", "1.5", "abc", "true", "null", "%00", "%E2%80%AE", "[]", "{}"];

// ---------------------------------------------------------------------------------------------
// Valid values from the schemas, using names and ids the fuzz has seen
// ---------------------------------------------------------------------------------------------

/** Names and ids seen in answers, offered where a schema wants a string. */
class Pool {
  names: string[] = [];
  ids: string[] = [];
  add(list: string[], v: string, r: Rng) {
    if (list.includes(v)) return;
    if (list.length < 400) list.push(v);
    else list[r.int(0, list.length - 1)] = v;
  }
  /** Collects every `name` and every id-shaped string of a response body. */
  harvest(body: unknown, r: Rng, depth = 0): void {
    if (depth > 6 || body === null || typeof body !== "object") return;
    for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
      if (typeof v === "string") {
        if (k === "name" && v.length <= 64) this.add(this.names, v, r);
        else if (/^[a-z]{2,5}_[0-9a-z]{10,}$/.test(v)) this.add(this.ids, v, r);
      } else this.harvest(v, r, depth + 1);
    }
  }
}

const ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789";
function randomWord(r: Rng, max = 10): string {
  let s = ALNUM[r.int(0, 25)]!;
  for (let i = r.int(0, max - 1); i > 0; i--) s += ALNUM[r.int(0, ALNUM.length - 1)];
  return s;
}

/** Seconds-valued fields whose valid values make a request wait: kept tiny so the run stays fast. */
const WAIT_FIELDS = new Set(["timeout", "interval"]);

function validString(s: Schema, r: Rng, pool: Pool, name: string): string {
  const re = s.pattern ? new RegExp(s.pattern) : null;
  const fits = (v: string) => (!re || re.test(v)) && v.length >= (s.minLength ?? 0) && v.length <= (s.maxLength ?? Number.POSITIVE_INFINITY);
  if (s.format === "date-time") return new Date(Date.UTC(2026, 10, 21, 12, r.int(0, 59))).toISOString();
  const fromPool = r.chance(0.5) ? r.pick([...pool.names, ...pool.ids, "x"]) : null;
  if (fromPool !== null && fits(fromPool)) return fromPool;
  for (const c of [randomWord(r), "x1", "tok_x1", "self", "Enter", "q", "C-c", "heartbeat-sweep", "main", `${name}-${r.int(0, 9)}`]) {
    if (fits(c)) return c;
  }
  const min = Math.max(1, s.minLength ?? 1);
  return "x".repeat(min);
}

function validValue(doc: any, raw: Schema, r: Rng, pool: Pool, name: string, depth = 0): unknown {
  const s = resolveSchema(doc, raw);
  if (!s || depth > 8) return null;
  if (s.enum) return r.pick(s.enum);
  if ("const" in s) return s.const;
  const branches = s.anyOf ?? s.oneOf;
  if (branches) return validValue(doc, r.pick(branches), r, pool, name, depth + 1);
  const types: string[] = Array.isArray(s.type) ? s.type : s.type ? [s.type] : ["string"];
  if (types.includes("null") && r.chance(0.1)) return null;
  const type = r.pick(types.filter((t) => t !== "null").length ? types.filter((t) => t !== "null") : ["string"]);
  switch (type) {
    case "object": {
      const out: Record<string, unknown> = {};
      const props = Object.entries<Schema>(s.properties ?? {});
      const required = new Set<string>(s.required ?? []);
      for (const [k, v] of props) if (required.has(k) || r.chance(0.4)) out[k] = validValue(doc, v, r, pool, k, depth + 1);
      return out;
    }
    case "array": {
      const n = r.int(s.minItems ?? 0, Math.min(s.maxItems ?? 3, 3));
      return Array.from({ length: n }, () => validValue(doc, s.items ?? {}, r, pool, name, depth + 1));
    }
    case "integer":
    case "number": {
      const lo = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + (type === "integer" ? 1 : 0.01) : 0);
      if (WAIT_FIELDS.has(name)) return Math.max(lo, type === "integer" ? lo : Math.min(s.maximum ?? 0.05, 0.05));
      const hi = Math.min(s.maximum ?? lo + 100, lo + 1000);
      return type === "integer" ? r.int(Math.ceil(lo), Math.floor(hi)) : lo + r.next() * (hi - lo);
    }
    case "boolean":
      return r.chance(0.5);
    default:
      return validString(s, r, pool, name);
  }
}

/** One mutation somewhere in a JSON value: wrong type, hostile string, nested junk, a key removed or added. */
function mutate(r: Rng, value: unknown, depth = 0): unknown {
  if (value && typeof value === "object" && !Array.isArray(value) && depth < 4 && r.chance(0.75)) {
    const obj = { ...(value as Record<string, unknown>) };
    const keys = Object.keys(obj);
    const roll = r.int(0, 5);
    if (roll === 0 && keys.length) delete obj[r.pick(keys)];
    else if (roll === 1) obj[r.pick(["extra", "__proto__", "constructor", "x\u0000y", hostileString(r).slice(0, 50)])] = r.pick([1, "x", nestedJunk(r, 3)]);
    else if (keys.length) {
      const k = r.pick(keys);
      obj[k] = mutate(r, obj[k], depth + 1);
    } else obj.junk = nestedJunk(r);
    return obj;
  }
  if (Array.isArray(value) && value.length && r.chance(0.5)) {
    const copy = [...value];
    const i = r.int(0, copy.length - 1);
    copy[i] = mutate(r, copy[i], depth + 1);
    return copy;
  }
  switch (r.int(0, 3)) {
    case 0:
      return wrongType(r, value);
    case 1:
      return hostileString(r);
    case 2:
      return nestedJunk(r);
    default: {
      // Many copies of a small value; a big one would only make the body exceed the limit again.
      const small = (JSON.stringify(value) ?? "").length < 200;
      return small ? Array.from({ length: r.int(1, 2000) }, () => value) : wrongType(r, value);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

type CallerName = "owner" | "daemon" | "runner" | "session" | "manager session" | "hook" | "session's hook" | "no token" | "garbage token";
const KIND_OF: Record<CallerName, string | null> = {
  owner: "owner",
  daemon: "daemon",
  runner: "runner",
  session: "session",
  "manager session": "session",
  hook: "hook",
  "session's hook": "hook",
  "no token": null,
  "garbage token": null,
};

interface FuzzRequest {
  op: Operation;
  method: string;
  url: string;
  caller: CallerName;
  headers: Record<string, string>;
  body?: string;
  mode: string;
}

function buildRequest(doc: any, op: Operation, r: Rng, pool: Pool): FuzzRequest {
  const listed = (Object.keys(KIND_OF) as CallerName[]).filter((c) => KIND_OF[c] !== null && op.principals.includes(KIND_OF[c]!));
  const caller = listed.length && r.chance(0.85) ? r.pick(listed) : r.pick(Object.keys(KIND_OF) as CallerName[]);
  const mode = r.pick(["valid", "valid", "body", "body", "body", "query", "path", "raw", "headers", "method"]);

  let url = op.path;
  for (const p of op.params.filter((x) => x.in === "path")) {
    let v: string;
    if (mode === "path" && r.chance(0.7)) v = r.chance(0.5) ? r.pick(ODD_SEGMENTS) : encodeLoose(hostileString(r).slice(0, 5000));
    else v = encodeLoose(String(validValue(doc, p.schema, r, pool, p.name)));
    url = url.replace(`{${p.name}}`, v);
  }
  const query = new URLSearchParams();
  for (const p of op.params.filter((x) => x.in === "query")) {
    if (!p.required && r.chance(0.5)) continue;
    if (mode === "query" && r.chance(0.5)) {
      const bad = r.chance(0.5) ? r.pick(ODD_QUERY_VALUES) : hostileString(r).slice(0, 20_000);
      query.append(p.name, bad);
      if (r.chance(0.2)) query.append(p.name, bad);
    } else {
      const v = validValue(doc, p.schema, r, pool, p.name);
      for (const item of Array.isArray(v) ? v : [v]) query.append(p.name, String(item));
    }
  }
  if (mode === "query" && r.chance(0.3)) query.append(r.pick(["unknown", "limit", "cursor", "__proto__", ""]), r.pick(ODD_QUERY_VALUES));
  if (mode === "query" && r.chance(0.2)) query.append("include_content", "maybe");
  const q = query.toString();
  if (q) url += `?${q}`;

  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (op.body || mode === "raw") {
    const value = op.body ? validValue(doc, op.body, r, pool, "body") : {};
    if (mode === "raw") {
      body = r.pick([
        "",
        "{",
        '{"a":',
        "null",
        "[]",
        "1e999",
        '"text"',
        "\ufeff{}",
        "{}garbage",
        '{"a":1,"a":2}',
        "\u0000",
        JSON.stringify(nestedJunk(r, 3000)),
        `${JSON.stringify(value)}x`,
      ]);
    } else if (mode === "body") {
      let v = value;
      for (let i = r.int(1, 3); i > 0; i--) v = mutate(r, v);
      body = JSON.stringify(v);
      // Stacked huge strings: past the body limit either way, so keep the test's memory small.
      if (body.length > 1_200_000) body = JSON.stringify({ big: "x".repeat(1_100_000) });
    } else if (!op.body || (!op.bodyRequired && r.chance(0.2))) body = undefined;
    else body = JSON.stringify(value);
    if (body !== undefined)
      headers["Content-Type"] = r.chance(0.95)
        ? "application/json"
        : r.pick(["text/plain", "application/json; charset=utf-16", "multipart/form-data", "application/x-www-form-urlencoded"]);
  }
  if (mode === "headers") {
    headers["Idempotency-Key"] = r.pick([
      "k1",
      "k2",
      hostileString(r)
        .replace(/[^\x20-\x7e]/g, "?")
        .slice(0, 300),
      "",
    ]);
    headers["X-Request-Id"] = r.pick(["ok-id", "bad id", "x".repeat(300), "é"]).replace(/[^\x20-\x7e]/g, "?");
  }
  const method = mode === "method" ? r.pick(["PUT", "DELETE", "PATCH", op.method === "GET" ? "POST" : "GET"]) : op.method;
  // A GET cannot carry a body (fetch refuses to build one), so its body junk is dropped.
  if (method === "GET") {
    body = undefined;
    delete headers["Content-Type"];
  }
  return { op, method, url, caller, headers, body, mode };
}

// ---------------------------------------------------------------------------------------------
// Watching rows
// ---------------------------------------------------------------------------------------------

/** Adds a change log and AFTER INSERT/UPDATE/DELETE triggers on every table of the test database. */
async function watchRows(env: TestEnv): Promise<string[]> {
  const client = env.services.database.client;
  await client.execute("CREATE TABLE fuzz_row_changes (seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, rid INTEGER, before TEXT, after TEXT)");
  const all = (await client.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")).rows.map((row) => ({
    name: String(row.name),
    sql: String(row.sql ?? ""),
  }));
  // A full-text index is a virtual table (no triggers allowed) over shadow tables it writes
  // itself; the rows it indexes are watched through their own table.
  const virtual = all.filter((t) => /^CREATE VIRTUAL TABLE/i.test(t.sql)).map((t) => t.name);
  const tables = all
    .filter((t) => !["fuzz_row_changes", "__drizzle_migrations"].includes(t.name) && !/WITHOUT ROWID/i.test(t.sql))
    .filter((t) => !virtual.some((v) => t.name === v || t.name.startsWith(`${v}_`)))
    .map((t) => t.name);
  for (const t of tables) {
    const cols = (await client.execute(`SELECT name FROM pragma_table_info('${t}')`)).rows.map((row) => String(row.name));
    const image = (alias: string) => cols.map((c) => `quote(${alias}."${c}")`).join(" || char(31) || ");
    const log = (rid: string, before: string, after: string) =>
      `INSERT INTO fuzz_row_changes (tbl, rid, before, after) VALUES ('${t}', ${rid}, ${before}, ${after})`;
    await client.execute(`CREATE TRIGGER "fuzz_ins_${t}" AFTER INSERT ON "${t}" BEGIN ${log("NEW.rowid", "NULL", image("NEW"))}; END`);
    await client.execute(`CREATE TRIGGER "fuzz_upd_${t}" AFTER UPDATE ON "${t}" BEGIN ${log("NEW.rowid", image("OLD"), image("NEW"))}; END`);
    await client.execute(`CREATE TRIGGER "fuzz_del_${t}" AFTER DELETE ON "${t}" BEGIN ${log("OLD.rowid", image("OLD"), "NULL")}; END`);
  }
  return tables;
}

/** The rows a request left changed: per (table, rowid), the first before-image differs from the last after-image. */
async function netChanges(env: TestEnv, since: number): Promise<{ last: number; changed: string[] }> {
  const rows = (
    await env.services.database.client.execute({ sql: "SELECT seq, tbl, rid, before, after FROM fuzz_row_changes WHERE seq > ? ORDER BY seq", args: [since] })
  ).rows;
  const net = new Map<string, { before: unknown; after: unknown }>();
  let last = since;
  for (const row of rows) {
    last = Number(row.seq);
    const key = `${row.tbl}#${row.rid}`;
    const cur = net.get(key);
    if (cur) cur.after = row.after;
    else net.set(key, { before: row.before, after: row.after });
  }
  return { last, changed: [...net].filter(([, v]) => v.before !== v.after).map(([k]) => k) };
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

let env: TestEnv;
let doc: any;
const tokens = {} as Record<CallerName, string | null>;
const pool = new Pool();

/** A task with a bound worker and manager, plus loose sessions: state for valid paths to find. */
async function seedState(r: Rng) {
  const pair = await boundPair(env);
  await createTask(env);
  await registerSession(env, "worker");
  await env.call("POST", "/v1/messages", { token: pair.worker.token, body: { to: pair.manager.session.name, body: "hello" } });
  await env.call("POST", "/v1/gates", { token: pair.manager.token, body: { type: "human", waiters: [pair.manager.session.name], title: "seeded" } });
  tokens.session = pair.worker.token;
  tokens["manager session"] = pair.manager.token;
  tokens["session's hook"] = (await env.call("POST", `/v1/sessions/${pair.worker.session.name}/hook-token`)).body.token;
  for (const path of ["/v1/tasks", "/v1/sessions", "/v1/bindings", "/v1/gates", "/v1/messages", "/v1/tokens", "/v1/crons"]) {
    pool.harvest((await env.call("GET", path)).body, r);
  }
}

/** Gives back a working token to any caller the fuzz revoked, rotated or deregistered. */
async function restoreCallers(r: Rng) {
  for (const name of ["owner", "daemon", "runner", "hook", "session", "manager session", "session's hook"] as CallerName[]) {
    const res = await env.app.request("/v1/sessions?limit=1", { headers: { Authorization: `Bearer ${tokens[name]}` } });
    if (res.status !== 401) continue;
    if (name === "owner") tokens.owner = await env.mint("owner");
    else if (name === "daemon") tokens.daemon = await env.mint("daemon");
    else if (name === "runner") tokens.runner = await env.mint("runner", "test-host");
    else if (name === "hook") tokens.hook = await env.mint("hook", "test-host");
    else await seedState(r);
  }
}

beforeAll(async () => {
  env = await makeTestEnv({ host: null });
  // The rate limit has its own test; here every request should reach validation and the handler.
  env.services.rateLimit = null;
  tokens.owner = env.owner;
  tokens.daemon = await env.mint("daemon");
  tokens.runner = await env.mint("runner", "test-host");
  tokens.hook = await env.mint("hook", "test-host");
  tokens["no token"] = null;
  tokens["garbage token"] = "sy_owner_00000000000000000000000000000000";
  doc = (await env.call("GET", "/v1/openapi.json", { token: null })).body;
  await seedState(prng(SEED ^ 0x5eed));
});
afterAll(() => env?.close());

describe("fuzz over every route of the OpenAPI document", () => {
  it(`answers ${REQUESTS} generated requests without a 500, with known error codes, and no rejected request changes a row`, async () => {
    const r = prng(SEED);
    console.log(`fuzz seed ${SEED} (reproduce: SWITCHYARD_FUZZ_SEED=${SEED} npx vitest run tests/functions/fuzz.test.ts)`);
    const ops = operationsOf(doc);
    const tables = await watchRows(env);
    const problems: string[] = [];
    const byStatus = new Map<number, number>();
    const perOp = new Map<string, { sent: number; pastAuth: number; ok: number }>();
    let cursor = 0;
    const timeByOp = new Map<string, number>();
    const timeByMode = new Map<string, number>();
    const started = performance.now();

    for (let i = 0; i < REQUESTS; i++) {
      // Every operation in turn, each with a fresh draw: all of them get their share.
      const op = ops[i % ops.length]!;
      const req = buildRequest(doc, op, r, pool);
      const token = tokens[req.caller];
      const headers = { ...req.headers, ...(token ? { Authorization: `Bearer ${token}` } : {}) };
      const where = `#${i} ${req.method} ${req.url.slice(0, 160)} as ${req.caller} (${req.mode})`;
      let status: number;
      let body: any = null;
      const t0 = performance.now();
      try {
        // A long poll whose timeout was mutated away would wait its default minute: the caller
        // hangs up after a moment instead, which ends the wait like a closed connection does.
        const signal = String(op.raw["x-deadline"]).startsWith("long-poll") ? AbortSignal.timeout(100) : undefined;
        // A hang detector, not a speed target: nothing the fuzz sends should take anywhere near this.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const hung = new Promise<"hung">((resolve) => {
          timer = setTimeout(() => resolve("hung"), HANG_MS);
        });
        const answered = await Promise.race([env.app.request(req.url, { method: req.method, headers, body: req.body, signal }), hung]);
        clearTimeout(timer);
        if (answered === "hung") {
          problems.push(`${where}: no answer within ${HANG_MS / 1000} s`);
          continue;
        }
        const res = answered;
        status = res.status;
        const text = await res.text();
        try {
          body = text ? JSON.parse(text) : null;
        } catch {
          problems.push(`${where}: ${status} with a body that is not JSON: ${text.slice(0, 120)}`);
        }
      } catch (e) {
        problems.push(`${where}: threw ${(e as Error).stack?.split("\n").slice(0, 3).join(" | ")}`);
        continue;
      }
      const ms = performance.now() - t0;
      timeByOp.set(`${op.method} ${op.path}`, (timeByOp.get(`${op.method} ${op.path}`) ?? 0) + ms);
      timeByMode.set(req.mode, (timeByMode.get(req.mode) ?? 0) + ms);
      byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
      const stats = perOp.get(`${op.method} ${op.path}`) ?? { sent: 0, pastAuth: 0, ok: 0 };
      stats.sent += 1;
      if (status !== 401 && status !== 403 && req.method === op.method) stats.pastAuth += 1;
      if (status < 300) stats.ok += 1;
      perOp.set(`${op.method} ${op.path}`, stats);

      const code = body?.error?.code;
      if (status === 500) problems.push(`${where}: 500 ${JSON.stringify(body).slice(0, 200)}`);
      else if (status >= 500 && code !== "HOST_UNAVAILABLE") problems.push(`${where}: ${status} ${code}`);
      if (status >= 400 && !ERROR_CODES.includes(code)) problems.push(`${where}: ${status} without the error envelope`);

      const kind = KIND_OF[req.caller];
      const listed = op.principals.includes("anonymous") || (kind !== null && op.principals.includes(kind));
      if (!listed && req.method === op.method && status < 400) problems.push(`${where}: a caller the route does not list got ${status}`);

      const { last, changed } = await netChanges(env, cursor);
      cursor = last;
      if (status >= 400 && changed.length) problems.push(`${where}: rejected with ${status} ${code} but changed ${changed.slice(0, 5).join(", ")}`);
      if (status < 300) pool.harvest(body, r);
      if (status < 300 && /token|deregister|stop|finish/.test(req.url)) await restoreCallers(r);
      if (i % 500 === 499) await restoreCallers(r);
      if (i % 4000 === 3999) await seedState(r);
      // The test's own writes between requests (tokens given back, state seeded) belong to no request.
      cursor = (await netChanges(env, cursor)).last;
      if (i % 500 === 499) await env.services.database.client.execute({ sql: "DELETE FROM fuzz_row_changes WHERE seq <= ?", args: [cursor] });
      if (problems.length > Number(process.env.SWITCHYARD_FUZZ_MAX_PROBLEMS ?? 50)) break;
    }

    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const statuses = [...byStatus].sort(([a], [b]) => a - b).map(([s, n]) => `${s}:${n}`);
    const reachedHandler = [...perOp.values()].filter((s) => s.ok > 0).length;
    console.log(
      `fuzz seed ${SEED}: ${REQUESTS} requests in ${seconds} s over ${ops.length} operations (${tables.length} tables watched); statuses ${statuses.join(" ")}; ${reachedHandler} operations answered 2xx at least once`,
    );

    if (process.env.SWITCHYARD_FUZZ_PROFILE) {
      console.log(
        [...timeByOp]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 15)
          .map(([k, v]) => `${k}: ${v.toFixed(0)} ms`)
          .join("\n"),
      );
      console.log([...timeByMode].map(([k, v]) => `${k}: ${v.toFixed(0)} ms`).join("\n"));
    }
    expect(problems, `seed ${SEED}`).toEqual([]);
    const sent = [...byStatus.values()].reduce((a, b) => a + b, 0);
    expect(sent).toBeGreaterThanOrEqual(Math.min(REQUESTS, 20_000));
    // Every operation was sent its share, and most of it got past the principal check.
    for (const op of ops) {
      const s = perOp.get(`${op.method} ${op.path}`);
      expect(s?.sent ?? 0, `${op.method} ${op.path}`).toBeGreaterThanOrEqual(Math.floor(REQUESTS / ops.length) - 1);
      expect(s?.pastAuth ?? 0, `${op.method} ${op.path} never got past the principal check`).toBeGreaterThan(0);
    }
    // On a connection opened for the check: FTS5 answers it from a connection's earlier view.
    expect(await env.services.database.integrityCheck()).toEqual(["ok"]);
  }, 600_000);
});
