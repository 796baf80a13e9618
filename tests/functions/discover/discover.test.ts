import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { boundPair, createTask, deregister, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

/** Runs a suggested `switchyard bind --task T --worker W --manager M` through the API. */
function runBindCommand(command: string) {
  const args = command.split(" ");
  expect(args.slice(0, 2)).toEqual(["switchyard", "bind"]);
  const flag = (f: string) => args[args.indexOf(f) + 1];
  return env.call("POST", "/v1/bindings", { body: { task: flag("--task"), worker: flag("--worker"), manager: flag("--manager") } });
}

describe("GET /v1/discover", () => {
  it("suggests creating a task on an empty database", async () => {
    const res = await env.call("GET", "/v1/discover");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ query: null, tasks: [], sessions: [], bindings: [] });
    expect(res.body.suggestions).toEqual([expect.objectContaining({ kind: "create_task", task: null })]);
  });

  it("suggests a ready-to-run bind command for an unbound task when free sessions exist, and the command works", async () => {
    const t = await createTask(env, { name: "login-fix" });
    const w = await registerSession(env, "worker", { name: "free-worker" });
    const m = await registerSession(env, "manager", { name: "boss" });
    const res = await env.call("GET", "/v1/discover");
    const bind = res.body.suggestions.filter((s: any) => s.kind === "bind");
    expect(bind).toEqual([expect.objectContaining({ task: "login-fix", command: "switchyard bind --task login-fix --worker free-worker --manager boss" })]);
    const bound = await runBindCommand(bind[0].command);
    expect(bound.status).toBe(201);
    expect(bound.body.binding).toMatchObject({ task: t.task.name, worker: w.session.name, manager: m.session.name });

    const after = await env.call("GET", "/v1/discover");
    expect(after.body.suggestions).toEqual([]);
    expect(after.body.bindings).toEqual([expect.objectContaining({ task: "login-fix" })]);
  });

  it("pairs each unbound task with a different free worker, so every suggested command runs", async () => {
    await createTask(env, { name: "first" });
    env.clock.advance(1);
    await createTask(env, { name: "second" });
    env.clock.advance(1);
    await createTask(env, { name: "third" });
    await registerSession(env, "worker", { name: "w-a" });
    await registerSession(env, "worker", { name: "w-b" });
    await registerSession(env, "manager", { name: "boss" });
    const res = await env.call("GET", "/v1/discover");
    const binds = res.body.suggestions.filter((s: any) => s.kind === "bind");
    expect(binds).toHaveLength(2);
    expect(new Set(binds.map((s: any) => s.command.split(" --worker ")[1].split(" ")[0]))).toEqual(new Set(["w-a", "w-b"]));
    expect(res.body.suggestions.filter((s: any) => s.kind === "register_worker")).toHaveLength(1);
    for (const s of binds) expect((await runBindCommand(s.command)).status, s.command).toBe(201);
  });

  it("never suggests a worker that is already bound; asks to register a worker instead", async () => {
    const { worker, manager } = await boundPair(env);
    const t = await createTask(env, { name: "needs-worker" });
    const res = await env.call("GET", "/v1/discover");
    expect(res.body.suggestions).toEqual([
      expect.objectContaining({ kind: "register_worker", task: t.task.name, command: expect.stringContaining("register-worker") }),
    ]);
    expect(JSON.stringify(res.body.suggestions)).not.toContain(worker.session.name);

    await registerSession(env, "worker", { name: "spare" });
    const after = await env.call("GET", "/v1/discover");
    expect(after.body.suggestions).toEqual([
      expect.objectContaining({ kind: "bind", command: `switchyard bind --task needs-worker --worker spare --manager ${manager.session.name}` }),
    ]);
  });

  it("knows a task is bound however many active bindings the fleet holds (more than one page of them)", async () => {
    const manager = await registerSession(env, "manager");
    // One page of bindings is 500; the task searched for is bound after all of them.
    for (let i = 0; i < 501; i++) {
      const task = await createTask(env, { name: `fleet-task-${i}` });
      const worker = await registerSession(env, "worker", { name: `fleet-worker-${i}` });
      const bound = await env.call("POST", "/v1/bindings", { body: { task: task.task.name, worker: worker.session.name, manager: manager.session.name } });
      expect(bound.status).toBe(201);
    }
    const res = await env.call("GET", "/v1/discover?q=fleet-task-500");
    expect(res.status).toBe(200);
    expect(res.body.tasks.map((t: { name: string }) => t.name)).toEqual(["fleet-task-500"]);
    expect(res.body.bindings).toEqual([expect.objectContaining({ task: "fleet-task-500", worker: "fleet-worker-500", manager: manager.session.name })]);
    expect(res.body.suggestions).toEqual([]);
    // The manager matches too: its bindings are listed, a page of them.
    const byManager = await env.call("GET", `/v1/discover?q=${manager.session.name}`);
    expect(byManager.body.bindings).toHaveLength(500);
  }, 120_000);

  it("asks to register a manager when none exists", async () => {
    await createTask(env, { name: "lonely" });
    await registerSession(env, "worker");
    const res = await env.call("GET", "/v1/discover");
    expect(res.body.suggestions).toEqual([
      expect.objectContaining({ kind: "register_manager", task: "lonely", command: expect.stringContaining("register-manager") }),
    ]);
  });

  it("matches the query against names and goals, literally", async () => {
    await createTask(env, { name: "a_b", goal: "percent 100% done" });
    await createTask(env, { name: "axb", goal: "other" });
    await createTask(env, { name: "zzz", goal: "refactor auth" });
    await createTask(env, { name: "win", goal: "fix C:\\temp\\x" });
    const names = async (q: string) => (await env.call("GET", `/v1/discover?q=${encodeURIComponent(q)}`)).body.tasks.map((t: any) => t.name).sort();
    expect(await names("auth")).toEqual(["zzz"]);
    expect(await names("a_b")).toEqual(["a_b"]);
    expect(await names("100%")).toEqual(["a_b"]);
    expect(await names("C:\\temp")).toEqual(["win"]);
    expect(await names("nothing-like-this")).toEqual([]);
  });

  it("hides gone sessions unless all=true, and reports recent events as telemetry", async () => {
    const w = await registerSession(env, "worker", { name: "old-one" });
    await deregister(env, w.session.name);
    expect((await env.call("GET", "/v1/discover")).body.sessions).toEqual([]);
    const all = await env.call("GET", "/v1/discover?all=true");
    expect(all.body.sessions.map((s: any) => s.name)).toEqual(["old-one"]);
    expect(all.body.telemetry.map((e: any) => e.kind).sort()).toEqual(["session_deregistered", "session_registered"]);
    expect((await env.call("GET", "/v1/discover?q=deregistered")).body.telemetry.map((e: any) => e.kind)).toEqual(["session_deregistered"]);
  });

  it("shows token ids to the owner only", async () => {
    const w = await registerSession(env, "worker");
    expect((await env.call("GET", "/v1/discover")).body.sessions[0].identity_token).toMatch(/^tok_/);
    const asSession = await env.call("GET", "/v1/discover", { token: w.token });
    expect(asSession.status).toBe(200);
    expect(asSession.body.sessions[0].identity_token).toBe("[redacted]");
  });

  it("lets a session match other sessions only on what it may see of them, and gives it no audit events", async () => {
    const a = await registerSession(env, "worker", { name: "wa", cwd: "/home/ownproj/x" });
    await registerSession(env, "worker", { name: "wd", cwd: "/home/secretproj/x" });
    await createTask(env, { name: "secretproj-task" });
    // The owner sees the cwd, so the match is fair.
    expect((await env.call("GET", "/v1/discover?q=secretproj")).body.sessions.map((s: any) => s.name)).toEqual(["wd"]);
    const asA = await env.call("GET", "/v1/discover?q=secretproj", { token: a.token });
    expect(asA.status).toBe(200);
    expect(asA.body.sessions).toEqual([]);
    expect(asA.body.tasks.map((t: any) => t.name)).toEqual(["secretproj-task"]);
    expect(asA.body.telemetry).toEqual([]);
    // Its own details are its to search, and names stay searchable.
    expect((await env.call("GET", "/v1/discover?q=ownproj", { token: a.token })).body.sessions.map((s: any) => s.name)).toEqual(["wa"]);
    expect((await env.call("GET", "/v1/discover?q=wd&all=true", { token: a.token })).body.sessions.map((s: any) => s.name)).toEqual(["wd"]);
    // The audit trail stays the owner's and the daemon's, with or without a query.
    expect((await env.call("GET", "/v1/discover", { token: a.token })).body.telemetry).toEqual([]);
    expect((await env.call("GET", "/v1/discover?q=registered", { token: a.token })).body.telemetry).toEqual([]);
    expect((await env.call("GET", "/v1/discover?q=registered")).body.telemetry.length).toBeGreaterThan(0);
  });

  it("respects limit and rejects an out-of-range one", async () => {
    for (let i = 0; i < 3; i++) await createTask(env);
    expect((await env.call("GET", "/v1/discover?limit=2")).body.tasks).toHaveLength(2);
    const bad = await env.call("GET", "/v1/discover?limit=0");
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields).toEqual([expect.objectContaining({ field: "limit" })]);
  });

  it("is not available to runners or anonymous callers", async () => {
    expect((await env.call("GET", "/v1/discover", { token: await env.mint("runner", "h") })).status).toBe(403);
    expect((await env.call("GET", "/v1/discover", { token: null })).status).toBe(401);
    expect((await env.call("GET", "/v1/discover", { token: await env.mint("daemon") })).status).toBe(200);
  });
});
