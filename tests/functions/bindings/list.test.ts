import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { boundPair } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("GET /v1/bindings", () => {
  it("lists active bindings by default, with names resolved, and ended ones on request", async () => {
    const a = await boundPair(env);
    env.clock.advance(1);
    const b = await boundPair(env);
    await env.call("POST", "/v1/bindings/unbind", { body: { task: a.task.task.name } });

    const active = await env.call("GET", "/v1/bindings");
    expect(active.status).toBe(200);
    expect(active.body.count).toBe(1);
    expect(active.body.bindings[0]).toMatchObject({ task: b.task.task.name, worker: b.worker.session.name, manager: b.manager.session.name, state: "active" });
    expect((await env.call("GET", "/v1/bindings?state=ended")).body.bindings.map((x: any) => x.task)).toEqual([a.task.task.name]);
    expect((await env.call("GET", "/v1/bindings?state=all")).body.bindings.map((x: any) => x.task)).toEqual([a.task.task.name, b.task.task.name]);
  });

  it("rejects an unknown state", async () => {
    const res = await env.call("GET", "/v1/bindings?state=open");
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("VALIDATION_FAILED");
  });

  it("is readable by daemon and session principals, not by a runner", async () => {
    const { worker } = await boundPair(env);
    expect((await env.call("GET", "/v1/bindings", { token: worker.token })).body.count).toBe(1);
    expect((await env.call("GET", "/v1/bindings", { token: await env.mint("daemon") })).status).toBe(200);
    expect((await env.call("GET", "/v1/bindings", { token: await env.mint("runner", "h") })).status).toBe(403);
  });
});
