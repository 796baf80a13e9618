import { afterEach, describe, expect, it } from "vitest";
import { boundPair, createTask } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
afterEach(() => env?.close());

describe("plans, notes and the board", () => {
  it("plans have an owner and a status; a session owns the plans it creates", async () => {
    env = await makeTestEnv();
    const pair = await boundPair(env);
    const p = await env.call("POST", "/v1/plans", {
      body: { title: "Split auth", body: "1. sessions 2. cookies", owner: pair.manager.session.name, task: pair.task.task.name },
    });
    expect(p.status).toBe(201);
    expect(p.body.plan).toMatchObject({ status: "draft", owner: pair.manager.session.name, task: pair.task.task.name });
    const by = await env.call("POST", `/v1/plans/${p.body.plan_id}/status`, { token: pair.worker.token, body: { status: "active" } });
    expect(by.status).toBe(403);
    const ok = await env.call("POST", `/v1/plans/${p.body.plan_id}/status`, { token: pair.manager.token, body: { status: "active" } });
    expect(ok.body.plan.status).toBe("active");
    const own = await env.call("POST", "/v1/plans", { token: pair.worker.token, body: { title: "mine" } });
    expect(own.body.plan.owner).toBe(pair.worker.session.name);
    expect((await env.call("GET", "/v1/plans?status=active")).body.plans.map((x: any) => x.title)).toEqual(["Split auth"]);
    expect((await env.call("GET", "/v1/plans/pln_nope")).status).toBe(404);
  });

  it("shows who works where with their claims, what is blocked, what needs review or a handoff", async () => {
    env = await makeTestEnv();
    const pair = await boundPair(env);
    const gone = await boundPair(env);
    const task = pair.task.task.name;
    await env.call("POST", "/v1/claims", { body: { path: "src/auth/**", session: pair.worker.session.name, ttl_seconds: 600, exclusive: true } });
    const waiting = (await createTask(env)).task.name;
    await env.call("POST", `/v1/tasks/${waiting}/depends`, { body: { on: task } });
    await env.call("POST", "/v1/notes", { body: { text: "CI is flaky on the db suite", task } });
    await env.call("POST", "/v1/plans", { body: { title: "ship", status: "active" } });
    // A finished turn nobody has read yet.
    await env.services.database.client.execute({
      sql: "INSERT INTO inbox_items (id, target_session_id, task_id, signal_type, payload_json, delivery_mode, created_at) VALUES ('inb_t', ?, ?, 'worker_task_complete', '{}', 'pull_required', 0)",
      args: [pair.manager.session_id, pair.task.task_id],
    });
    // The other worker's session is gone while still bound.
    await env.services.database.client.execute({ sql: "UPDATE sessions SET state = 'gone' WHERE id = ?", args: [gone.worker.session_id] });
    const b = (await env.call("GET", "/v1/board")).body;
    const lane = b.working.find((l: any) => l.task === task);
    expect(lane).toMatchObject({ worker: pair.worker.session.name, manager: pair.manager.session.name, needs_review: true, needs_handoff: false });
    expect(lane.claims.map((c: any) => c.path)).toEqual(["src/auth/**"]);
    expect(b.working.find((l: any) => l.task === gone.task.task.name)).toMatchObject({ needs_handoff: true, worker_state: "gone" });
    expect(b.unassigned.map((t: any) => t.task)).toEqual([waiting]);
    expect(b.blocked.map((r: any) => r.task.name)).toEqual([waiting]);
    expect(b.notes[0].text).toBe("CI is flaky on the db suite");
    expect(b.plans.map((p: any) => p.title)).toEqual(["ship"]);
    expect(b.counts).toMatchObject({ live_claims: 1 });
    const paged = await env.call("GET", "/v1/board?limit=1");
    expect(paged.body.working).toHaveLength(1);
    const next = await env.call("GET", `/v1/board?limit=1&cursor=${paged.body.next_cursor}`);
    expect(next.body.working[0].task).not.toBe(paged.body.working[0].task);
  });

  it("shows a lane's oldest 20 live claims with the worker's total, never its released ones", async () => {
    env = await makeTestEnv();
    const pair = await boundPair(env);
    const other = await boundPair(env);
    const claim = async (path: string, session: string) => {
      const r = await env.call("POST", "/v1/claims", { body: { path, session, ttl_seconds: 600 } });
      expect(r.status).toBe(201);
      env.clock.advance(0.001);
      return r.body;
    };
    const released = await claim("old/released", pair.worker.session.name);
    expect((await env.call("POST", `/v1/claims/${released.claim_id}/release`, { body: {} })).status).toBe(200);
    for (let i = 0; i < 25; i++) await claim(`src/f${String(i).padStart(2, "0")}`, pair.worker.session.name);
    await claim("lib/x", other.worker.session.name);
    const b = (await env.call("GET", "/v1/board")).body;
    const lane = b.working.find((l: any) => l.task === pair.task.task.name);
    expect(lane.claims.map((c: any) => c.path)).toEqual(Array.from({ length: 20 }, (_, i) => `src/f${String(i).padStart(2, "0")}`));
    expect(lane.claims_total).toBe(25);
    const small = b.working.find((l: any) => l.task === other.task.task.name);
    expect([small.claims.map((c: any) => c.path), small.claims_total]).toEqual([["lib/x"], 1]);
  });

  it("lists the oldest unassigned tasks with their total, and hands on the blocked ones past its first 50", async () => {
    env = await makeTestEnv();
    const blocker = (await createTask(env, { name: "zz-blocker" })).task.name;
    const names = Array.from({ length: 53 }, (_, i) => `free-${String(i).padStart(2, "0")}`);
    for (const name of names) {
      await createTask(env, { name });
      expect((await env.call("POST", `/v1/tasks/${name}/depends`, { body: { on: blocker } })).status).toBe(201);
    }
    const b = (await env.call("GET", "/v1/board")).body;
    // Oldest first: the blocker, then the free tasks in the order they were made.
    expect(b.unassigned.map((t: any) => t.task)).toEqual([blocker, ...names.slice(0, 49)]);
    expect(b.counts.unassigned_tasks).toBe(54);
    expect(b.blocked).toHaveLength(50);
    const rest = await env.call("GET", `/v1/blocked-tasks?cursor=${b.blocked_next_cursor}`);
    expect(rest.status).toBe(200);
    expect([...b.blocked, ...rest.body.blocked].map((r: any) => r.task.name).sort()).toEqual(names);
    expect(rest.body.next_cursor).toBeNull();
  });

  it("shows a worker's cwd only to whom session show shows it", async () => {
    env = await makeTestEnv();
    const pair = await boundPair(env, { worker: { cwd: "/secret/worktree" } });
    const stranger = await boundPair(env);
    const cwdFor = async (token?: string) => {
      const b = (await env.call("GET", "/v1/board", { token })).body;
      return b.working.find((l: any) => l.task === pair.task.task.name).worker_cwd;
    };
    expect(await cwdFor()).toBe("/secret/worktree");
    expect(await cwdFor(pair.manager.token)).toBe("/secret/worktree");
    expect(await cwdFor(pair.worker.token)).toBe("/secret/worktree");
    expect(await cwdFor(stranger.manager.token)).toBeNull();
    expect(await cwdFor(stranger.worker.token)).toBeNull();
  });
});
