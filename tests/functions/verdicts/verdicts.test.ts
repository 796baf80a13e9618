import { afterEach, describe, expect, it } from "vitest";
import { boundPair } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
afterEach(() => env?.close());

describe("dispatch-status without host evidence", () => {
  it("falls back to administrative status, the weakest signal, and says so", async () => {
    env = await makeTestEnv({ host: null });
    const pair = await boundPair(env);
    const task = pair.task.task.name;
    const running = await env.call("GET", `/v1/dispatch-status/${task}`);
    expect(running.body).toMatchObject({ state: "running", decided_by: "none", exit_code: null, resolved: { task, worker: pair.worker.session.name } });
    await env.call("POST", `/v1/tasks/${task}/finish`, { body: {} });
    const done = await env.call("GET", `/v1/dispatch-status/${task}`);
    expect(done.body).toMatchObject({ state: "done", decided_by: "administrative", exit_code: 0 });
    expect(done.body.reasons.at(-1)).toMatch(/administrative: task finished/);
    // The manager may judge its worker; another session may not.
    expect((await env.call("GET", `/v1/dispatch-status/${task}`, { token: pair.manager.token })).status).toBe(200);
    const other = await boundPair(env);
    expect((await env.call("GET", `/v1/dispatch-status/${task}`, { token: other.manager.token })).status).toBe(403);
    const unknown = await env.call("GET", "/v1/dispatch-status/nothing-here");
    expect(unknown.body).toMatchObject({ state: "unresolved", exit_code: 5, resolved: null });
    const harvest = await env.call("POST", `/v1/harvest/${task}`, { body: { orphaned: true } });
    expect(harvest.status).toBe(409);
    expect((await env.call("POST", `/v1/harvest/${task}`, { body: {} })).status).toBe(400);
  });
});
