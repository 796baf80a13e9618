import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sessions } from "../../../schema/sessions.ts";
import { registerSession, withNewEvents } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv, PINNED_EPOCH } from "../../helpers/services.ts";
import { appPair, beat, dispatcherAt } from "./loop-fixtures.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv({ host: null, clockAt: PINNED_EPOCH });
});
afterEach(() => env.close());

const dispatch = (task: string, body: unknown = {}, token?: string) => env.call("POST", `/v1/tasks/${task}/app-loop/wakeup-dispatch`, { body, token });
const count = async (table: string) => Number((await env.services.database.client.execute(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);

describe("POST /v1/tasks/{name}/app-loop/wakeup-dispatch", () => {
  it("marks a stale role with a thread ready_to_send, a stale role without one blocked, records the plan and sends nothing", async () => {
    const p = await appPair(env);
    env.clock.advance(600);
    const { result: res, events } = await withNewEvents(env, () => dispatch(p.task));
    expect(res.status).toBe(200);
    const [manager, worker] = res.body.actions;
    expect(manager).toMatchObject({
      role: "manager",
      status: "ready_to_send",
      send_ready: true,
      blocker: null,
      session_id: p.manager.session_id,
      thread: { id: "thr_manager_1", title: "Manager: ship it" },
    });
    expect(manager.prompt).toContain(`you are the manager of task ${p.task}`);
    expect(worker).toMatchObject({ role: "worker", status: "blocked_missing_thread", send_ready: false, thread: { id: null, title: null } });
    expect(worker.blocker).toContain("has no app thread id");
    expect(res.body.summary).toEqual({ ready_to_send: 1, skipped_healthy: 0, blocked: 1, dispatcher_required: true });
    expect(res.body.dispatcher).toMatchObject({ state: "missing", required: true });
    expect(res.body.receipt).toEqual({ event_id: res.body.event_id, event_type: "app_wakeup_dispatch_planned", recorded_at: "2026-11-21T12:10:00.000Z" });
    expect(events).toEqual([
      expect.objectContaining({
        id: res.body.event_id,
        kind: "app_wakeup_dispatch_planned",
        taskId: p.taskId,
        payload: expect.objectContaining({
          binding_id: p.binding.binding_id,
          actions: [
            expect.objectContaining({
              role: "manager",
              status: "ready_to_send",
              send_ready: true,
              thread_id: "thr_manager_1",
              thread_title: "Manager: ship it",
            }),
            expect.objectContaining({ role: "worker", status: "blocked_missing_thread", send_ready: false, thread_id: null }),
          ],
          summary: res.body.summary,
          status_ok: false,
        }),
      }),
    ]);
    // The prompts are returned to the caller, never stored in the receipt.
    expect(JSON.stringify(events[0]!.payload)).not.toContain("Switchyard wake-up");
    expect([await count("commands"), await count("inbox_items")]).toEqual([0, 0]);
  });

  it("skips healthy roles with no prompt and a clean summary", async () => {
    const p = await appPair(env, { workerThread: true });
    await dispatcherAt(env, "dispatch-local", env.clock.ms);
    await beat(env, p.task, "manager");
    await beat(env, p.task, "worker");
    const res = await dispatch(p.task);
    expect(res.body.actions.map((a: any) => [a.role, a.status, a.send_ready, a.prompt])).toEqual([
      ["manager", "skipped_healthy", false, null],
      ["worker", "skipped_healthy", false, null],
    ]);
    expect(res.body.summary).toEqual({ ready_to_send: 0, skipped_healthy: 2, blocked: 0, dispatcher_required: false });
    expect(res.body.status.ok).toBe(true);
  });

  it("blocks the wake-up of a bound session that is gone, even though its thread is known", async () => {
    const p = await appPair(env, { workerThread: true });
    await env.services.database.db.update(sessions).set({ state: "gone" }).where(eq(sessions.id, p.worker.session_id));
    const worker = (await dispatch(p.task)).body.actions[1];
    expect(worker).toMatchObject({ status: "blocked_missing_thread", send_ready: false, thread: { id: "thr_worker_1" } });
    expect(worker.blocker).toBe(`no live worker is bound to task ${p.task}; run switchyard reconcile --apply, then bind a new worker`);
  });

  it("uses the given dispatcher id and stale-after for the plan", async () => {
    const p = await appPair(env, { workerThread: true });
    await dispatcherAt(env, "qa-dispatch", env.clock.ms);
    env.clock.advance(20);
    const res = await dispatch(p.task, { dispatcher_id: "qa-dispatch", stale_after_seconds: 10 });
    expect(res.body.dispatcher).toMatchObject({ dispatcher_id: "qa-dispatch", state: "stale" });
    expect(res.body.actions.map((a: any) => a.status)).toEqual(["ready_to_send", "ready_to_send"]);
  });

  it("lets the bound manager and a daemon plan, and refuses the worker and strangers", async () => {
    const p = await appPair(env);
    expect((await dispatch(p.task, {}, p.manager.token)).status).toBe(200);
    expect((await dispatch(p.task, {}, await env.mint("daemon"))).status).toBe(200);
    const stranger = await registerSession(env, "manager");
    for (const token of [p.worker.token, stranger.token]) {
      const { result: res, events } = await withNewEvents(env, () => dispatch(p.task, {}, token));
      expect(res.status).toBe(403);
      expect(events).toHaveLength(0);
    }
  });

  it("answers NOT_FOUND for an unknown task and rejects unknown fields", async () => {
    expect((await dispatch("ghost")).status).toBe(404);
    const p = await appPair(env);
    const res = await dispatch(p.task, { send: true });
    expect(res.status).toBe(400);
    expect(res.body.error.fields).toEqual([{ field: "send", message: "unknown field" }]);
  });
});
