import { afterEach, describe, expect, it } from "vitest";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { inboxOf, runSteps } from "../patrol/helpers.ts";

let env: TestEnv;
afterEach(() => env?.close());

describe("gates", () => {
  it("a timer gate closes when its timeout has elapsed (to the second) and notifies each waiter once", async () => {
    env = await makeTestEnv();
    const a = await registerSession(env, "worker");
    const b = await registerSession(env, "manager");
    const res = await env.call("POST", "/v1/gates", {
      body: { type: "timer", timeout_seconds: 600, title: "CI settles", waiters: [a.session.name, b.session.name] },
    });
    expect(res.status).toBe(201);
    expect(res.body.gate).toMatchObject({ state: "open", timeout_seconds: 600, waiters: [a.session.name, b.session.name] });
    env.clock.advance(599);
    expect((await runSteps(env, "gate-evaluation"))["gate-evaluation"]).toMatchObject({ due: 0, closed: 0 });
    env.clock.advance(1);
    expect((await runSteps(env, "gate-evaluation"))["gate-evaluation"]).toMatchObject({ due: 1, closed: 1 });
    expect((await runSteps(env, "gate-evaluation"))["gate-evaluation"]).toMatchObject({ due: 0 });
    await runSteps(env, "fire-notifications", "fire-notifications");
    for (const w of [a, b]) {
      const items = await inboxOf(env, w.session.name);
      expect(items).toHaveLength(1);
      expect(items[0].payload).toMatchObject({ from: "patrol", gate_id: res.body.gate_id, reason: "Timer elapsed" });
    }
    const shown = await env.call("GET", `/v1/gates/${res.body.gate_id}`);
    expect(shown.body).toMatchObject({ state: "closed", close_reason: "Timer elapsed" });
    const listed = await env.call("GET", "/v1/gates?state=closed");
    expect(listed.body.gates.map((g: any) => g.id)).toEqual([res.body.gate_id]);
  });

  it("human and mail gates are left to a hand; gate close notifies and a second close conflicts", async () => {
    env = await makeTestEnv();
    const w = await registerSession(env, "worker");
    const human = (await env.call("POST", "/v1/gates", { body: { type: "human", title: "sign-off", waiters: [w.session.name] } })).body;
    await env.call("POST", "/v1/gates", { body: { type: "mail" } });
    env.clock.advance(86_400 * 30);
    expect((await runSteps(env, "gate-evaluation"))["gate-evaluation"].due).toBe(0);
    const closed = await env.call("POST", `/v1/gates/${human.gate_id}/close`, { body: { reason: "owner approved" } });
    expect(closed.status).toBe(200);
    expect(closed.body.notified).toEqual([w.session.name]);
    const again = await env.call("POST", `/v1/gates/${human.gate_id}/close`, { body: { reason: "twice" } });
    expect(again.status).toBe(409);
    await runSteps(env, "fire-notifications");
    expect((await inboxOf(env, w.session.name)).map((i: any) => i.payload.reason)).toEqual(["owner approved"]);
    expect((await env.call("GET", "/v1/gates")).body.count).toBe(1);
  });

  it("validates the type and timeout, and a session only waits for itself and closes only its own gates", async () => {
    env = await makeTestEnv();
    const w = await registerSession(env, "worker");
    const other = await registerSession(env, "worker");
    expect((await env.call("POST", "/v1/gates", { body: { type: "timer" } })).body.error.fields[0].field).toBe("timeout_seconds");
    expect((await env.call("POST", "/v1/gates", { body: { type: "human", timeout_seconds: 5 } })).status).toBe(400);
    expect((await env.call("POST", "/v1/gates", { body: { type: "human", waiters: ["nobody-here"] } })).status).toBe(404);
    const forbidden = await env.call("POST", "/v1/gates", { token: w.token, body: { type: "human", waiters: [other.session.name] } });
    expect(forbidden.status).toBe(403);
    const mine = await env.call("POST", "/v1/gates", { token: w.token, body: { type: "human", waiters: [w.session.name] } });
    expect(mine.status).toBe(201);
    expect((await env.call("POST", `/v1/gates/${mine.body.gate_id}/close`, { token: other.token, body: { reason: "x" } })).status).toBe(403);
    expect((await env.call("POST", `/v1/gates/${mine.body.gate_id}/close`, { token: w.token, body: { reason: "done" } })).status).toBe(200);
    expect((await env.call("POST", "/v1/gates/gat_nope/close", { body: { reason: "x" } })).status).toBe(404);
  });

  it("pages the list with a cursor", async () => {
    env = await makeTestEnv();
    for (let i = 0; i < 5; i++) {
      await env.call("POST", "/v1/gates", { body: { type: "human", title: `g${i}` } });
      env.clock.advance(1);
    }
    const p1 = await env.call("GET", "/v1/gates?limit=3");
    const p2 = await env.call("GET", `/v1/gates?limit=3&cursor=${p1.body.next_cursor}`);
    expect([...p1.body.gates, ...p2.body.gates].map((g: any) => g.title)).toEqual(["g4", "g3", "g2", "g1", "g0"]);
    expect(p2.body.next_cursor).toBeNull();
  });
});
