import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { boundPair, deregister, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("GET /v1/sessions/{name}", () => {
  it("shows a session with the task each side of a binding is bound to", async () => {
    const { task, worker, manager } = await boundPair(env);
    const w = await env.call("GET", `/v1/sessions/${worker.session.name}`);
    expect(w.status).toBe(200);
    expect(w.body.session).toMatchObject({ id: worker.session_id, role: "worker", state: "active" });
    expect(w.body.active_task).toBe(task.task.name);
    const m = await env.call("GET", `/v1/sessions/${manager.session.name}`);
    expect(m.body.active_task).toBe(task.task.name);
  });

  it("shows an unbound session with no active task", async () => {
    const w = await registerSession(env, "worker");
    const res = await env.call("GET", `/v1/sessions/${w.session.name}`);
    expect(res.body.active_task).toBeNull();
  });

  it("prefers the active session over a gone one with the same name, and shows the gone one otherwise", async () => {
    const old = await registerSession(env, "worker", { name: "reused" });
    await deregister(env, "reused");
    const gone = await env.call("GET", "/v1/sessions/reused");
    expect(gone.body.session).toMatchObject({ id: old.session_id, state: "gone" });
    expect(gone.body.session.gone_at).not.toBeNull();
    env.clock.advance(5);
    const fresh = await registerSession(env, "manager", { name: "reused" });
    const res = await env.call("GET", "/v1/sessions/reused");
    expect(res.body.session).toMatchObject({ id: fresh.session_id, state: "active", role: "manager" });
  });

  it("answers NOT_FOUND for an unknown name and VALIDATION_FAILED for an invalid one", async () => {
    const res = await env.call("GET", "/v1/sessions/ghost");
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("NOT_FOUND");
    const bad = await env.call("GET", "/v1/sessions/-bad");
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields).toEqual([expect.objectContaining({ field: "name" })]);
  });

  it("refuses anonymous callers", async () => {
    const w = await registerSession(env, "worker");
    expect((await env.call("GET", `/v1/sessions/${w.session.name}`, { token: null })).status).toBe(401);
  });
});
