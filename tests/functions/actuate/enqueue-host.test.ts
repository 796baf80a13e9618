import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("enqueue (host command for a session's machine)", () => {
  it("queues a nudge for a remote session's host with the payload its executor needs", async () => {
    const w = await registerSession(env, "worker", { tmux_session: "agent-pane", host: "build-2" });
    const res = await env.call("POST", `/v1/sessions/${w.session.name}/commands`, { body: { type: "nudge", text: "status?", idempotency_key: "n-1" } });
    expect(res.status).toBe(201);
    expect(res.body.command).toMatchObject({
      type: "nudge",
      state: "pending",
      host: "build-2",
      max_attempts: 3,
      payload: { tmux_session: "agent-pane", text: "status?" },
    });
    const retry = await env.call("POST", `/v1/sessions/${w.session.name}/commands`, { body: { type: "nudge", text: "status?", idempotency_key: "n-1" } });
    expect(retry).toMatchObject({ status: 200, body: { created: false, command_id: res.body.command_id } });
    // The session's transcript moved (a /clear) between the request and its retry: still a retry.
    await env.services.database.client.execute({ sql: "UPDATE sessions SET transcript_path = '/moved.jsonl' WHERE id = ?", args: [w.session_id] });
    const later = await env.call("POST", `/v1/sessions/${w.session.name}/commands`, { body: { type: "nudge", text: "status?", idempotency_key: "n-1" } });
    expect(later).toMatchObject({ status: 200, body: { created: false, command_id: res.body.command_id } });
    // Other text under the same key is another request.
    const other = await env.call("POST", `/v1/sessions/${w.session.name}/commands`, { body: { type: "nudge", text: "stop", idempotency_key: "n-1" } });
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe("IDEMPOTENCY_MISMATCH");
  });

  it("refuses a nudge without text, a session without a pane, and a runner token", async () => {
    const w = await registerSession(env, "worker", { tmux_session: "agent-pane", host: "build-2" });
    const noText = await env.call("POST", `/v1/sessions/${w.session.name}/commands`, { body: { type: "nudge" } });
    expect(noText.status).toBe(400);
    expect(noText.body.error.fields).toEqual([{ field: "text", message: "required for type nudge" }]);
    const paneless = await registerSession(env, "worker");
    expect((await env.call("POST", `/v1/sessions/${paneless.session.name}/commands`, { body: { type: "capture" } })).status).toBe(409);
    const runner = await env.call("POST", `/v1/sessions/${w.session.name}/commands`, { token: await env.mint("runner", "build-2"), body: { type: "capture" } });
    expect(runner.status).toBe(403);
  });
});
