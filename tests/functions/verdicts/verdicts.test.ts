import { afterEach, describe, expect, it } from "vitest";
import { boundPair, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
afterEach(() => env?.close());

describe("dispatch-status without host evidence", () => {
  it("falls back to administrative status, the weakest signal, and says so", async () => {
    env = await makeTestEnv({ host: null });
    const pair = await boundPair(env);
    const task = pair.task.task.name;
    const running = await env.call("GET", `/v1/dispatch-status/${task}`);
    expect(running.body).toMatchObject({ state: "running", decided_by: "none", exit_code: null, resolved: { task, worker: pair.worker.session.name } });
    await env.call("POST", `/v1/tasks/${task}/finish`, { body: {} });
    const done = await env.call("GET", `/v1/dispatch-status/${task}`);
    expect(done.body).toMatchObject({ state: "done", decided_by: "administrative", exit_code: 0 });
    expect(done.body.reasons.at(-1)).toMatch(/administrative: task finished/);
    // The manager may judge its worker; another session may not.
    expect((await env.call("GET", `/v1/dispatch-status/${task}`, { token: pair.manager.token })).status).toBe(200);
    // Reopened by the owner, the task is no longer the finish that manager took part in.
    expect((await env.call("POST", `/v1/tasks/${task}/reopen`, { body: {} })).status).toBe(200);
    expect((await env.call("GET", `/v1/dispatch-status/${task}`, { token: pair.manager.token })).status).toBe(403);
    await env.call("POST", `/v1/tasks/${task}/finish`, { body: {} });
    const other = await boundPair(env);
    expect((await env.call("GET", `/v1/dispatch-status/${task}`, { token: other.manager.token })).status).toBe(403);
    const unknown = await env.call("GET", "/v1/dispatch-status/nothing-here");
    expect(unknown.body).toMatchObject({ state: "unresolved", exit_code: 5, resolved: null });
    const harvest = await env.call("POST", `/v1/harvest/${task}`, { body: { orphaned: true } });
    expect(harvest.status).toBe(409);
    expect((await env.call("POST", `/v1/harvest/${task}`, { body: {} })).status).toBe(400);
  });

  it("refuses a manager whose binding ended before the finish, or that was bound elsewhere since", async () => {
    env = await makeTestEnv({ host: null });
    const pair = await boundPair(env, { worker: { cwd: "/secret/repo" } });
    const task = pair.task.task.name;
    const as = (target: string) => env.call("GET", `/v1/dispatch-status/${target}`, { token: pair.manager.token });
    expect((await as(task)).body.resolved.cwd).toBe("/secret/repo");
    expect((await env.call("POST", "/v1/bindings/unbind", { body: { task } })).status).toBe(200);
    expect((await as(task)).status).toBe(403);
    expect((await as(pair.worker.session.name)).status).toBe(403);
    env.clock.advance(5);
    await env.call("POST", `/v1/tasks/${task}/finish`, { body: {} });
    expect((await as(task)).status).toBe(403);
    // The worker still judges itself.
    expect((await env.call("GET", `/v1/dispatch-status/${task}`, { token: pair.worker.token })).status).toBe(200);
  });

  it("still answers the manager after its dead worker was released (patrol, reconcile) or the task stopped; not after an unbind", async () => {
    env = await makeTestEnv({ host: null });
    for (const [reason, status] of [
      ["orphan", 200],
      ["reconcile", 200],
      ["stop", 200],
      ["unbind", 403],
    ] as const) {
      const p = await boundPair(env);
      // The binding as that ending leaves it (patrol/orphans.ts, admin/reconcile.ts, stop-task.ts, unbind.ts).
      await env.services.database.client.execute({
        sql: "UPDATE bindings SET state = 'ended', ended_at = ?, end_reason = ? WHERE task_id = ?",
        args: [env.clock.ms, reason, p.task.task_id],
      });
      expect((await env.call("GET", `/v1/dispatch-status/${p.task.task.name}`, { token: p.manager.token })).status, reason).toBe(status);
    }
    const pair = await boundPair(env);
    const task = pair.task.task.name;
    await env.services.database.client.execute({
      sql: "UPDATE bindings SET state = 'ended', ended_at = ?, end_reason = 'orphan' WHERE task_id = ?",
      args: [env.clock.ms, pair.task.task_id],
    });
    expect((await env.call("GET", `/v1/dispatch-status/${task}`, { token: pair.manager.token })).status).toBe(200);
    // A new pair bound since takes that over.
    const w2 = await registerSession(env, "worker");
    expect((await env.call("POST", "/v1/bindings", { body: { task, worker: w2.session.name, manager: pair.manager.session.name } })).status).toBe(201);
    const other = await registerSession(env, "manager");
    expect((await env.call("GET", `/v1/dispatch-status/${task}`, { token: other.token })).status).toBe(403);
  });
});
