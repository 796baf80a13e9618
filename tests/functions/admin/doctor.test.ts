import { afterEach, describe, expect, it } from "vitest";
import { NodeHost } from "../../../local-runner/host.ts";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv | null = null;
afterEach(() => env?.close());

describe("GET /v1/admin/doctor", () => {
  it("reports tmux, lsof and the database on a healthy host", async () => {
    env = await makeTestEnv();
    const res = await env.call("GET", "/v1/admin/doctor");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ local_runner: true, database: "ok", tmux: { available: true }, lsof: { available: true } });
    expect(res.body.tmux.version).toMatch(/tmux \d/);
  });

  it("says when tmux and lsof are missing, and tmux actions then fail with a typed error", async () => {
    env = await makeTestEnv({ host: new NodeHost({ tmuxBin: "/nonexistent/tmux", lsofBin: "/nonexistent/lsof" }) });
    const res = await env.call("GET", "/v1/admin/doctor");
    expect(res.body.ok).toBe(false);
    expect(res.body.tmux.available).toBe(false);
    expect(res.body.problems.map((p: any) => p.check)).toEqual(expect.arrayContaining(["tmux", "lsof"]));
    expect(res.body.problems.find((p: any) => p.check === "tmux").hint).toMatch(/install/i);
    // Registering a tmux session is the first tmux action: the pane is looked up before it is accepted.
    const reg = await env.call("POST", "/v1/sessions", { body: { name: "w-no-tmux", role: "worker", tmux_session: "nowhere" } });
    expect(reg.status).toBe(503);
    expect(reg.body.error.code).toBe("HOST_UNAVAILABLE");
    expect(reg.body.error.message).toMatch(/tmux/);
  });

  it("reports no local runner on a host-less server and is owner/daemon only", async () => {
    env = await makeTestEnv({ host: null });
    const res = await env.call("GET", "/v1/admin/doctor");
    expect(res.body).toMatchObject({ ok: false, local_runner: false });
    const w = await registerSession(env, "worker");
    expect((await env.call("GET", "/v1/admin/doctor", { token: w.token })).status).toBe(403);
  });
});
