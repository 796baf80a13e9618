import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("POST /v1/sessions", () => {
  it("registers a worker and returns its token once, with the communication block", async () => {
    const res = await env.call("POST", "/v1/sessions", { body: { name: "w1", role: "worker", tmux_session: "codex-w1" } });
    expect(res.status).toBe(201);
    expect(res.body.session.name).toBe("w1");
    expect(res.body.token).toMatch(/^sy_session_/);
    expect(res.body.communication).toEqual({ session_kind: "tmux", receive_style: "push", delivery_mode: "push", poll_command: null });
    const list = await env.call("GET", "/v1/sessions");
    expect(list.body.sessions.map((s: any) => s.name)).toEqual(["w1"]);
    expect(JSON.stringify(list.body)).not.toContain(res.body.token);
  });

  it("refuses a second active session with the same name", async () => {
    await env.call("POST", "/v1/sessions", { body: { name: "dup", role: "worker" } });
    const res = await env.call("POST", "/v1/sessions", { body: { name: "dup", role: "manager" } });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("NAME_TAKEN");
    expect(res.body.error.hint).toContain("deregister");
  });

  it("refuses a session principal", async () => {
    const w = await env.call("POST", "/v1/sessions", { body: { name: "w2", role: "worker" } });
    const res = await env.call("POST", "/v1/sessions", { token: w.body.token, body: { name: "w3", role: "worker" } });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("FORBIDDEN");
  });
});
