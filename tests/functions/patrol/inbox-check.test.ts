import { afterEach, describe, expect, it } from "vitest";
import { boundPair, deregister, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { ensurePatrolSession } from "../../../functions/patrol/state.ts";
import { daemonCtx, inboxOf, ownerNotices, runSteps } from "./helpers.ts";

let env: TestEnv;
afterEach(() => env?.close());

async function send(token: string, body: Record<string, unknown>) {
  const res = await env.call("POST", "/v1/messages", { token, body: { to: "patrol", ...body } });
  if (res.status !== 201) throw new Error(`send: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

describe("inbox-check", () => {
  it("answers a ping exactly once, however often the patrol runs", async () => {
    env = await makeTestEnv();
    await ensurePatrolSession(daemonCtx(env));
    const w = await registerSession(env, "worker");
    const sent = await send(w.token, { body: "are you there?", msg_type: "ping" });
    const first = await runSteps(env, "inbox-check", "fire-notifications", "inbox-check", "fire-notifications");
    expect(first["inbox-check"].handled).toBe(0); // the second inbox-check found nothing left
    const items = await inboxOf(env, w.session.name);
    expect(items).toHaveLength(1);
    expect(items[0].payload).toMatchObject({ from: "patrol", subject: "pong", in_reply_to: sent.message_id });
    expect((await inboxOf(env, "patrol")).length).toBe(0);
  });

  it("forwards a help request to the owner with the task's context and tells the sender", async () => {
    env = await makeTestEnv();
    await ensurePatrolSession(daemonCtx(env));
    const pair = await boundPair(env);
    await send(pair.worker.token, { body: "tests hang on the db fixture", subject: "stuck", msg_type: "help" });
    await runSteps(env, "inbox-check", "fire-notifications");
    const notices = await ownerNotices(env);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({ kind: "help_request", recipient: "owner" });
    expect(notices[0].payload).toMatchObject({ from: pair.worker.session.name, task: pair.task.task.name, counterpart: pair.manager.session.name });
    expect(notices[0].body).toMatch(/tests hang on the db fixture/);
    const back = await inboxOf(env, pair.worker.session.name);
    expect(back.map((i: any) => i.payload.subject)).toEqual(["forwarded to the owner"]);
  });

  it("forwards a lifecycle report of the current worker to its manager, and drops one from an older spawn", async () => {
    env = await makeTestEnv();
    await ensurePatrolSession(daemonCtx(env));
    const pair = await boundPair(env);
    const task = pair.task.task.name;
    const name = pair.worker.session.name;
    // The old worker reports "done"; before the patrol reads it, the worker is respawned.
    await send(pair.worker.token, { body: "all green", subject: "done", msg_type: "lifecycle" });
    expect((await env.call("POST", "/v1/bindings/unbind", { body: { task } })).status).toBe(200);
    await deregister(env, name);
    const respawned = await registerSession(env, "worker", { name });
    expect((await env.call("POST", "/v1/bindings", { body: { task, worker: name, manager: pair.manager.session.name } })).status).toBe(201);
    const stale = await runSteps(env, "inbox-check", "fire-notifications");
    expect(stale["inbox-check"]).toMatchObject({ handled: 1, stale_dropped: 1 });
    expect(stale["inbox-check"].items[0].action).toMatch(/older spawn of .* the current one is/);
    expect(await inboxOf(env, pair.manager.session.name)).toHaveLength(0);
    const audit = await env.call("GET", `/v1/sessions/patrol/inbox?limit=5`);
    expect(audit.body.pending).toBe(0);

    // The current worker's report does reach the manager.
    await send(respawned.token, { body: "all green for real", subject: "done", msg_type: "lifecycle" });
    await runSteps(env, "inbox-check", "fire-notifications");
    const got = await inboxOf(env, pair.manager.session.name);
    expect(got).toHaveLength(1);
    expect(got[0].payload).toMatchObject({ from: "patrol", lifecycle: "done", task });
    expect(got[0].payload.body).toMatch(/all green for real/);
  });

  it("refuses to adopt a user's own session named patrol, and keeps patrolling without an inbox", async () => {
    env = await makeTestEnv();
    await registerSession(env, "manager", { name: "patrol" });
    await expect(ensurePatrolSession(daemonCtx(env))).rejects.toThrow(/did not register/);
    const w = await registerSession(env, "worker");
    await env
      .call("POST", "/v1/gates", { body: { type: "human", waiters: [w.session.name], title: "t" } })
      .then((r) => env.call("POST", `/v1/gates/${r.body.gate_id}/close`, { body: { reason: "ok" } }));
    const run = await env.call("POST", "/v1/patrol/runs", { body: {} });
    expect(run.body.run.state).toBe("succeeded");
    expect(run.body.steps[0].report).toMatchObject({ patrol_session: null, problem: expect.stringMatching(/did not register/) });
    const items = await inboxOf(env, w.session.name);
    expect(items[0].payload).toMatchObject({ from: "patrol", notification_kind: "gate_closed" });
  });
});
