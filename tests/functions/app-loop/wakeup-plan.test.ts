import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { boundPair, registerSession, withNewEvents } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { appPair, beat, dispatcherAt } from "./loop-fixtures.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv({ host: null });
});
afterEach(() => env.close());

const plan = (task: string, token?: string) => env.call("GET", `/v1/tasks/${task}/app-loop/wakeup-plan`, { token });

describe("GET /v1/tasks/{name}/app-loop/wakeup-plan", () => {
  it("emits the exact prompt per role, with thread ids and titles, and marks only the stale role as needing a wake", async () => {
    const p = await appPair(env, { workerThread: true });
    env.clock.advance(300);
    await dispatcherAt(env, "dispatch-local", env.clock.ms);
    await beat(env, p.task, "worker");
    const { result: res, events } = await withNewEvents(env, () => plan(p.task));
    expect(res.status).toBe(200);
    expect(events).toHaveLength(0);
    const m = p.manager.session.name;
    const w = p.worker.session.name;
    expect(res.body.dispatcher).toMatchObject({ dispatcher_id: "dispatch-local", state: "fresh", required: false });
    expect(res.body.wakeups).toEqual([
      {
        role: "manager",
        needed: true,
        reason: `manager ${m} last sent an app heartbeat 300s ago`,
        session_id: p.manager.session_id,
        thread: { id: "thr_manager_1", title: "Manager: ship it" },
        prompt: [
          `Switchyard wake-up: you are the manager of task ${p.task}.`,
          `Why: manager ${m} last sent an app heartbeat 300s ago.`,
          `1. Run: switchyard app-heartbeat ${p.task} --role manager --json`,
          `2. Consume your inbox until it is empty: switchyard session-inbox ${m} --consume-next --wait --json`,
          `3. Observe the worker with: switchyard cycle ${p.task} --json, then decide the next step.`,
          "Keep running the app heartbeat at least every 90s while you work on this task.",
        ].join("\n"),
      },
      {
        role: "worker",
        needed: false,
        reason: `worker ${w} is healthy (heartbeat 0s ago)`,
        session_id: p.worker.session_id,
        thread: { id: "thr_worker_1", title: "Worker: ship it" },
        prompt: [
          `Switchyard wake-up: you are the worker of task ${p.task}.`,
          `Why: worker ${w} is healthy (heartbeat 0s ago).`,
          `1. Run: switchyard app-heartbeat ${p.task} --role worker --json`,
          `2. Consume your inbox until it is empty: switchyard session-inbox ${w} --consume-next --wait --json`,
          "3. Continue the assigned work; end your turn normally when a step is complete so the manager is told.",
          "Keep running the app heartbeat at least every 90s while you work on this task.",
        ].join("\n"),
      },
    ]);
  });

  it("leaves out the inbox step for a tmux (push) session and scales the cadence with stale_after_seconds", async () => {
    const p = await boundPair(env, { worker: { tmux_session: "sy-worker-pane" } });
    const res = await env.call("GET", `/v1/tasks/${p.task.task.name}/app-loop/wakeup-plan?stale_after_seconds=40`);
    const [manager, worker] = res.body.wakeups;
    expect(manager.prompt).toContain("2. Consume your inbox");
    expect(worker.prompt.split("\n")).toEqual([
      `Switchyard wake-up: you are the worker of task ${p.task.task.name}.`,
      `Why: worker ${p.worker.session.name} is healthy (heartbeat 0s ago).`,
      `1. Run: switchyard app-heartbeat ${p.task.task.name} --role worker --json`,
      "2. Continue the assigned work; end your turn normally when a step is complete so the manager is told.",
      "Keep running the app heartbeat at least every 20s while you work on this task.",
    ]);
  });

  it("lets the bound sessions read their plan and refuses any other session", async () => {
    const p = await appPair(env);
    expect((await plan(p.task, p.manager.token)).status).toBe(200);
    expect((await plan(p.task, p.worker.token)).status).toBe(200);
    const stranger = await registerSession(env, "manager");
    expect((await plan(p.task, stranger.token)).status).toBe(403);
    expect((await plan("ghost")).status).toBe(404);
  });
});
