import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("GET /v1/messages", () => {
  it("lists by thread, session and type, oldest first, and confines a session to its own", async () => {
    const a = await registerSession(env, "worker");
    const b = await registerSession(env, "manager");
    const c = await registerSession(env, "manager");
    const q = await env.call("POST", "/v1/messages", { token: a.token, body: { to: b.session.name, body: "q1", msg_type: "request" } });
    env.clock.advance(1);
    await env.call("POST", `/v1/messages/${q.body.message_id}/reply`, { token: b.token, body: { body: "a1" } });
    env.clock.advance(1);
    await env.call("POST", "/v1/messages", { token: a.token, body: { to: c.session.name, body: "other", msg_type: "ping" } });

    const thread = await env.call("GET", `/v1/messages?thread_id=${q.body.thread_id}`);
    expect(thread.body.messages.map((m: { body: string }) => m.body)).toEqual(["q1", "a1"]);
    const ofC = await env.call("GET", `/v1/messages?session=${c.session.name}`);
    expect(ofC.body.messages.map((m: { body: string }) => m.body)).toEqual(["other"]);
    const pings = await env.call("GET", "/v1/messages?msg_type=ping");
    expect(pings.body.count).toBe(1);
    const newest = await env.call("GET", "/v1/messages?limit=2");
    expect(newest.body.messages.map((m: { body: string }) => m.body)).toEqual(["a1", "other"]);

    const asB = await env.call("GET", "/v1/messages", { token: b.token });
    expect(asB.body.messages.map((m: { body: string }) => m.body)).toEqual(["q1", "a1"]);
    const bPeeks = await env.call("GET", `/v1/messages?session=${c.session.name}`, { token: b.token });
    expect(bPeeks.body.messages).toEqual([]);
  });

  it("says so when the session filter names no session", async () => {
    const res = await env.call("GET", "/v1/messages?session=ghost");
    expect(res.status).toBe(404);
  });
});
