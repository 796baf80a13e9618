import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sessions } from "../../../schema/sessions.ts";
import { createTask, registerSession, withNewEvents } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { appPair, beat, dispatcherAt, pendingInboxItem } from "./loop-fixtures.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv({ host: null });
});
afterEach(() => env.close());

const status = (task: string, query: Record<string, string> = {}, token?: string) => {
  const q = new URLSearchParams(query).toString();
  return env.call("GET", `/v1/tasks/${task}/app-loop/status${q ? `?${q}` : ""}`, { token });
};

describe("GET /v1/tasks/{name}/app-loop/status", () => {
  it("is ok when both leases and the default dispatcher are fresh, and writes nothing", async () => {
    const p = await appPair(env);
    await dispatcherAt(env, "dispatch-local", env.clock.ms);
    env.clock.advance(60);
    await beat(env, p.task, "manager");
    await beat(env, p.task, "worker");
    const { result: res, events } = await withNewEvents(env, () => status(p.task));
    expect(res.status).toBe(200);
    expect(events).toHaveLength(0);
    expect(res.body).toMatchObject({
      task: { id: p.taskId, name: p.task, state: "active" },
      binding_id: p.binding.binding_id,
      ok: true,
      stale_after_seconds: 180,
      manager: {
        name: p.manager.session.name,
        session_state: "active",
        thread: { id: "thr_manager_1", title: "Manager: ship it" },
        lease: { state: "fresh", age_seconds: 0 },
      },
      worker: { name: p.worker.session.name, thread: { id: null, title: null }, lease: { state: "fresh" } },
      dispatch: {
        dispatcher_id: "dispatch-local",
        state: "fresh",
        age_seconds: 60,
        required: false,
        command: "switchyard dispatch --watch --dispatcher-id dispatch-local",
      },
      next_actions: [],
    });
  });

  it("turns a lease stale past 180 s by default, or past --stale-after, and asks to wake that role", async () => {
    const p = await appPair(env);
    env.clock.advance(100);
    await beat(env, p.task, "worker");
    env.clock.advance(100);
    await dispatcherAt(env, "dispatch-local", env.clock.ms);
    // Manager: 200 s since registration; worker: 100 s since its app heartbeat.
    const dflt = (await status(p.task)).body;
    expect([dflt.manager.lease.state, dflt.worker.lease.state, dflt.ok]).toEqual(["stale", "fresh", false]);
    expect(dflt.next_actions).toEqual([
      {
        kind: "wake_manager",
        role: "manager",
        reason: `manager ${p.manager.session.name} last sent an app heartbeat 200s ago`,
        command: `switchyard app-wakeup-plan ${p.task}`,
      },
    ]);
    const tight = (await status(p.task, { stale_after_seconds: "99" })).body;
    expect([tight.manager.lease.state, tight.worker.lease.state, tight.stale_after_seconds]).toEqual(["stale", "stale", 99]);
    expect(tight.next_actions.map((a: any) => a.kind)).toEqual(["wake_manager", "wake_worker"]);
  });

  it("reports the named dispatcher as missing, stale or stopped, each requiring a dispatch start", async () => {
    const p = await appPair(env);
    const missing = (await status(p.task, { dispatcher_id: "qa-dispatch" })).body;
    expect(missing.dispatch).toMatchObject({ dispatcher_id: "qa-dispatch", state: "missing", heartbeat_at: null, required: true });
    expect(missing.next_actions[0]).toEqual({
      kind: "start_dispatch",
      role: null,
      reason: "dispatcher qa-dispatch is missing",
      command: "switchyard dispatch --watch --dispatcher-id qa-dispatch",
    });
    await dispatcherAt(env, "qa-dispatch", env.clock.ms - 181_000);
    expect((await status(p.task, { dispatcher_id: "qa-dispatch" })).body.dispatch).toMatchObject({ state: "stale", age_seconds: 181, required: true });
    await dispatcherAt(env, "stopped-one", env.clock.ms, "stopped");
    expect((await status(p.task, { dispatcher_id: "stopped-one" })).body.dispatch).toMatchObject({ state: "stopped", required: true });
    // The default dispatcher is a different row: still missing.
    expect((await status(p.task)).body.dispatch).toMatchObject({ dispatcher_id: "dispatch-local", state: "missing" });
  });

  it("counts unconsumed inbox items and asks the role to drain them with its direct inbox command", async () => {
    const p = await appPair(env);
    await dispatcherAt(env, "dispatch-local", env.clock.ms);
    await pendingInboxItem(env, p.manager.session_id, p.taskId);
    await pendingInboxItem(env, p.manager.session_id, p.taskId);
    const body = (await status(p.task)).body;
    expect(body.manager.pending_inbox).toBe(2);
    expect(body.worker.pending_inbox).toBe(0);
    expect(body.next_actions).toEqual([
      {
        kind: "drain_manager_inbox",
        role: "manager",
        reason: `2 unconsumed inbox item(s) for ${p.manager.session.name}`,
        command: `switchyard session-inbox ${p.manager.session.name} --consume-next --wait --json`,
      },
    ]);
  });

  it("reports an unbound task with missing leases and a bind action instead of failing", async () => {
    const t = await createTask(env);
    const body = (await status(t.task.name)).body;
    expect(body).toMatchObject({
      binding_id: null,
      ok: false,
      manager: { session_id: null, lease: { state: "missing" }, poll_command: null },
      worker: { lease: { state: "missing" } },
    });
    expect(body.next_actions.map((a: any) => a.kind)).toEqual(["bind_task", "start_dispatch"]);
    // A session can belong to no loop of an unbound task.
    const session = await registerSession(env, "worker");
    expect((await status(t.task.name, {}, session.token)).body.error.code).toBe("NOT_FOUND");
  });

  it("treats a bound session that is gone as a missing lease", async () => {
    const p = await appPair(env);
    await env.services.database.db.update(sessions).set({ state: "gone" }).where(eq(sessions.id, p.worker.session_id));
    const body = (await status(p.task)).body;
    expect(body.worker).toMatchObject({
      session_state: "gone",
      lease: { state: "missing", last_heartbeat_at: null },
      poll_command: null,
      direct_inbox_command: null,
    });
    expect(body.next_actions.find((a: any) => a.kind === "wake_worker").reason).toBe(`the bound worker ${p.worker.session.name} is gone`);
  });

  it("lets the bound sessions and a daemon read, and refuses any other session", async () => {
    const p = await appPair(env);
    expect((await status(p.task, {}, p.worker.token)).status).toBe(200);
    expect((await status(p.task, {}, p.manager.token)).status).toBe(200);
    expect((await status(p.task, {}, await env.mint("daemon"))).status).toBe(200);
    const stranger = await registerSession(env, "worker");
    const res = await status(p.task, {}, stranger.token);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("FORBIDDEN");
  });

  it("answers NOT_FOUND for an unknown task and VALIDATION_FAILED for a negative stale-after", async () => {
    expect((await status("ghost")).status).toBe(404);
    const p = await appPair(env);
    const res = await status(p.task, { stale_after_seconds: "-5" });
    expect(res.status).toBe(400);
    expect(res.body.error.fields.map((f: any) => f.field)).toEqual(["stale_after_seconds"]);
  });
});
