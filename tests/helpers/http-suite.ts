// The HTTP-level suite: cases that talk to a listening server over real sockets with fetch, and
// nothing else. Vitest runs it against `switchyard up`'s Node server (tests/e2e/http-suite.test.ts)
// and Deno runs it against Deno.serve (tests/deno/http.deno.ts), so both hosts of the one app
// are held to the same behaviour. No Node or vitest import: node:assert is the one both runtimes
// share.
import assert from "node:assert/strict";
import { type Caller, type CallFn, principalBeforeBody, principalMatrix } from "./openapi.ts";

/** A server under test. Its rate limit must be RATE_LIMIT (the rate-limit case counts on it). */
export interface HttpTarget {
  url: string;
  ownerToken: string;
  /** The request body limit the server was started with, in bytes. */
  maxBodyBytes: number;
}

/** The allowance the target must be started with: small, so the case reaches it in a few calls. */
export const RATE_LIMIT = { burst: 4, perMinute: 1 };

/** One answer, parsed. */
export interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

/** Calls the target with a bearer token (or none) and parses the JSON answer. */
export async function httpCall(
  target: HttpTarget,
  method: string,
  path: string,
  opts: { token?: string | null; body?: unknown; rawBody?: string; headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  const token = opts.token === undefined ? target.ownerToken : opts.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (opts.rawBody !== undefined) body = opts.rawBody;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined && !headers["Content-Type"]) headers["Content-Type"] = "application/json";
  const res = await fetch(`${target.url}${path}`, { method, headers, body, signal: opts.signal });
  const text = await res.text();
  let parsed: any = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { unparsed: text.slice(0, 200) };
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** One case of the suite. */
export interface HttpCase {
  name: string;
  run(target: HttpTarget): Promise<void>;
}

let seq = 0;
/** A name no other case (or run) on the same database uses. */
const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${++seq}`;

async function registerSession(t: HttpTarget, role: "worker" | "manager"): Promise<{ name: string; token: string; id: string }> {
  const name = unique(role);
  const res = await httpCall(t, "POST", "/v1/sessions", { body: { name, role } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { name, token: res.body.token, id: res.body.session_id };
}

async function mint(t: HttpTarget, scope: "daemon" | "runner" | "hook" | "owner", host?: string): Promise<{ id: string; token: string }> {
  const res = await httpCall(t, "POST", "/v1/tokens", { body: { scope, ...(host ? { host } : {}) } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { id: res.body.token_id, token: res.body.token };
}

function assertEnvelope(a: Answer, status: number, code: string) {
  assert.equal(a.status, status, `expected ${status} ${code}, got ${a.status} ${JSON.stringify(a.body)}`);
  assert.equal(a.body?.error?.code, code);
  assert.equal(typeof a.body.error.message, "string");
}

export const HTTP_CASES: HttpCase[] = [
  {
    name: "health answers without a token and the database is reachable",
    async run(t) {
      const res = await httpCall(t, "GET", "/healthz", { token: null });
      assert.equal(res.status, 200);
      assert.equal(res.body.ok, true);
      assert.equal(res.body.db, "ok");
    },
  },
  {
    name: "the OpenAPI document names the origin it was fetched from and lists the routes",
    async run(t) {
      const res = await httpCall(t, "GET", "/v1/openapi.json", { token: null });
      assert.equal(res.status, 200);
      assert.equal(res.body.openapi, "3.1.0");
      assert.equal(res.body.servers[0].url, new URL(t.url).origin);
      for (const path of ["/v1/sessions", "/v1/messages", "/v1/tokens/{id}/rotate", "/v1/crons/{name}"]) assert.ok(res.body.paths[path], path);
    },
  },
  {
    name: "every answer carries a request id: the caller's when well-formed, a fresh one otherwise",
    async run(t) {
      const mine = await httpCall(t, "GET", "/healthz", { token: null, headers: { "X-Request-Id": "trace-abc_123" } });
      assert.equal(mine.headers.get("x-request-id"), "trace-abc_123");
      const bad = await httpCall(t, "GET", "/healthz", { token: null, headers: { "X-Request-Id": "has spaces; and=more" } });
      const id = bad.headers.get("x-request-id") ?? "";
      assert.notEqual(id, "has spaces; and=more");
      assert.match(id, /^[0-9a-f-]{36}$/);
    },
  },
  {
    name: "no token, an unknown token and a token of the wrong kind are refused with the envelope",
    async run(t) {
      assertEnvelope(await httpCall(t, "GET", "/v1/sessions", { token: null }), 401, "UNAUTHENTICATED");
      assertEnvelope(await httpCall(t, "GET", "/v1/sessions", { token: "sy_owner_0000000000000000000000000000000000000000" }), 401, "UNAUTHENTICATED");
      const worker = await registerSession(t, "worker");
      assertEnvelope(await httpCall(t, "POST", "/v1/tokens", { token: worker.token, body: { scope: "daemon" } }), 403, "FORBIDDEN");
    },
  },
  {
    name: "bad bodies get a clear error: malformed JSON, a wrong field, an unknown route, a body over the limit",
    async run(t) {
      const malformed = await httpCall(t, "POST", "/v1/sessions", { rawBody: '{"name": ' });
      assertEnvelope(malformed, 400, "MALFORMED_JSON");
      assert.ok(malformed.body.error.hint);
      const wrong = await httpCall(t, "POST", "/v1/sessions", { body: { name: 42, role: "worker" } });
      assertEnvelope(wrong, 400, "VALIDATION_FAILED");
      assert.match(JSON.stringify(wrong.body.error), /name/);
      assertEnvelope(await httpCall(t, "GET", "/v1/no-such-route"), 404, "NOT_FOUND");
      const big = await httpCall(t, "POST", "/v1/sessions", { rawBody: JSON.stringify({ name: "x".repeat(t.maxBodyBytes), role: "worker" }) });
      assertEnvelope(big, 413, "PAYLOAD_TOO_LARGE");
    },
  },
  {
    name: "an empty body is {}: no body or an empty JSON one takes an optional-only route's defaults; required fields are named",
    async run(t) {
      for (const opts of [{}, { rawBody: "", headers: { "Content-Type": "application/json" } }]) {
        const pruned = await httpCall(t, "POST", "/v1/admin/prune", opts);
        assert.equal(pruned.status, 200, JSON.stringify(pruned.body));
        assert.equal(pruned.body.keep_latest, 5);
        assert.equal(pruned.body.dry_run, false);
      }
      const missing = await httpCall(t, "POST", "/v1/bindings", { rawBody: "\n", headers: { "Content-Type": "application/json" } });
      assertEnvelope(missing, 400, "VALIDATION_FAILED");
      assert.deepEqual(missing.body.error.fields.map((f: { field: string }) => f.field).sort(), ["manager", "task", "worker"]);
    },
  },
  {
    name: "a message wakes the recipient's long poll, is consumed once, and a session reads only its own inbox",
    async run(t) {
      const a = await registerSession(t, "worker");
      const b = await registerSession(t, "worker");
      const started = Date.now();
      const waiting = httpCall(t, "GET", `/v1/sessions/${b.name}/inbox?wait=true&timeout=20`, { token: b.token });
      await new Promise((r) => setTimeout(r, 200));
      const sent = await httpCall(t, "POST", "/v1/messages", { token: a.token, body: { to: b.name, body: "over the wire" } });
      assert.equal(sent.status, 201, JSON.stringify(sent.body));
      const woke = await waiting;
      assert.equal(woke.status, 200);
      assert.equal(woke.body.timed_out, false);
      assert.equal(woke.body.items.length, 1);
      // Woken by the send, not by the 20 s timeout (a generous bound: this only tells the two apart).
      assert.ok(Date.now() - started < 15_000);
      assertEnvelope(await httpCall(t, "GET", `/v1/sessions/${b.name}/inbox`, { token: a.token }), 403, "FORBIDDEN");
      const first = await httpCall(t, "POST", `/v1/sessions/${b.name}/inbox/consume`, { token: b.token, body: {} });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(first.body.item.id, woke.body.items[0].id);
      const second = await httpCall(t, "POST", `/v1/sessions/${b.name}/inbox/consume`, { token: b.token, body: {} });
      assert.equal(second.body.item, null);
    },
  },
  {
    name: "an Idempotency-Key replays the first answer and writes once",
    async run(t) {
      const a = await registerSession(t, "worker");
      const b = await registerSession(t, "worker");
      const key = unique("key");
      const send = () => httpCall(t, "POST", "/v1/messages", { token: a.token, body: { to: b.name, body: "once" }, headers: { "Idempotency-Key": key } });
      const first = await send();
      const again = await send();
      assert.equal(first.status, 201);
      assert.equal(again.status, 201);
      assert.deepEqual(again.body, first.body);
      const inbox = await httpCall(t, "GET", `/v1/sessions/${b.name}/inbox`, { token: b.token });
      assert.equal(inbox.body.items.length, 1);
    },
  },
  {
    name: "an expensive route answers 429 RATE_LIMITED with Retry-After once a token used its allowance, other tokens unaffected",
    async run(t) {
      const hot = await mint(t, "daemon");
      const cold = await mint(t, "daemon");
      for (let i = 0; i < RATE_LIMIT.burst; i++) assert.equal((await httpCall(t, "GET", "/v1/admin/reconcile", { token: hot.token })).status, 200);
      const limited = await httpCall(t, "GET", "/v1/admin/reconcile", { token: hot.token });
      assertEnvelope(limited, 429, "RATE_LIMITED");
      const retry = Number(limited.headers.get("retry-after"));
      assert.ok(retry >= 1 && retry <= 60, `Retry-After ${limited.headers.get("retry-after")}`);
      assert.equal((await httpCall(t, "GET", "/v1/admin/reconcile", { token: cold.token })).status, 200);
    },
  },
  {
    name: "token rotate: the new secret works, the old one stops at once or after its grace",
    async run(t) {
      const old = await mint(t, "daemon");
      const rotated = await httpCall(t, "POST", `/v1/tokens/${old.id}/rotate`, { body: {} });
      assert.equal(rotated.status, 201, JSON.stringify(rotated.body));
      assert.match(rotated.body.token, /^sy_daemon_/);
      assertEnvelope(await httpCall(t, "GET", "/v1/admin/reconcile", { token: old.token }), 401, "UNAUTHENTICATED");
      assert.equal((await httpCall(t, "GET", "/v1/admin/reconcile", { token: rotated.body.token })).status, 200);

      const graced = await mint(t, "daemon");
      const soft = await httpCall(t, "POST", `/v1/tokens/${graced.id}/rotate`, { body: { grace_seconds: 600 } });
      assert.equal(soft.status, 201, JSON.stringify(soft.body));
      assert.equal((await httpCall(t, "GET", "/v1/admin/reconcile", { token: graced.token })).status, 200);
      assert.equal((await httpCall(t, "GET", "/v1/admin/reconcile", { token: soft.body.token })).status, 200);
    },
  },
  {
    name: "every route refuses the principals it does not list, over HTTP, before reading the body",
    async run(t) {
      const doc = (await httpCall(t, "GET", "/v1/openapi.json", { token: null })).body;
      const session = await registerSession(t, "worker");
      const callers: Caller[] = [
        { name: "owner", token: t.ownerToken, kind: "owner" },
        { name: "daemon", token: (await mint(t, "daemon")).token, kind: "daemon" },
        { name: "runner", token: (await mint(t, "runner", "http-suite-host")).token, kind: "runner" },
        { name: "session", token: session.token, kind: "session" },
        { name: "hook", token: (await mint(t, "hook", "http-suite-host")).token, kind: "hook" },
        { name: "no token", token: null, kind: null },
        { name: "garbage token", token: "sy_owner_not-a-real-token", kind: null },
      ];
      const call: CallFn = (method, url, o) => httpCall(t, method, url, o);
      // Refusals come before the rate limit: a refused caller gets 401/403, never 429.
      assert.deepEqual(await principalMatrix(doc, callers, call), []);
      assert.deepEqual(await principalBeforeBody(doc, callers, call), []);
    },
  },
];
