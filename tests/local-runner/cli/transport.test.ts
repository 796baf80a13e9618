import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, runCli } from "../../../local-runner/cli/main.ts";
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
  });
});
