import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bindings } from "../../../schema/bindings.ts";
import { tasks } from "../../../schema/tasks.ts";
import { boundPair, createTask, deregister, registerSession, withNewEvents } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const bind = (task: string, worker: string, manager: string, token?: string) => env.call("POST", "/v1/bindings", { token, body: { task, worker, manager } });
const bindingRows = () => env.services.database.db.select().from(bindings);

describe("POST /v1/bindings", () => {
  it("binds a worker and a manager to a task and writes exactly one event", async () => {
    const t = await createTask(env);
    const w = await registerSession(env, "worker");
    const m = await registerSession(env, "manager");
    const { result: res, events } = await withNewEvents(env, () => bind(t.task.name, w.session.name, m.session.name));
    expect(res.status).toBe(201);
    expect(res.body.binding).toMatchObject({ task: t.task.name, worker: w.session.name, manager: m.session.name, state: "active", ended_at: null });
    const rows = await bindingRows();
    expect(rows).toEqual([
      expect.objectContaining({ id: res.body.binding_id, taskId: t.task_id, workerSessionId: w.session_id, managerSessionId: m.session_id, state: "active" }),
    ]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ id: res.body.event_id, kind: "task_bound", taskId: t.task_id, payload: { binding_id: res.body.binding_id } });
  });

  it("lets one manager manage several tasks", async () => {
    const m = await registerSession(env, "manager");
    for (let i = 0; i < 2; i++) {
      const t = await createTask(env);
      const w = await registerSession(env, "worker");
      expect((await bind(t.task.name, w.session.name, m.session.name)).status).toBe(201);
    }
  });

  it("refuses a worker passed as manager and a manager passed as worker (ROLE_MISMATCH)", async () => {
    const t = await createTask(env);
    const w = await registerSession(env, "worker");
    const w2 = await registerSession(env, "worker");
    const m = await registerSession(env, "manager");
    const asManager = await bind(t.task.name, w.session.name, w2.session.name);
    expect(asManager.status).toBe(422);
    expect(asManager.body.error.code).toBe("ROLE_MISMATCH");
    expect(asManager.body.error.message).toContain(w2.session.name);
    const asWorker = await bind(t.task.name, m.session.name, m.session.name);
    expect(asWorker.status).toBe(422);
    expect(asWorker.body.error.code).toBe("ROLE_MISMATCH");
    expect(await bindingRows()).toHaveLength(0);
  });

  it("refuses a second binding for a task that is already bound (ALREADY_BOUND)", async () => {
    const { task, manager } = await boundPair(env);
    const w2 = await registerSession(env, "worker");
    const { result: res, events } = await withNewEvents(env, () => bind(task.task.name, w2.session.name, manager.session.name));
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("ALREADY_BOUND");
    expect(res.body.error.message).toContain(`task '${task.task.name}'`);
    expect(res.body.error.hint).toContain(`unbind --task ${task.task.name}`);
    expect(events).toHaveLength(0);
    expect(await bindingRows()).toHaveLength(1);
  });

  it("refuses a worker that is already bound to another task (ALREADY_BOUND)", async () => {
    const { task, worker, manager } = await boundPair(env);
    const other = await createTask(env);
    const res = await bind(other.task.name, worker.session.name, manager.session.name);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("ALREADY_BOUND");
    expect(res.body.error.message).toBe(`worker '${worker.session.name}' is already bound to task '${task.task.name}'`);
    expect(await bindingRows()).toHaveLength(1);
  });

  it("refuses deregistered sessions (SESSION_INACTIVE), on either side", async () => {
    const t = await createTask(env);
    const w = await registerSession(env, "worker");
    const m = await registerSession(env, "manager");
    const goneW = await registerSession(env, "worker");
    const goneM = await registerSession(env, "manager");
    await deregister(env, goneW.session.name);
    await deregister(env, goneM.session.name);
    for (const [worker, manager] of [
      [goneW.session.name, m.session.name],
      [w.session.name, goneM.session.name],
    ]) {
      const res = await bind(t.task.name, worker!, manager!);
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe("SESSION_INACTIVE");
    }
    expect(await bindingRows()).toHaveLength(0);
  });

  it("answers NOT_FOUND for an unknown task, worker or manager", async () => {
    const t = await createTask(env);
    const w = await registerSession(env, "worker");
    const m = await registerSession(env, "manager");
    for (const [task, worker, manager, what] of [
      ["ghost", w.session.name, m.session.name, "task 'ghost'"],
      [t.task.name, "ghost", m.session.name, "session 'ghost'"],
      [t.task.name, w.session.name, "ghost", "session 'ghost'"],
    ]) {
      const res = await bind(task!, worker!, manager!);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe("NOT_FOUND");
      expect(res.body.error.message).toContain(what);
    }
  });

  it("refuses a task that is no longer active (CONFLICT)", async () => {
    const t = await createTask(env);
    await env.services.database.db.update(tasks).set({ state: "finished" }).where(eq(tasks.id, t.task_id));
    const w = await registerSession(env, "worker");
    const m = await registerSession(env, "manager");
    const res = await bind(t.task.name, w.session.name, m.session.name);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("CONFLICT");
  });

  it("lists each missing or invalid field", async () => {
    const res = await env.call("POST", "/v1/bindings", { body: { task: "t", worker: "bad name" } });
    expect(res.status).toBe(400);
    expect(res.body.error.fields.map((f: any) => f.field).sort()).toEqual(["manager", "worker"]);
  });

  it("is owner-only", async () => {
    const t = await createTask(env);
    const w = await registerSession(env, "worker");
    const m = await registerSession(env, "manager");
    for (const token of [w.token, m.token, await env.mint("daemon"), await env.mint("runner", "test-host")]) {
      expect((await bind(t.task.name, w.session.name, m.session.name, token)).status).toBe(403);
    }
    expect(await bindingRows()).toHaveLength(0);
  });
});
