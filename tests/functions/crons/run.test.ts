import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cronRuns } from "../../../schema/crons.ts";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("POST /v1/crons/{name}", () => {
  it("runs heartbeat-sweep once, reports stale sessions and records the run", async () => {
    const quiet = await registerSession(env, "worker");
    env.clock.advance(11 * 60);
    const lively = await registerSession(env, "manager");
    const res = await env.call("POST", "/v1/crons/heartbeat-sweep");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: "heartbeat-sweep", state: "succeeded", error: null });
    expect(res.body.report.stale).toEqual([expect.objectContaining({ session_id: quiet.session_id, age_seconds: 660 })]);
    expect(JSON.stringify(res.body.report)).not.toContain(lively.session_id);
    const [row] = await env.services.database.db.select().from(cronRuns).where(eq(cronRuns.id, res.body.run_id));
    expect(row).toMatchObject({ name: "heartbeat-sweep", state: "succeeded", runner: expect.stringMatching(/^owner:tok_/) });
  });

  it("runs for a daemon, recorded under the daemon", async () => {
    const res = await env.call("POST", "/v1/crons/heartbeat-sweep", { token: await env.mint("daemon") });
    expect(res.status).toBe(200);
    const [row] = await env.services.database.db.select().from(cronRuns).where(eq(cronRuns.id, res.body.run_id));
    expect(row!.runner).toMatch(/^daemon:tok_/);
  });

  it("answers NOT_FOUND for an unknown cron and VALIDATION_FAILED for a bad name, recording nothing", async () => {
    const res = await env.call("POST", "/v1/crons/no-such-cron");
    expect(res.status).toBe(404);
    expect(res.body.error.hint).toContain("heartbeat-sweep");
    expect((await env.call("POST", "/v1/crons/Bad_Name")).status).toBe(400);
    expect(await env.services.database.db.select().from(cronRuns)).toHaveLength(0);
  });

  it("refuses sessions and runners", async () => {
    const w = await registerSession(env, "worker");
    expect((await env.call("POST", "/v1/crons/heartbeat-sweep", { token: w.token })).status).toBe(403);
    expect((await env.call("POST", "/v1/crons/heartbeat-sweep", { token: await env.mint("runner", "h") })).status).toBe(403);
    expect(await env.services.database.db.select().from(cronRuns)).toHaveLength(0);
  });
});
