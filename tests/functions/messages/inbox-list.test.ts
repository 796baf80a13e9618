import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { boundPair, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { firstPollDone, observeNotifier } from "./waiting.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const send = (to: string, body: string) => env.call("POST", "/v1/messages", { body: { to, body } });

describe("GET /v1/sessions/{name}/inbox and the task inboxes", () => {
  it("lists pending items oldest first with the pending count, without consuming them", async () => {
    const s = await registerSession(env, "manager");
    for (const b of ["a", "b", "c"]) await send(s.session.name, b);
    const res = await env.call("GET", `/v1/sessions/${s.session.name}/inbox?limit=2`, { token: s.token });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ session: s.session.name, pending: 3, count: 2, timed_out: false, poll_count: 1 });
    expect(res.body.items.map((i: { payload: { body: string } }) => i.payload.body)).toEqual(["a", "b"]);
    expect(res.body.items[0]).toMatchObject({ target_session: s.session.name, source_session: null, delivery_mode: "pull_required", consumed_at: null });
    expect((await env.call("GET", `/v1/sessions/${s.session.name}/inbox`)).body.pending).toBe(3);
  });

  it("with wait, answers as soon as an item is pending, or timed_out=true", async () => {
    const s = await registerSession(env, "worker");
    const empty = await env.call("GET", `/v1/sessions/${s.session.name}/inbox?wait=true&timeout=0.1&interval=0.1`);
    expect(empty.body).toMatchObject({ pending: 0, items: [], timed_out: true });
    const listening = observeNotifier(env).listening(s.session_id);
    const waiting = env.call("GET", `/v1/sessions/${s.session.name}/inbox?wait=true&timeout=240&interval=60`);
    await listening;
    await firstPollDone();
    await send(s.session.name, "here");
    const res = await waiting;
    expect(res.body).toMatchObject({ pending: 1, timed_out: false, woken_by: "notifier" });
  });

  it("resolves manager-inbox and worker-inbox to the bound sessions and keeps sessions to their own", async () => {
    const { task, worker, manager } = await boundPair(env);
    await send(manager.session.name, "m");
    const m = await env.call("GET", `/v1/tasks/${task.task.name}/manager-inbox`, { token: manager.token });
    expect(m.body).toMatchObject({ session: manager.session.name, role: "manager", task: task.task.name, pending: 1 });
    const w = await env.call("GET", `/v1/tasks/${task.task.name}/worker-inbox`, { token: worker.token });
    expect(w.body).toMatchObject({ session: worker.session.name, pending: 0 });
    expect((await env.call("GET", `/v1/tasks/${task.task.name}/manager-inbox`, { token: worker.token })).status).toBe(403);
    expect((await env.call("GET", `/v1/sessions/${worker.session.name}/inbox`, { token: manager.token })).status).toBe(403);
    const daemon = await env.call("GET", `/v1/tasks/${task.task.name}/manager-inbox`, { token: await env.mint("daemon") });
    expect(daemon.body.pending).toBe(1);
  });
});
