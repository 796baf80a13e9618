// The access log: one pino JSON line per request, with the request's id (answered in
// X-Request-Id), route, status, duration and who called, and never a token, a header or a body.
// In-process against the app, and through a real `switchyard up` reading its stderr.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createApp } from "../../functions/app.ts";
import { pinoLogger } from "../../local-runner/logger.ts";
import { readOwnerTokenFile, resolveHome } from "../../local-runner/home.ts";
import { registerSession } from "../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";
import { killUpProcess, startUpProcess, type UpProcess } from "../helpers/up-process.ts";

/** Log lines parsed as JSON; a line that is not JSON fails the test. */
function parse(text: string): any[] {
  return text
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        throw new Error(`not a JSON log line: ${l}`);
      }
    });
}

const SECRET_TEXT = "correct-horse-battery-staple";

describe("access log in-process", () => {
  let env: TestEnv;
  let lines: string[];
  beforeEach(async () => {
    env = await makeTestEnv({ host: null });
    lines = [];
    env.services.log = pinoLogger({ level: "info", destination: { write: (s: string) => void lines.push(s) } });
    env.app = createApp(env.services);
  });
  afterEach(() => env.close());

  it("writes one line per request with id, route, path, status, duration, principal and token id", async () => {
    const res = await env.app.request("/v1/tasks?limit=5", { headers: { Authorization: `Bearer ${env.owner}`, "X-Request-Id": "trace-abc_123" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("X-Request-Id")).toBe("trace-abc_123");
    const entries = parse(lines.join(""));
    expect(entries).toHaveLength(1);
    const [e] = entries;
    expect(e).toMatchObject({
      level: "info",
      msg: "request",
      request_id: "trace-abc_123",
      method: "GET",
      route: "/v1/tasks",
      path: "/v1/tasks",
      status: 200,
      principal: "owner",
      token_id: expect.stringMatching(/^tok_/),
    });
    expect(typeof e.duration_ms).toBe("number");
    expect(typeof e.time).toBe("string");
  });

  it("names the route pattern, not only the path, and logs refusals and unknown routes", async () => {
    const s = await registerSession(env, "worker");
    lines.length = 0;
    await env.call("GET", `/v1/sessions/${s.session.name}`, { token: s.token });
    await env.call("GET", "/v1/tasks", { token: null });
    await env.call("GET", "/v1/no-such-route");
    const entries = parse(lines.join(""));
    expect(entries.map((e) => [e.route, e.path, e.status, e.principal])).toEqual([
      ["/v1/sessions/:name", `/v1/sessions/${s.session.name}`, 200, "session"],
      ["/v1/tasks", "/v1/tasks", 401, "anonymous"],
      [null, "/v1/no-such-route", 404, "owner"],
    ]);
    expect(entries[1].token_id).toBeNull();
  });

  it("makes up an id when the caller's is missing or malformed, and every entry of a request carries it", async () => {
    const res = await env.app.request("/healthz", { headers: { "X-Request-Id": "bad id with spaces; and more" } });
    const id = res.headers.get("X-Request-Id")!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const fresh = await env.app.request("/healthz");
    expect(fresh.headers.get("X-Request-Id")).not.toBe(id);
    expect(parse(lines.join("")).map((e) => e.request_id)).toEqual([id, fresh.headers.get("X-Request-Id")]);
  });

  it("does not echo or log an X-Request-Id that looks like a secret or is too long, and scrubs secrets pasted into the path", async () => {
    const pasted = "sy_owner_0123456789abcdef0123456789abcdef";
    for (const given of [pasted, `trace-${pasted}`, "x".repeat(65)]) {
      const res = await env.app.request("/healthz", { headers: { "X-Request-Id": given } });
      expect(res.headers.get("X-Request-Id")).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect((await env.app.request("/healthz", { headers: { "X-Request-Id": "ci:run-42.a_b=" } })).headers.get("X-Request-Id")).toBe("ci:run-42.a_b=");
    await env.call("GET", `/v1/tokens/${pasted}/oops`);
    await env.call("GET", `/v1/sessions/${pasted}`);
    const text = lines.join("");
    expect(text).not.toContain("0123456789abcdef0123456789abcdef");
    expect(text).not.toContain("x".repeat(65));
    expect(parse(text).map((e) => e.path)).toContain("/v1/tokens/[secret]/oops");
  });

  it("logs a request its deadline answered early as status 504 with the route's own completed_status", async () => {
    env.services.requestTimeoutMs = 50;
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    env.services.hooks = { beforeKeyCommit: () => held };
    const res = await env.call("POST", "/v1/tokens", { body: { scope: "daemon" }, headers: { "Idempotency-Key": "logged-late" } });
    expect(res.status).toBe(504);
    release();
    for (let i = 0; i < 200 && !lines.join("").includes("completed_status"); i++) await new Promise((r) => setTimeout(r, 20));
    const late = parse(lines.join("")).find((e) => e.route === "/v1/tokens");
    expect(late).toMatchObject({ status: 504, completed_status: 201, request_id: res.headers.get("X-Request-Id") });
  });

  it("never writes a token, an Authorization header, a query string or a body", async () => {
    const daemon = await env.mint("daemon");
    await env.call("POST", "/v1/tasks", { body: { name: "logged", goal: SECRET_TEXT } });
    const minted = await env.call("POST", "/v1/tokens", { body: { scope: "daemon", label: SECRET_TEXT } });
    await env.call("GET", `/v1/tasks?cursor=${SECRET_TEXT}`, { token: daemon });
    await env.call("POST", "/v1/tasks", { token: "sy_owner_0123456789abcdef0123456789abcdef", body: { name: "x" } });
    const s = await registerSession(env, "worker");
    await env.call("POST", "/v1/messages", { token: s.token, body: { to: s.session.name, body: SECRET_TEXT } });
    const text = lines.join("");
    expect(parse(text).length).toBeGreaterThanOrEqual(6);
    for (const secret of [env.owner, daemon, minted.body.token, s.token, "sy_owner_0123456789abcdef0123456789abcdef", SECRET_TEXT, "Bearer"]) {
      expect(text).not.toContain(secret);
    }
  });

  it("redacts secret-named fields that any other entry might carry (pino redact)", () => {
    const out: string[] = [];
    const log = pinoLogger({ destination: { write: (s: string) => void out.push(s) } });
    log.error("oops", { token: "sy_daemon_x", nested: { authorization: "Bearer y", body: SECRET_TEXT }, kept: 1 });
    const [e] = parse(out.join(""));
    expect(e).toMatchObject({ level: "error", msg: "oops", token: "[redacted]", nested: { authorization: "[redacted]", body: "[redacted]" }, kept: 1 });
  });

  it("refuses an unknown log level, naming the variable", () => {
    expect(() => pinoLogger({ level: "loud" })).toThrow(/SWITCHYARD_LOG_LEVEL must be one of .*'loud'/);
  });
});

describe("access log of switchyard up", () => {
  let dir: string;
  let up: UpProcess | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "switchyard-accesslog-"));
  });
  afterEach(() => {
    if (up) killUpProcess(up);
    rmSync(dir, { recursive: true, force: true });
  });

  it("prints a JSON line per request on stderr, with the id the client sent, and no secret", async () => {
    const home = join(dir, "home");
    up = startUpProcess(home, ["--no-cron"]);
    const url = await up.url;
    const owner = readOwnerTokenFile(resolveHome({}, { home }))!;
    const headers = { Authorization: `Bearer ${owner}`, "Content-Type": "application/json", "X-Request-Id": "ci-run-42" };
    const created = await fetch(`${url}/v1/tasks`, { method: "POST", headers, body: JSON.stringify({ name: "via-up", goal: SECRET_TEXT }) });
    expect(created.status).toBe(201);
    expect(created.headers.get("x-request-id")).toBe("ci-run-42");
    const refused = await fetch(`${url}/v1/tokens`, { headers: { Authorization: "Bearer sy_daemon_ffffffffffffffffffffffffffffffff" } });
    expect(refused.status).toBe(401);
    const refusedId = refused.headers.get("x-request-id");

    let entries: any[] = [];
    for (let i = 0; i < 100 && entries.length < 2; i++) {
      entries = parse(up.stderr()).filter((e) => e.msg === "request");
      if (entries.length < 2) await new Promise((r) => setTimeout(r, 50));
    }
    expect(entries).toEqual([
      expect.objectContaining({
        level: "info",
        request_id: "ci-run-42",
        method: "POST",
        route: "/v1/tasks",
        status: 201,
        principal: "owner",
        pid: up.child.pid,
      }),
      expect.objectContaining({ request_id: refusedId, route: "/v1/tokens", status: 401, principal: "anonymous", token_id: null }),
    ]);
    for (const secret of [owner, SECRET_TEXT, "sy_daemon_ffff", "Bearer"]) expect(up.stderr()).not.toContain(secret);
  });
});
