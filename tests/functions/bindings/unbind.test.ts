import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bindings } from "../../../schema/bindings.ts";
import { boundPair, createTask, withNewEvents } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv, PINNED_EPOCH } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv({ clockAt: PINNED_EPOCH });
});
afterEach(() => env.close());

describe("POST /v1/bindings/unbind", () => {
  it("ends the active binding, frees the worker and writes exactly one event", async () => {
    const { task, worker, manager, binding } = await boundPair(env);
    env.clock.advance(60);
    const { result: res, events } = await withNewEvents(env, () => env.call("POST", "/v1/bindings/unbind", { body: { task: task.task.name } }));
    expect(res.status).toBe(200);
    expect(res.body.binding).toMatchObject({
      id: binding.binding_id,
      task: task.task.name,
      worker: worker.session.name,
      manager: manager.session.name,
      state: "ended",
      ended_at: "2026-11-21T12:01:00.000Z",
    });
    const [row] = await env.services.database.db.select().from(bindings);
    expect(row).toMatchObject({ state: "ended", endedAt: env.clock.ms });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ id: res.body.event_id, kind: "task_unbound", taskId: task.task_id });

    const other = await createTask(env);
    const rebind = await env.call("POST", "/v1/bindings", { body: { task: other.task.name, worker: worker.session.name, manager: manager.session.name } });
    expect(rebind.status).toBe(201);
  });

  it("answers NOT_FOUND for a task without an active binding and for an unknown task", async () => {
    const t = await createTask(env);
    const { result: res, events } = await withNewEvents(env, () => env.call("POST", "/v1/bindings/unbind", { body: { task: t.task.name } }));
    expect(res.status).toBe(404);
    expect(res.body.error.message).toContain("no active binding");
    expect(events).toHaveLength(0);
    const ghost = await env.call("POST", "/v1/bindings/unbind", { body: { task: "ghost" } });
    expect(ghost.status).toBe(404);
    expect(ghost.body.error.message).toContain("task 'ghost'");
  });

  it("refuses a missing task field", async () => {
    const res = await env.call("POST", "/v1/bindings/unbind", { body: {} });
    expect(res.status).toBe(400);
    expect(res.body.error.fields).toEqual([expect.objectContaining({ field: "task" })]);
  });

  it("is owner-only: the bound sessions themselves may not unbind", async () => {
    const { task, worker, manager } = await boundPair(env);
    for (const token of [worker.token, manager.token, await env.mint("daemon")]) {
      expect((await env.call("POST", "/v1/bindings/unbind", { token, body: { task: task.task.name } })).status).toBe(403);
    }
    const [row] = await env.services.database.db.select().from(bindings);
    expect(row!.state).toBe("active");
  });
});
