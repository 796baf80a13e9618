import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { encodeCursor } from "../../../functions/lib/paging.ts";
import { boundPair, createTask, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;

/** Ends the task's active binding and binds the same pair again, n times: n more bindings in its history. */
async function rebind(task: string, worker: string, manager: string, n: number) {
  for (let i = 0; i < n; i++) {
    env.clock.advance(1);
    expect((await env.call("POST", "/v1/bindings/unbind", { body: { task } })).status).toBe(200);
    expect((await env.call("POST", "/v1/bindings", { body: { task, worker, manager } })).status).toBe(201);
  }
}
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
      bindings_total: 0,
      bindings_history_next_cursor: null,
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

describe("a task's binding history is bounded in show and paged in GET /v1/tasks/{name}/bindings", () => {
  it("shows only the newest bindings, the total, and a cursor that pages on through the rest", async () => {
    const { task, worker, manager } = await boundPair(env);
    const name = task.task.name;
    await rebind(name, worker.session.name, manager.session.name, 24);

    const show = await env.call("GET", `/v1/tasks/${name}`);
    expect(show.status).toBe(200);
    // Before paging, show returned all 25 bindings in one array.
    expect(show.body.bindings_history).toHaveLength(20);
    expect(show.body.bindings_total).toBe(25);
    expect(show.body.bindings_history[0]).toMatchObject({ state: "active", id: show.body.binding.id });
    const rest = await env.call("GET", `/v1/tasks/${name}/bindings?cursor=${show.body.bindings_history_next_cursor}`);
    expect(rest.status).toBe(200);
    expect(rest.body).toMatchObject({ task: name, count: 5, next_cursor: null });
    const ids = [...show.body.bindings_history, ...rest.body.bindings].map((b: any) => b.id);
    expect(new Set(ids).size).toBe(25);
    const created = [...show.body.bindings_history, ...rest.body.bindings].map((b: any) => b.created_at);
    expect(created).toEqual([...created].sort().reverse());
  });

  it("pages newest first, and a walk neither skips nor repeats rows when the task is rebound meanwhile", async () => {
    const { task, worker, manager } = await boundPair(env);
    const name = task.task.name;
    await rebind(name, worker.session.name, manager.session.name, 4);
    const first = await env.call("GET", `/v1/tasks/${name}/bindings?limit=2`);
    expect(first.body).toMatchObject({ count: 2, next_cursor: expect.any(String) });
    await rebind(name, worker.session.name, manager.session.name, 3);
    const seen = first.body.bindings.map((b: any) => b.id);
    let cursor = first.body.next_cursor;
    while (cursor) {
      const page = await env.call("GET", `/v1/tasks/${name}/bindings?limit=2&cursor=${cursor}`);
      expect(page.status).toBe(200);
      seen.push(...page.body.bindings.map((b: any) => b.id));
      cursor = page.body.next_cursor;
    }
    // The five bindings there were at the start, each once; the three newer ones are on a new walk.
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
    const all = await env.call("GET", `/v1/tasks/${name}/bindings?limit=500`);
    expect(all.body.count).toBe(8);
    expect(all.body.bindings.slice(3).map((b: any) => b.id)).toEqual(seen);
  });

  it("refuses a malformed cursor, another task's cursor and a limit over the maximum", async () => {
    const a = await boundPair(env);
    const b = await boundPair(env);
    await rebind(a.task.task.name, a.worker.session.name, a.manager.session.name, 2);
    await rebind(b.task.task.name, b.worker.session.name, b.manager.session.name, 2);
    const ofA = (await env.call("GET", `/v1/tasks/${a.task.task.name}/bindings?limit=1`)).body.next_cursor;
    for (const bad of [`/v1/tasks/${b.task.task.name}/bindings?cursor=${ofA}`, `/v1/tasks/${a.task.task.name}/bindings?cursor=not-a-cursor`]) {
      const res = await env.call("GET", bad);
      expect(res.status, bad).toBe(400);
      expect(res.body.error).toMatchObject({ code: "VALIDATION_FAILED", hint: expect.stringContaining("next_cursor") });
    }
    // A hand-made cursor with this task's tag but keys of the wrong type: refused, not a silent restart or an empty page.
    const tag = `tasks/bindings/${a.task.task_id}`;
    for (const key of [
      ["x", "y"],
      [0, 0],
      [1e300, "zzzz"],
    ]) {
      const forged = encodeCursor(key, tag);
      const res = await env.call("GET", `/v1/tasks/${a.task.task.name}/bindings?cursor=${forged}`);
      expect(res.status, JSON.stringify(key)).toBe(400);
      expect(res.body.error.code).toBe("VALIDATION_FAILED");
    }
    const big = await env.call("GET", `/v1/tasks/${a.task.task.name}/bindings?limit=501`);
    expect(big.status).toBe(400);
    expect(big.body.error.code).toBe("VALIDATION_FAILED");
    expect((await env.call("GET", "/v1/tasks/ghost/bindings")).status).toBe(404);
  });

  it("is readable by a session but not by a runner or anonymously", async () => {
    const { task, worker } = await boundPair(env);
    const path = `/v1/tasks/${task.task.name}/bindings`;
    expect((await env.call("GET", path, { token: worker.token })).body.count).toBe(1);
    expect((await env.call("GET", path, { token: await env.mint("runner", "h") })).status).toBe(403);
    expect((await env.call("GET", path, { token: null })).status).toBe(401);
  });
});
