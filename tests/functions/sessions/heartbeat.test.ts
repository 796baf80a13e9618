import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sessions } from "../../../schema/sessions.ts";
import { deregister, registerSession, withNewEvents } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv, PINNED_EPOCH } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv({ clockAt: PINNED_EPOCH });
});
afterEach(() => env.close());

const heartbeatOf = async (id: string) => (await env.services.database.db.select().from(sessions).where(eq(sessions.id, id)))[0]!.lastHeartbeatAt;

describe("POST /v1/sessions/{name}/heartbeat", () => {
  it("stamps the current time on the session itself", async () => {
    const w = await registerSession(env, "worker");
    env.clock.advance(90);
    // Heartbeats are liveness pings, recorded on the row rather than in the audit log.
    const { result: res, events } = await withNewEvents(env, () => env.call("POST", `/v1/sessions/${w.session.name}/heartbeat`, { token: w.token }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ session_id: w.session_id, last_heartbeat_at: "2026-11-21T12:01:30.000Z" });
    expect(await heartbeatOf(w.session_id)).toBe(env.clock.ms);
    expect(events).toHaveLength(0);
  });

  it("accepts the owner and the runner of the session's host", async () => {
    const w = await registerSession(env, "worker");
    expect((await env.call("POST", `/v1/sessions/${w.session.name}/heartbeat`)).status).toBe(200);
    const runner = await env.mint("runner", "test-host");
    expect((await env.call("POST", `/v1/sessions/${w.session.name}/heartbeat`, { token: runner })).status).toBe(200);
  });

  it("refuses a runner of another host, as registration does", async () => {
    const w = await registerSession(env, "worker", { host: "box-a" });
    const before = await heartbeatOf(w.session_id);
    env.clock.advance(10);
    const res = await env.call("POST", `/v1/sessions/${w.session.name}/heartbeat`, { token: await env.mint("runner", "box-b") });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("FORBIDDEN");
    expect(await heartbeatOf(w.session_id)).toBe(before);
  });

  it("refuses a session heartbeating another session, and a daemon", async () => {
    const a = await registerSession(env, "worker");
    const b = await registerSession(env, "manager");
    const before = await heartbeatOf(b.session_id);
    env.clock.advance(10);
    const res = await env.call("POST", `/v1/sessions/${b.session.name}/heartbeat`, { token: a.token });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("FORBIDDEN");
    expect((await env.call("POST", `/v1/sessions/${b.session.name}/heartbeat`, { token: await env.mint("daemon") })).status).toBe(403);
    expect(await heartbeatOf(b.session_id)).toBe(before);
  });

  it("answers NOT_FOUND for an unknown session and SESSION_INACTIVE for a deregistered one", async () => {
    expect((await env.call("POST", "/v1/sessions/ghost/heartbeat")).status).toBe(404);
    const w = await registerSession(env, "worker");
    await deregister(env, w.session.name);
    const res = await env.call("POST", `/v1/sessions/${w.session.name}/heartbeat`);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("SESSION_INACTIVE");
  });
});
