import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeTestEnv, type TestEnv, PINNED_EPOCH } from "../../../helpers/services.ts";
import { createRun, runEventRows, startedRun } from "./fixtures.ts";

let env: TestEnv;
let daemon: string;
beforeEach(async () => {
  env = await makeTestEnv({ clockAt: PINNED_EPOCH });
  daemon = await env.mint("daemon");
});
afterEach(() => env.close());

describe("broker run-start", () => {
  it("starts a created run once; runtime and idle clocks start now", async () => {
    const id = await createRun(env, { mode: "supervised" });
    env.clock.advance(300);
    const res = await env.call("POST", `/v1/broker/runs/${id}/start`);
    expect(res.status).toBe(200);
    expect(res.body.run).toMatchObject({ state: "running", started_at: "2026-11-21T12:05:00.000Z", last_activity_at: "2026-11-21T12:05:00.000Z" });
    const again = await env.call("POST", `/v1/broker/runs/${id}/start`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("CONFLICT");
  });

  it("refuses a run that expired before it was started", async () => {
    const id = await createRun(env, { mode: "supervised", expires_at: "2026-11-21T12:10:00Z" });
    env.clock.advance(601);
    const res = await env.call("POST", `/v1/broker/runs/${id}/start`);
    expect(res.status).toBe(409);
    expect(res.body.error.message).toContain("expired");
  });

  it("is refused to a daemon, and answers NOT_FOUND for an unknown run", async () => {
    const id = await createRun(env, { mode: "supervised" });
    expect((await env.call("POST", `/v1/broker/runs/${id}/start`, { token: daemon })).status).toBe(403);
    expect((await env.call("GET", `/v1/broker/runs/${id}`)).body.run.state).toBe("created");
    expect((await env.call("POST", "/v1/broker/runs/run_nope/start")).body.error.code).toBe("NOT_FOUND");
  });
});

describe("broker run-stop (owner kill switch)", () => {
  it("stops a running run with reason owner_kill_switch and records why", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run" });
    const res = await env.call("POST", `/v1/broker/runs/${id}/stop`, { body: { reason: "going to bed early" } });
    expect(res.status).toBe(200);
    expect(res.body.run).toMatchObject({ state: "stopped", stop_reason: "owner_kill_switch" });
    const stop = (await runEventRows(env, id)).find((e) => e.kind === "run_stopped")!;
    expect(stop.payload).toMatchObject({ condition: "owner_kill_switch", reason: "owner_kill_switch", detail: "going to bed early", by: "owner" });
    const twice = await env.call("POST", `/v1/broker/runs/${id}/stop`, { body: { reason: "again" } });
    expect(twice.status).toBe(409);
  });

  it("can stop a run that was never started", async () => {
    const id = await createRun(env, { mode: "supervised" });
    const res = await env.call("POST", `/v1/broker/runs/${id}/stop`, { body: { reason: "changed my mind" } });
    expect(res.body.run.state).toBe("stopped");
  });

  it("is refused to a daemon", async () => {
    const id = await startedRun(env, { mode: "supervised" });
    const res = await env.call("POST", `/v1/broker/runs/${id}/stop`, { body: { reason: "x" }, token: daemon });
    expect(res.status).toBe(403);
    expect((await env.call("GET", `/v1/broker/runs/${id}`)).body.run.state).toBe("running");
  });
});

describe("broker run-status / run-events / runs", () => {
  it("shows contract, lease, event count and stop-condition totals; daemons may read", async () => {
    const id = await startedRun(env, { mode: "supervised", expires_at: "2026-11-21T13:00:00Z", limits: { max_drafts_total: 3 } });
    const res = await env.call("GET", `/v1/broker/runs/${id}`, { token: daemon });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      run: {
        id,
        state: "running",
        expires_at: "2026-11-21T13:00:00.000Z",
        expired: false,
        limits: { max_drafts_total: 3 },
        lease: { owner: null, live: false },
      },
      event_count: 2,
      stop_condition_totals: {},
    });
    env.clock.advance(3601);
    expect((await env.call("GET", `/v1/broker/runs/${id}`)).body.run.expired).toBe(true);
  });

  it("lists a run's events in order and pages with after_id", async () => {
    const id = await startedRun(env, { mode: "supervised" });
    const all = await env.call("GET", `/v1/broker/runs/${id}/events`, { token: daemon });
    expect(all.body.events.map((e: any) => e.kind)).toEqual(["run_created", "run_started"]);
    const rest = await env.call("GET", `/v1/broker/runs/${id}/events?after_id=${all.body.events[0].id}`);
    expect(rest.body.events.map((e: any) => e.kind)).toEqual(["run_started"]);
  });

  it("lists runs newest first, filtered by state", async () => {
    const a = await createRun(env, { mode: "supervised" });
    env.clock.advance(1);
    const b = await startedRun(env, { mode: "overnight_dry_run" });
    expect((await env.call("GET", "/v1/broker/runs")).body.runs.map((r: any) => r.id)).toEqual([b, a]);
    expect((await env.call("GET", "/v1/broker/runs?state=running")).body.runs.map((r: any) => r.id)).toEqual([b]);
  });

  it("refuses sessions and runners", async () => {
    const id = await createRun(env, { mode: "supervised" });
    const runner = await env.mint("runner", "test-host");
    for (const path of [`/v1/broker/runs/${id}`, `/v1/broker/runs/${id}/events`, `/v1/broker/runs/${id}/digest`]) {
      expect((await env.call("GET", path, { token: runner })).status).toBe(403);
    }
  });
});
