import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CRON_NAMES } from "../../../crons/index.ts";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv, PINNED_EPOCH } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv({ clockAt: PINNED_EPOCH });
});
afterEach(() => env.close());

describe("GET /v1/crons", () => {
  it("lists every cron with its schedule and its most recent run", async () => {
    const before = await env.call("GET", "/v1/crons");
    expect(before.status).toBe(200);
    expect(before.body.crons.map((c: any) => c.name)).toEqual(CRON_NAMES);
    expect(before.body.crons[0]).toMatchObject({ name: "heartbeat-sweep", schedule: "*/1 * * * *", last_run: null });

    await env.call("POST", "/v1/crons/heartbeat-sweep");
    env.clock.advance(60);
    const second = await env.call("POST", "/v1/crons/heartbeat-sweep");
    const after = await env.call("GET", "/v1/crons");
    expect(after.body.crons[0].last_run).toMatchObject({ run_id: second.body.run_id, state: "succeeded", started_at: "2026-11-21T12:01:00.000Z" });
  });

  it("is for the owner and daemons only", async () => {
    const w = await registerSession(env, "worker");
    expect((await env.call("GET", "/v1/crons", { token: await env.mint("daemon") })).status).toBe(200);
    expect((await env.call("GET", "/v1/crons", { token: w.token })).status).toBe(403);
    expect((await env.call("GET", "/v1/crons", { token: null })).status).toBe(401);
  });
});
