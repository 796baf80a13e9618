import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { boundPair, createTask, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("enqueue-notify-manager / enqueue-nudge-worker", () => {
  it("queues a notify_manager command for the bound manager with its correlation id and permission", async () => {
    const { task, manager } = await boundPair(env);
    const res = await env.call("POST", `/v1/tasks/${task.task.name}/notify-manager`, {
      body: { message: "tests are green", correlation_id: "corr-1", required_permission: "merge" },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ created: true, target_session: manager.session.name });
    expect(res.body.command).toMatchObject({
      id: res.body.command_id,
      type: "notify_manager",
      state: "pending",
      task_id: task.task_id,
      session_id: manager.session_id,
      payload: { message: "tests are green" },
      correlation_id: "corr-1",
      required_permission: "merge",
      attempts: 0,
      max_attempts: 5,
    });
  });

  it("queues nudge_worker for the bound worker; the bound worker's own token may enqueue", async () => {
    const { task, worker } = await boundPair(env);
    const res = await env.call("POST", `/v1/tasks/${task.task.name}/nudge-worker`, { token: worker.token, body: { message: "keep going", max_attempts: 2 } });
    expect(res.status).toBe(201);
    expect(res.body.command).toMatchObject({
      type: "nudge_worker",
      session_id: worker.session_id,
      max_attempts: 2,
      created_by: `session:${worker.session_id}`,
    });
  });

  it("returns the existing command for a retried idempotency key instead of a duplicate", async () => {
    const { task } = await boundPair(env);
    const body = { message: "done", idempotency_key: "done-1" };
    const first = await env.call("POST", `/v1/tasks/${task.task.name}/notify-manager`, { body });
    const retry = await env.call("POST", `/v1/tasks/${task.task.name}/notify-manager`, { body });
    expect(first.status).toBe(201);
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ created: false, command_id: first.body.command_id });
    const rows = await env.services.database.client.execute("SELECT count(*) AS n FROM commands WHERE idempotency_key = 'done-1'");
    expect(rows.rows[0]!.n).toBe(1);
    // The same key for a different command is a mistake, not a retry.
    const other = await env.call("POST", `/v1/tasks/${task.task.name}/nudge-worker`, { body });
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe("IDEMPOTENCY_MISMATCH");
    // So is the same key with another message or options: the new text would be dropped unsaid.
    for (const changed of [
      { ...body, message: "something else" },
      { ...body, correlation_id: "c-9" },
      { ...body, max_attempts: 3 },
    ]) {
      const res = await env.call("POST", `/v1/tasks/${task.task.name}/notify-manager`, { body: changed });
      expect(res.status, JSON.stringify(changed)).toBe(422);
      expect(res.body.error).toMatchObject({ code: "IDEMPOTENCY_MISMATCH", hint: expect.stringContaining("exactly the same message") });
    }
    const stored = await env.services.database.client.execute("SELECT payload_json FROM commands WHERE idempotency_key = 'done-1'");
    expect(stored.rows.map((r) => JSON.parse(String(r.payload_json)).message)).toEqual(["done"]);
  });

  it("refuses an unbound task, an unknown task, a bad body and a session that is not bound to the task", async () => {
    const lonely = await createTask(env);
    const unbound = await env.call("POST", `/v1/tasks/${lonely.task.name}/notify-manager`, { body: { message: "x" } });
    expect(unbound.status).toBe(404);
    expect(unbound.body.error.hint).toContain("switchyard bind");
    expect((await env.call("POST", "/v1/tasks/nope/notify-manager", { body: { message: "x" } })).status).toBe(404);
    const { task } = await boundPair(env);
    const bad = await env.call("POST", `/v1/tasks/${task.task.name}/notify-manager`, { body: { message: "", max_attempts: 0 } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields.map((f: any) => f.field).sort()).toEqual(["max_attempts", "message"]);
    const stranger = await registerSession(env, "worker");
    const denied = await env.call("POST", `/v1/tasks/${task.task.name}/notify-manager`, { token: stranger.token, body: { message: "x" } });
    expect(denied.status).toBe(403);
    const runner = await env.call("POST", `/v1/tasks/${task.task.name}/notify-manager`, {
      token: await env.mint("runner", "test-host"),
      body: { message: "x" },
    });
    expect(runner.status).toBe(403);
  });

  it("scopes idempotency_key to the caller and the task: another caller or another task with the same key gets its own command", async () => {
    const a = await boundPair(env);
    const b = await boundPair(env);
    const send = (task: string, token?: string) =>
      env.call("POST", `/v1/tasks/${task}/notify-manager`, { token, body: { message: "same key", idempotency_key: "k-shared" } });
    const ownerA = await send(a.task.task.name);
    const workerA = await send(a.task.task.name, a.worker.token);
    const ownerB = await send(b.task.task.name);
    expect([ownerA.status, workerA.status, ownerB.status]).toEqual([201, 201, 201]);
    expect(new Set([ownerA.body.command_id, workerA.body.command_id, ownerB.body.command_id]).size).toBe(3);
    // The worker's retry finds its own command, never the owner's.
    const retry = await send(a.task.task.name, a.worker.token);
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ command_id: workerA.body.command_id, created: false });
    const cmds = await env.services.database.client.execute("SELECT count(*) AS n FROM commands WHERE idempotency_key = 'k-shared'");
    expect(Number(cmds.rows[0]!.n)).toBe(3);
  });
});
