import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sessions } from "../../../schema/sessions.ts";
import { boundPair, deregister, registerSession, withNewEvents } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv, PINNED_EPOCH } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv({ clockAt: PINNED_EPOCH });
});
afterEach(() => env.close());

const rowOf = async (id: string) => (await env.services.database.db.select().from(sessions).where(eq(sessions.id, id)))[0]!;

describe("POST /v1/sessions/{name}/deregister", () => {
  it("marks the session gone and writes exactly one event", async () => {
    const w = await registerSession(env, "worker");
    env.clock.advance(30);
    const { result: res, events } = await withNewEvents(env, () => env.call("POST", `/v1/sessions/${w.session.name}/deregister`));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ session_id: w.session_id, session: { state: "gone", gone_at: "2026-11-21T12:00:30.000Z" } });
    expect(await rowOf(w.session_id)).toMatchObject({ state: "gone", goneAt: env.clock.ms });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ id: res.body.event_id, kind: "session_deregistered", sessionId: w.session_id });
  });

  it("invalidates the session's token", async () => {
    const w = await registerSession(env, "worker");
    await deregister(env, w.session.name);
    const res = await env.call("GET", "/v1/sessions", { token: w.token });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("UNAUTHENTICATED");
    expect(res.body.error.message).toContain("deregistered");
  });

  it("refuses while the session is bound (worker or manager), naming the task", async () => {
    const { task, worker, manager } = await boundPair(env);
    for (const name of [worker.session.name, manager.session.name]) {
      const { result: res, events } = await withNewEvents(env, () => env.call("POST", `/v1/sessions/${name}/deregister`));
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe("SESSION_BOUND");
      expect(res.body.error.hint).toContain(`unbind --task ${task.task.name}`);
      expect(events).toHaveLength(0);
    }
    expect((await rowOf(worker.session_id)).state).toBe("active");
    const unbind = await env.call("POST", "/v1/bindings/unbind", { body: { task: task.task.name } });
    expect(unbind.status).toBe(200);
    expect((await env.call("POST", `/v1/sessions/${worker.session.name}/deregister`)).status).toBe(200);
  });

  it("answers NOT_FOUND for an unknown name and SESSION_INACTIVE for a second deregister", async () => {
    expect((await env.call("POST", "/v1/sessions/ghost/deregister")).body.error.code).toBe("NOT_FOUND");
    const w = await registerSession(env, "worker");
    await deregister(env, w.session.name);
    const again = await env.call("POST", `/v1/sessions/${w.session.name}/deregister`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("SESSION_INACTIVE");
  });

  it("lets a session deregister itself but not another session", async () => {
    const a = await registerSession(env, "worker");
    const b = await registerSession(env, "worker");
    const other = await env.call("POST", `/v1/sessions/${b.session.name}/deregister`, { token: a.token });
    expect(other.status).toBe(403);
    expect(other.body.error.code).toBe("FORBIDDEN");
    expect((await rowOf(b.session_id)).state).toBe("active");
    const self = await env.call("POST", `/v1/sessions/${a.session.name}/deregister`, { token: a.token });
    expect(self.status).toBe(200);
  });

  it("refuses daemon and runner principals", async () => {
    const w = await registerSession(env, "worker");
    for (const token of [await env.mint("daemon"), await env.mint("runner", "test-host")]) {
      const res = await env.call("POST", `/v1/sessions/${w.session.name}/deregister`, { token });
      expect(res.status).toBe(403);
    }
    expect((await rowOf(w.session_id)).state).toBe("active");
  });
});
