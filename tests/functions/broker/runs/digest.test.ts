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

  it("lists the oldest 50 of a state and counts them all, without loading the run's every request", async () => {
    const lily = await registerSession(env, "manager");
    const peer = await registerSession(env, "worker");
    const id = await startedRun(env, { mode: "overnight_dry_run", limits: { max_runtime_minutes: 30 } });
    await requestMessage(env, { from: peer.session_id, to: lily.session_id });
    await tick(env, id);
    // 59 more drafts of the same run, each a copy of the first with its own id, source and time.
    const c = env.services.database.client;
    const cols = (await c.execute("PRAGMA table_info(advice_requests)")).rows.map((r) => String(r.name));
    const [first] = (await c.execute({ sql: "SELECT id FROM advice_requests WHERE run_id = ?", args: [id] })).rows;
    const copy = cols.map((col) =>
      col === "id" ? "id || '-' || n.i" : col === "source_message_id" ? "source_message_id || '-' || n.i" : col === "created_at" ? "created_at + n.i" : col,
    );
    await c.execute({
      sql: `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 59)
            INSERT INTO advice_requests (${cols.join(", ")}) SELECT ${copy.join(", ")} FROM advice_requests, n WHERE advice_requests.id = ?`,
      args: [String(first!.id)],
    });
    const d = (await env.call("GET", `/v1/broker/runs/${id}/digest`)).body;
    expect(d.requests).toEqual({ total: 60, by_state: { draft_ready: 60 } });
    expect(d.waiting_for_approval.map((w: { advice_id: string }) => w.advice_id)).toEqual([
      String(first!.id),
      ...Array.from({ length: 49 }, (_, i) => `${first!.id}-${i + 1}`),
    ]);
    expect(d.summary).toContain("(60 waiting for approval), 0 need owner input");
    // The counts are kept as rows change (triggers): a state change and a deletion move them too.
    await c.execute({ sql: "UPDATE advice_requests SET state = 'rejected' WHERE id = ?", args: [`${first!.id}-1`] });
    await c.execute({ sql: "UPDATE advice_requests SET state = 'owner_input_required' WHERE id = ?", args: [`${first!.id}-2`] });
    await c.execute({ sql: "DELETE FROM advice_requests WHERE id = ?", args: [`${first!.id}-3`] });
    const after = (await env.call("GET", `/v1/broker/runs/${id}/digest`)).body;
    expect(after.requests).toEqual({ total: 59, by_state: { draft_ready: 57, owner_input_required: 1, rejected: 1 } });
    expect(after.owner_input_required.map((w: { advice_id: string }) => w.advice_id)).toEqual([`${first!.id}-2`]);
    // The oldest waiting are listed off the partial index, with no sort.
    const plan = (
      await c.execute({
        sql: "EXPLAIN QUERY PLAN SELECT * FROM advice_requests WHERE run_id = ? AND state = 'draft_ready' ORDER BY created_at, id LIMIT 50",
        args: [id],
      })
    ).rows
      .map((r) => String(r.detail))
      .join("; ");
    expect(plan).toMatch(/USING INDEX advice_requests_run_drafted_idx/);
    expect(plan).not.toMatch(/TEMP B-TREE/);
  });

  it("answers NOT_FOUND for an unknown run", async () => {
    expect((await env.call("GET", "/v1/broker/runs/run_nope/digest")).body.error.code).toBe("NOT_FOUND");
  });
});
