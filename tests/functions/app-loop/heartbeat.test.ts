import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sessions } from "../../../schema/sessions.ts";
import { createTask, registerSession, withNewEvents } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv, PINNED_EPOCH } from "../../helpers/services.ts";
import { appPair } from "./loop-fixtures.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv({ host: null, clockAt: PINNED_EPOCH });
});
afterEach(() => env.close());

const heartbeatOf = async (id: string) => (await env.services.database.db.select().from(sessions).where(eq(sessions.id, id)))[0]!.lastHeartbeatAt;
const post = (task: string, body: unknown, token?: string) => env.call("POST", `/v1/tasks/${task}/app-loop/heartbeat`, { body, token });

describe("POST /v1/tasks/{name}/app-loop/heartbeat", () => {
  it("stamps the bound worker's heartbeat, writes an app_heartbeat receipt and returns its next poll commands", async () => {
    const p = await appPair(env);
    // Registration stamps the heartbeat too; past the default 180 s the manager's lease is stale.
    env.clock.advance(200);
    const { result: res, events } = await withNewEvents(env, () => post(p.task, { role: "worker" }, p.worker.token));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      task: { id: p.taskId, name: p.task },
      role: "worker",
      session_id: p.worker.session_id,
      heartbeat: { state: "recorded", recorded_at: "2026-11-21T12:03:20.000Z" },
      next: {
        poll_command: `switchyard app-heartbeat ${p.task} --role worker --json`,
        direct_inbox_command: `switchyard session-inbox ${p.worker.session.name} --consume-next --wait --json`,
        pending_inbox: 0,
      },
      event_id: events[0]!.id,
    });
    expect(res.body.status.worker.lease).toEqual({ state: "fresh", last_heartbeat_at: "2026-11-21T12:03:20.000Z", age_seconds: 0 });
    expect(res.body.status.manager.lease).toEqual({ state: "stale", last_heartbeat_at: "2026-11-21T12:00:00.000Z", age_seconds: 200 });
    expect(await heartbeatOf(p.worker.session_id)).toBe(env.clock.ms);
    expect(events).toEqual([
      expect.objectContaining({
        kind: "app_heartbeat",
        taskId: p.taskId,
        sessionId: p.worker.session_id,
        actor: `session:${p.worker.session_id}`,
        payload: { role: "worker", binding_id: p.binding.binding_id, poll_command: `switchyard app-heartbeat ${p.task} --role worker --json` },
      }),
    ]);
  });

  it("lets the owner record either role on the sessions' behalf", async () => {
    const p = await appPair(env);
    env.clock.advance(5);
    expect((await post(p.task, { role: "manager" })).body.session_id).toBe(p.manager.session_id);
    expect((await post(p.task, { role: "worker" })).body.session_id).toBe(p.worker.session_id);
    expect(await heartbeatOf(p.manager.session_id)).toBe(env.clock.ms);
  });

  it("refuses a worker session claiming the manager role, and a session bound to nothing, writing nothing", async () => {
    const p = await appPair(env);
    const stranger = await registerSession(env, "manager");
    const before = await heartbeatOf(p.manager.session_id);
    env.clock.advance(10);
    for (const [token, role] of [
      [p.worker.token, "manager"],
      [stranger.token, "manager"],
    ] as const) {
      const { result: res, events } = await withNewEvents(env, () => post(p.task, { role }, token));
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe("FORBIDDEN");
      expect(events).toHaveLength(0);
    }
    expect(await heartbeatOf(p.manager.session_id)).toBe(before);
  });

  it("refuses a daemon: heartbeats come from the session itself or its owner", async () => {
    const p = await appPair(env);
    const res = await post(p.task, { role: "worker" }, await env.mint("daemon"));
    expect(res.status).toBe(403);
  });

  it("answers NOT_FOUND for an unknown task and for a task with no active binding", async () => {
    expect((await post("ghost", { role: "worker" })).body.error.code).toBe("NOT_FOUND");
    const t = await createTask(env);
    const res = await post(t.task.name, { role: "worker" });
    expect(res.status).toBe(404);
    expect(res.body.error.hint).toContain("switchyard bind");
  });

  it("answers SESSION_INACTIVE and writes no receipt when the bound session is already gone", async () => {
    const p = await appPair(env);
    await env.services.database.db.update(sessions).set({ state: "gone" }).where(eq(sessions.id, p.worker.session_id));
    const { result: res, events } = await withNewEvents(env, () => post(p.task, { role: "worker" }));
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("SESSION_INACTIVE");
    expect(events).toHaveLength(0);
  });

  it("rejects an unknown role and a negative stale_after_seconds", async () => {
    const p = await appPair(env);
    const bad = await post(p.task, { role: "auditor" });
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields.map((f: any) => f.field)).toEqual(["role"]);
    expect((await post(p.task, { role: "worker", stale_after_seconds: -1 })).body.error.fields.map((f: any) => f.field)).toEqual(["stale_after_seconds"]);
  });
});
