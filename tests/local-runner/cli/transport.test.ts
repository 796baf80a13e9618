import { createServer, type Socket } from "node:net";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, runCli } from "../../../local-runner/cli/main.ts";
import { answerWithinSeconds, OWN_DEADLINE_ROUTES } from "../../../local-runner/cli/transport.ts";
import { operationsOf } from "../../helpers/openapi.ts";
import { startUp, type Running } from "../../../local-runner/up.ts";
import { tasks } from "../../../schema/tasks.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

/** The CLI over HTTP against a real `up` server on a free port. */

let env: TestEnv;
let running: Running;
const savedEnv = { url: process.env.SWITCHYARD_URL, token: process.env.SWITCHYARD_TOKEN };

beforeAll(async () => {
  delete process.env.SWITCHYARD_URL;
  delete process.env.SWITCHYARD_TOKEN;
  env = await makeTestEnv();
  running = await startUp(env.services, { port: 0, hostname: "127.0.0.1", schedules: [] });
});
afterAll(async () => {
  await running.stop();
  env.close();
  for (const [k, v] of [
    ["SWITCHYARD_URL", savedEnv.url],
    ["SWITCHYARD_TOKEN", savedEnv.token],
  ] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

async function http(token: string | null, ...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const auth = token === null ? [] : ["--token", token];
  const code = await runCli([...argv, "--url", running.url, ...auth], { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("switchyard --url (HTTP)", () => {
  it("creates a task on the server, and exits 1 with NAME_TAKEN on a duplicate", async () => {
    const created = await http(env.owner, "tasks", "--create", "over-http", "--goal", "g");
    expect(created.code).toBe(EXIT_OK);
    expect(created.out).toMatch(/^created task over-http \(tsk_/);
    expect(await env.services.database.db.select().from(tasks).where(eq(tasks.name, "over-http"))).toHaveLength(1);

    const dup = await http(env.owner, "tasks", "--create", "over-http");
    expect(dup.code).toBe(EXIT_FAILED);
    expect(dup.err).toContain("NAME_TAKEN");
  });

  it("prints exactly the server's JSON with --json", async () => {
    await http(env.owner, "tasks", "--create", "json-task");
    const res = await http(env.owner, "task", "show", "json-task", "--json");
    expect(res.code).toBe(EXIT_OK);
    const direct = await fetch(`${running.url}/v1/tasks/json-task`, { headers: { Authorization: `Bearer ${env.owner}` } });
    expect(JSON.parse(res.out)).toEqual(await direct.json());
  });

  it("authenticates with the given token: a session acts as itself only", async () => {
    const a = JSON.parse((await http(env.owner, "register-worker", "--name", "http-a", "--json")).out);
    await http(env.owner, "register-worker", "--name", "http-b");
    expect((await http(a.token, "heartbeat", "http-a")).code).toBe(EXIT_OK);
    const other = await http(a.token, "heartbeat", "http-b");
    expect(other.code).toBe(EXIT_FAILED);
    expect(other.err).toContain("FORBIDDEN");
    const create = await http(a.token, "tasks", "--create", "not-allowed");
    expect(create.code).toBe(EXIT_FAILED);
    expect(create.err).toContain("FORBIDDEN");
  });

  it("exits 1 with UNAUTHENTICATED for a wrong token or none", async () => {
    const wrong = await http("sy_owner_wrong", "tasks");
    expect(wrong.code).toBe(EXIT_FAILED);
    expect(wrong.err).toContain("UNAUTHENTICATED: unknown bearer token");
    const revoked = JSON.parse((await http(env.owner, "token", "mint", "--scope", "daemon", "--json")).out);
    await http(env.owner, "token", "revoke", revoked.token_id);
    expect((await http(revoked.token, "cron", "list")).err).toContain("revoked");
  });

  it("reads the owner token from <home>/owner.token when --token is absent", async () => {
    await env.call("POST", "/v1/tasks", { body: { name: "from-file" } });
    const out: string[] = [];
    const code = await runCli(["tasks", "--url", running.url, "--home", env.dir], { out: (t) => out.push(t), err: () => {} });
    expect(code).toBe(EXIT_OK);
    expect(out.join("\n")).toContain("from-file");
  });

  it("uses $SWITCHYARD_URL and $SWITCHYARD_TOKEN when no flags are given", async () => {
    process.env.SWITCHYARD_URL = running.url;
    process.env.SWITCHYARD_TOKEN = env.owner;
    try {
      const out: string[] = [];
      expect(await runCli(["bindings", "--json"], { out: (t) => out.push(t), err: () => {} })).toBe(EXIT_OK);
      expect(JSON.parse(out.join("\n"))).toEqual({ bindings: [], count: 0, next_cursor: null });
    } finally {
      delete process.env.SWITCHYARD_URL;
      delete process.env.SWITCHYARD_TOKEN;
    }
  });

  it("keeps usage errors local (exit 2) and reports an unreachable server (exit 1)", async () => {
    expect((await http(env.owner, "discover", "--limit", "x")).code).toBe(EXIT_USAGE);
    const err: string[] = [];
    const code = await runCli(["tasks", "--url", "http://127.0.0.1:1", "--token", env.owner], { out: () => {}, err: (t) => err.push(t) });
    expect(code).toBe(EXIT_FAILED);
    expect(err.join("\n")).toContain("cannot reach http://127.0.0.1:1");
    expect(err.join("\n")).toContain("hint: Is `switchyard up` running there?");
  });

  it("gives up on a server that accepts the connection and never answers, with a hint (exit 1)", async () => {
    const held: Socket[] = [];
    const silent = createServer((socket) => held.push(socket));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    process.env.SWITCHYARD_HTTP_TIMEOUT = "0.5";
    try {
      for (const argv of [["tasks"], ["tasks", "--create", "never-answered"]]) {
        const err: string[] = [];
        const code = await runCli([...argv, "--url", url, "--token", env.owner], { out: () => {}, err: (t) => err.push(t) });
        expect(code).toBe(EXIT_FAILED);
        expect(err.join("\n")).toContain(`no answer from ${url} within 0.5s: it accepted the connection but did not reply`);
        expect(err.join("\n")).toContain("SWITCHYARD_HTTP_TIMEOUT");
      }
      process.env.SWITCHYARD_HTTP_TIMEOUT = "soon";
      const err: string[] = [];
      expect(await runCli(["tasks", "--url", url, "--token", env.owner], { out: () => {}, err: (t) => err.push(t) })).toBe(EXIT_FAILED);
      expect(err.join("\n")).toContain("SWITCHYARD_HTTP_TIMEOUT must be a positive number of seconds (at most 86400), got 'soon'");
    } finally {
      delete process.env.SWITCHYARD_HTTP_TIMEOUT;
      for (const s of held) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it("waits as long as the server may take: its deadline, a long poll's wait on top, or a route's own bound", async () => {
    expect(answerWithinSeconds({ method: "GET", path: "/tasks" }, {})).toBe(90);
    expect(answerWithinSeconds({ method: "POST", path: "/sessions/m/inbox/consume", body: { wait: true, timeout: 240 } }, {})).toBe(330);
    expect(answerWithinSeconds({ method: "GET", path: "/sessions/m/inbox", query: { wait: true } }, {})).toBe(150);
    expect(answerWithinSeconds({ method: "POST", path: "/sessions/spawn", body: {} }, {})).toBe(960);
    // A server deadline configured longer on this machine (or off) is waited for.
    expect(answerWithinSeconds({ method: "GET", path: "/tasks" }, { SWITCHYARD_REQUEST_TIMEOUT_MS: "120000" })).toBe(150);
    expect(answerWithinSeconds({ method: "GET", path: "/tasks" }, { SWITCHYARD_REQUEST_TIMEOUT_MS: "0" })).toBe(990);
    // Read as the server reads it: anything but digits is the default, and nothing is unbounded.
    for (const odd of [" 0", "0.0", "0x0", "-1", "abc", "1e400"]) {
      expect(answerWithinSeconds({ method: "GET", path: "/tasks" }, { SWITCHYARD_REQUEST_TIMEOUT_MS: odd }), odd).toBe(90);
    }
    expect(answerWithinSeconds({ method: "GET", path: "/tasks" }, { SWITCHYARD_REQUEST_TIMEOUT_MS: "99999999999" })).toBe(86_430);
    // Every route whose deadline is its own is in the CLI's list, and nothing else is.
    const doc = (await env.call("GET", "/v1/openapi.json", { token: null })).body;
    const own = operationsOf(doc)
      .filter((op) => op.raw["x-deadline"] === "own")
      .map((op) => `${op.method} ${op.path.replace(/^\/v1/, "").replace(/\{[^}]+\}/g, "x")}`);
    expect(own.length).toBeGreaterThan(5);
    for (const route of own)
      expect(
        OWN_DEADLINE_ROUTES.some((r) => r.test(route)),
        route,
      ).toBe(true);
    for (const r of OWN_DEADLINE_ROUTES)
      expect(
        own.some((route) => r.test(route)),
        String(r),
      ).toBe(true);
  });
});
