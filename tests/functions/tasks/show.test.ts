import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { boundPair, createTask, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("GET /v1/tasks/{name}", () => {
  it("shows an unbound task with no binding and empty history", async () => {
    const t = await createTask(env, { name: "solo", goal: "g" });
    const res = await env.call("GET", "/v1/tasks/solo");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      task: expect.objectContaining({ id: t.task_id, name: "solo", goal: "g" }),
      binding: null,
      worker: null,
      manager: null,
      bindings_history: [],
    });
  });

  it("shows the active binding with both sessions, and ended bindings in the history", async () => {
    const { task, worker, manager } = await boundPair(env);
    const name = task.task.name;
    env.clock.advance(5);
    await env.call("POST", "/v1/bindings/unbind", { body: { task: name } });
    const w2 = await registerSession(env, "worker");
    env.clock.advance(5);
    await env.call("POST", "/v1/bindings", { body: { task: name, worker: w2.session.name, manager: manager.session.name } });

    const res = await env.call("GET", `/v1/tasks/${name}`);
    expect(res.body.binding).toMatchObject({ task: name, worker: w2.session.name, manager: manager.session.name, state: "active" });
    expect(res.body.worker).toMatchObject({ id: w2.session_id });
    expect(res.body.manager).toMatchObject({ id: manager.session_id });
    expect(res.body.bindings_history.map((b: any) => [b.worker, b.state])).toEqual([
      [w2.session.name, "active"],
      [worker.session.name, "ended"],
    ]);
  });

  it("answers NOT_FOUND with a hint to create the task", async () => {
    const res = await env.call("GET", "/v1/tasks/ghost");
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("NOT_FOUND");
    expect(res.body.error.hint).toContain("tasks --create ghost");
  });

  it("is readable by a session but not by a runner or anonymously", async () => {
    const t = await createTask(env);
    const w = await registerSession(env, "worker");
    expect((await env.call("GET", `/v1/tasks/${t.task.name}`, { token: w.token })).status).toBe(200);
    expect((await env.call("GET", `/v1/tasks/${t.task.name}`, { token: await env.mint("runner", "h") })).status).toBe(403);
    expect((await env.call("GET", `/v1/tasks/${t.task.name}`, { token: null })).status).toBe(401);
  });
});
