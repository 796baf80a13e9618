import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { registerSession } from "../../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../../helpers/services.ts";
import { requestMessage, startedRun, tick } from "./fixtures.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("broker run-digest", () => {
  it("says what the run did: requests by state, what waits for the owner, and why it stopped", async () => {
    const lily = await registerSession(env, "manager");
    const peer = await registerSession(env, "worker");
    const id = await startedRun(env, { mode: "overnight_dry_run", limits: { max_runtime_minutes: 30 } });
    await requestMessage(env, { from: peer.session_id, to: lily.session_id });
    await requestMessage(env, { from: peer.session_id, to: lily.session_id, body: "Which is the latest release of Node right now?" });
    await tick(env, id);
    env.clock.advance(30 * 60);
    await tick(env, id);

    const res = await env.call("GET", `/v1/broker/runs/${id}/digest`, { token: await env.mint("daemon") });
    expect(res.status).toBe(200);
    const d = res.body;
    expect(d).toMatchObject({
      run_id: id,
      mode: "overnight_dry_run",
      state: "stopped",
      stop_reason: "max_runtime_minutes",
      stop_detail: "ran 30 min of at most 30 min",
      ticks: 2,
      counters: { requests_total: 2, drafts_total: 1, sends_total: 0, errors_total: 0 },
      requests: { total: 2, by_state: { draft_ready: 1, owner_input_required: 1 } },
      errors: [],
      conditions_met: { owner_input_required: 1, runtime_or_budget_limit: 1 },
    });
    expect(d.waiting_for_approval).toHaveLength(1);
    expect(d.owner_input_required).toHaveLength(1);
    expect(d.summary).toBe(
      `overnight_dry_run run ${id}: 2 request(s), 1 draft(s) (1 waiting for approval), 1 need owner input, 0 sent, 0 error(s); stopped: max_runtime_minutes (ran 30 min of at most 30 min).`,
    );
  });

  it("answers NOT_FOUND for an unknown run", async () => {
    expect((await env.call("GET", "/v1/broker/runs/run_nope/digest")).body.error.code).toBe("NOT_FOUND");
  });
});
