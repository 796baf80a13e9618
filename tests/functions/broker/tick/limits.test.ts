import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { brokerFlow, type AdviceFlow } from "../../../../functions/broker/tick/flow.ts";
import { adviceRequests, approvalTokens } from "../../../../schema/broker.ts";
import { registerSession } from "../../../helpers/factories.ts";
import { makeTestEnv, type TestEnv, PINNED_EPOCH } from "../../../helpers/services.ts";
import { requestMessage, runAdvice, runEventRows, runRow, startedRun, tick, tickUntilStopped } from "../runs/fixtures.ts";

/**
 * One test per limit and per stop condition: each drives ticks on the fake clock until the run
 * stops, and checks it stopped for exactly that reason, no earlier and no later than it should.
 */

let env: TestEnv;
let lily: string;
let peer: string;
beforeEach(async () => {
  env = await makeTestEnv({ clockAt: PINNED_EPOCH });
  lily = (await registerSession(env, "manager")).session_id;
  peer = (await registerSession(env, "worker")).session_id;
});
afterEach(() => env.close());

const ask = (over: { body?: string; threadId?: string; from?: string | null } = {}) => requestMessage(env, { from: peer, to: lily, ...over });

/** The real flow, except that a poll fails whenever `failPoll(call)` says so. */
function flakyPoll(failPoll: (call: number) => boolean): AdviceFlow {
  let calls = 0;
  return {
    ...brokerFlow,
    async candidates(ctx, filter) {
      calls++;
      if (failPoll(calls)) throw new Error(`poll failed (call ${calls})`);
      return brokerFlow.candidates(ctx, filter);
    },
  };
}

/** The real flow, except that every draft comes out with the same text. */
const parrot: AdviceFlow = {
  ...brokerFlow,
  async draft(ctx, opts) {
    const processed = await brokerFlow.draft(ctx, opts);
    for (const p of processed) await ctx.db.update(adviceRequests).set({ draftText: "Retry with backoff." }).where(eq(adviceRequests.id, p.advice_id));
    return processed;
  },
};

/** Marks a run's advice approved (or not) and sent, as a send path outside the tick would. */
async function markSent(ids: string[], approved = true) {
  for (const id of ids) {
    await env.services.database.db
      .update(adviceRequests)
      .set({ state: "sent", sentAt: env.clock.ms, approvedAt: approved ? env.clock.ms : null, approvedText: "ok" })
      .where(eq(adviceRequests.id, id));
  }
}

async function expectStopped(runId: string, reason: string) {
  const row = await runRow(env, runId);
  expect({ state: row.state, stop_reason: row.stopReason, lease_owner: row.leaseOwner }).toEqual({ state: "stopped", stop_reason: reason, lease_owner: null });
  const stop = (await runEventRows(env, runId)).filter((e) => e.kind === "run_stopped");
  expect(stop.map((e) => e.payload.reason)).toEqual([reason]);
}

describe("clock limits", () => {
  it("expires_at: stops on the first tick at or after the expiry instant", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run", expires_at: "2026-11-21T12:10:00Z" });
    const { result, ticks } = await tickUntilStopped(env, id, { advanceSeconds: 60 });
    expect(ticks).toBe(11);
    expect(result.stopped?.reason).toBe("expired");
    await expectStopped(id, "expired");
  });

  it("max_runtime_minutes: stops once the run has run that long since start", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run", limits: { max_runtime_minutes: 5 } });
    const { result, ticks } = await tickUntilStopped(env, id, { advanceSeconds: 60 });
    expect(ticks).toBe(6);
    expect(result.stopped).toEqual({ reason: "max_runtime_minutes", detail: "ran 5 min of at most 5 min" });
    await expectStopped(id, "max_runtime_minutes");
  });

  it("max_idle_minutes: stops after that long without ingesting or drafting; activity resets it", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run", limits: { max_idle_minutes: 3 } });
    // A request arrives before the second tick (t = 1 min), so idleness counts from there.
    const { result, ticks } = await tickUntilStopped(env, id, { advanceSeconds: 60, between: async (i) => void (i === 1 && (await ask())) });
    expect(ticks).toBe(5);
    expect(result.stopped?.reason).toBe("max_idle_minutes");
    await expectStopped(id, "max_idle_minutes");
  });
});

describe("budgets", () => {
  it("max_requests_total: N requests are fine; the run stops when one more is waiting", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run", limits: { max_requests_total: 2 } });
    await ask();
    await ask();
    const first = await tick(env, id);
    expect(first.stopped).toBeNull();
    expect(first.run?.counters.requests_total).toBe(2);
    const third = await ask();
    const { result } = await tickUntilStopped(env, id);
    expect(result.stopped?.reason).toBe("max_requests_total");
    expect(result.ingested).toEqual([]);
    expect((await runAdvice(env, id)).map((a) => a.sourceMessageId)).not.toContain(third);
    await expectStopped(id, "max_requests_total");
  });

  it("max_requests_total counts requests ingested into the run outside its ticks too", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run", limits: { max_requests_total: 2 } });
    for (let i = 0; i < 3; i++) await ask();
    // The owner ingests by hand with the run's id; the next tick sees the budget is already overrun.
    expect((await env.call("POST", "/v1/broker/poll-messages", { body: { run_id: id } })).body.ingested).toHaveLength(3);
    const { result, ticks } = await tickUntilStopped(env, id);
    expect(ticks).toBe(1);
    expect(result.stopped).toEqual({ reason: "max_requests_total", detail: "3 requests attributed to the run (at most 2), some ingested outside its ticks" });
    expect(result.run?.counters.requests_total).toBe(3);
    await expectStopped(id, "max_requests_total");
  });

  it("max_drafts_total counts drafts made for the run outside its ticks (a pass that names the run)", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run", limits: { max_drafts_total: 1 } });
    await ask();
    await ask();
    await env.call("POST", "/v1/broker/poll-messages", { body: { run_id: id } });
    // A run-less tick leaves the run's requests alone; a watch that names the run drafts them.
    await env.call("POST", "/v1/broker/tick", { body: {} });
    expect((await runAdvice(env, id)).map((a) => a.state)).toEqual(["queued", "queued"]);
    await env.call("POST", "/v1/orchestrator/watch", { body: { once: true, run_id: id } });
    const { result } = await tickUntilStopped(env, id);
    expect(result.stopped?.reason).toBe("max_drafts_total");
    expect(result.run?.counters.drafts_total).toBe(2);
  });

  it("a run-less tick drafts none of the run's requests, so its draft budget holds", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run", limits: { max_drafts_total: 1 } });
    await ask();
    await ask();
    await env.call("POST", "/v1/broker/poll-messages", { body: { run_id: id } });
    const runless = await env.call("POST", "/v1/broker/tick", { body: {} });
    expect(runless.status).toBe(200);
    expect((await runAdvice(env, id)).filter((a) => a.draftText !== null)).toHaveLength(0);
    const { result } = await tickUntilStopped(env, id);
    expect(result.stopped?.reason).toBe("max_drafts_total");
    expect(result.run?.counters.drafts_total).toBe(1);
    expect((await runAdvice(env, id)).map((a) => a.state).sort()).toEqual(["draft_ready", "queued"]);
  });

  it("max_drafts_total: drafts up to N and stops with requests still queued", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run", limits: { max_drafts_total: 1 } });
    await ask();
    await ask();
    const { result, ticks } = await tickUntilStopped(env, id);
    expect(ticks).toBe(1);
    expect(result.stopped?.reason).toBe("max_drafts_total");
    expect((await runAdvice(env, id)).map((a) => a.state).sort()).toEqual(["draft_ready", "queued"]);
    expect(result.run?.counters.drafts_total).toBe(1);
    await expectStopped(id, "max_drafts_total");
  });

  it("max_sends_total: stops when more advice of the run was sent than the contract allows", async () => {
    const id = await startedRun(env, { mode: "supervised", limits: { max_sends_total: 1 } });
    await ask();
    await ask();
    expect((await tick(env, id)).stopped).toBeNull();
    const [a, b] = (await runAdvice(env, id)).map((x) => x.id);
    await markSent([a!]);
    expect((await tick(env, id)).stopped).toBeNull();
    await markSent([b!]);
    const { result } = await tickUntilStopped(env, id);
    expect(result.stopped).toEqual({ reason: "max_sends_total", detail: "2 sent of at most 1" });
    await expectStopped(id, "max_sends_total");
  });

  it("max_sends_total on an overnight dry run: any send at all stops it", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run" });
    await ask();
    await tick(env, id);
    await markSent((await runAdvice(env, id)).map((x) => x.id));
    const { result } = await tickUntilStopped(env, id);
    expect(result.stopped?.reason).toBe("max_sends_total");
  });

  it("max_sends_per_thread: stops when one thread got more sends than allowed", async () => {
    const id = await startedRun(env, { mode: "supervised", limits: { max_sends_total: 5, max_sends_per_thread: 1 } });
    await ask({ threadId: "thr_same" });
    await ask({ threadId: "thr_same" });
    await ask({ threadId: "thr_other" });
    await tick(env, id);
    const rows = await runAdvice(env, id);
    await markSent(rows.filter((r) => r.threadId === "thr_other").map((r) => r.id));
    await markSent([rows.find((r) => r.threadId === "thr_same")!.id]);
    expect((await tick(env, id)).stopped).toBeNull();
    await markSent(rows.filter((r) => r.threadId === "thr_same").map((r) => r.id));
    const { result } = await tickUntilStopped(env, id);
    expect(result.stopped).toEqual({ reason: "max_sends_per_thread", detail: "2 sent on thread thr_same of at most 1" });
    await expectStopped(id, "max_sends_per_thread");
  });

  it("max_errors_total: counts every error, even with successes in between", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run", limits: { max_errors_total: 3, max_consecutive_errors: 2 } });
    // Odd polls fail; a request arrives before every even tick, so errors never run two deep.
    const flow = flakyPoll((call) => call % 2 === 1);
    const { result, ticks } = await tickUntilStopped(env, id, { flow, between: async (i) => void (i % 2 === 1 && (await ask())) });
    expect(ticks).toBe(7);
    expect(result.stopped?.reason).toBe("max_errors_total");
    expect((await runRow(env, id)).errorsTotal).toBe(4);
    await expectStopped(id, "max_errors_total");
    const digest = (await env.call("GET", `/v1/broker/runs/${id}/digest`)).body;
    expect(digest.errors).toHaveLength(4);
    expect(digest.errors[0]).toMatchObject({ kind: "poll", message: "poll failed (call 7)" });
  });

  it("max_consecutive_errors: stops when errors run deeper than allowed", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run", limits: { max_consecutive_errors: 2 } });
    const { result, ticks } = await tickUntilStopped(env, id, { flow: flakyPoll(() => true) });
    expect(ticks).toBe(3);
    expect(result.stopped?.reason).toBe("max_consecutive_errors");
    await expectStopped(id, "max_consecutive_errors");
  });

  it("max_duplicate_drafts: tolerates N drafts that repeat earlier ones, stops at the next", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run", limits: { max_duplicate_drafts: 1 } });
    await ask();
    await ask();
    const first = await tick(env, id, parrot);
    expect(first.stopped).toBeNull();
    expect(first.run?.counters.duplicate_drafts).toBe(1);
    await ask();
    const { result } = await tickUntilStopped(env, id, { flow: parrot });
    expect(result.stopped?.reason).toBe("max_duplicate_drafts");
    await expectStopped(id, "max_duplicate_drafts");
  });
});

describe("stop conditions", () => {
  it("owner_kill_switch: the owner's run-stop ends the run; the next tick does nothing", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run" });
    const { result, ticks } = await tickUntilStopped(env, id, {
      between: async (i) => {
        if (i === 2) await env.call("POST", `/v1/broker/runs/${id}/stop`, { body: { reason: "owner says stop" } });
        await ask();
      },
    });
    expect(ticks).toBe(3);
    expect(result).toMatchObject({ processed: false, ingested: [], stopped: { reason: "owner_kill_switch" } });
    expect(await runAdvice(env, id)).toHaveLength(1);
    await expectStopped(id, "owner_kill_switch");
  });

  it("owner_kill_switch during a tick wins over the stop that tick was about to make", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run", limits: { max_errors_total: 0 } });
    const flow: AdviceFlow = {
      ...brokerFlow,
      async candidates() {
        await env.call("POST", `/v1/broker/runs/${id}/stop`, { body: { reason: "pulled the plug mid-tick" } });
        throw new Error("poll failed after the kill switch");
      },
    };
    const res = await tick(env, id, flow);
    expect(res.stopped?.reason).toBe("owner_kill_switch");
    await expectStopped(id, "owner_kill_switch");
  });

  it("ambiguous_or_unknown_recipient: a request with no session to reply to stops the run", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run", stop_conditions: ["ambiguous_or_unknown_recipient"] });
    await ask();
    expect((await tick(env, id)).stopped).toBeNull();
    await ask({ from: null });
    const { result } = await tickUntilStopped(env, id);
    expect(result.stopped?.reason).toBe("ambiguous_or_unknown_recipient");
    expect(result.conditions_met).toEqual([expect.objectContaining({ condition: "ambiguous_or_unknown_recipient", stopped: true })]);
    await expectStopped(id, "ambiguous_or_unknown_recipient");
  });

  it("ambiguous_or_unknown_recipient not in the contract: recorded, and the run goes on", async () => {
    const id = await startedRun(env, { mode: "supervised" });
    await ask({ from: null });
    const res = await tick(env, id);
    expect(res.stopped).toBeNull();
    expect(res.conditions_met).toEqual([expect.objectContaining({ condition: "ambiguous_or_unknown_recipient", stopped: false })]);
    const status = (await env.call("GET", `/v1/broker/runs/${id}`)).body;
    expect(status.run.state).toBe("running");
    expect(status.stop_condition_totals).toEqual({ ambiguous_or_unknown_recipient: 1 });
  });

  it("missing_approval: a scoped_auto_send draft no approval token covers stops the run", async () => {
    const id = await startedRun(env, { mode: "scoped_auto_send", stop_conditions: ["missing_approval"] });
    await ask({ threadId: "thr_covered" });
    await env.services.database.db.insert(approvalTokens).values({
      id: "atk_1",
      runId: id,
      secretHash: "h",
      toSession: peer,
      threadId: "thr_covered",
      maxUses: 1,
      uses: 0,
      expiresAt: env.clock.ms + 3_600_000,
      createdAt: env.clock.ms,
    });
    expect((await tick(env, id)).stopped).toBeNull();
    await ask({ threadId: "thr_uncovered" });
    const { result } = await tickUntilStopped(env, id);
    expect(result.stopped?.reason).toBe("missing_approval");
    expect(result.stopped?.detail).toContain("thr_uncovered");
    await expectStopped(id, "missing_approval");
  });

  it("missing_approval: advice of the run sent without an approval stops any run", async () => {
    const id = await startedRun(env, { mode: "supervised", limits: { max_sends_total: 10 } });
    await ask();
    await tick(env, id);
    await markSent(
      (await runAdvice(env, id)).map((a) => a.id),
      false,
    );
    const { result } = await tickUntilStopped(env, id);
    expect(result.stopped?.reason).toBe("missing_approval");
    await expectStopped(id, "missing_approval");
  });

  it("owner_input_required: a request the policy holds for the owner stops the run", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run", stop_conditions: ["owner_input_required"] });
    await ask();
    expect((await tick(env, id)).stopped).toBeNull();
    await ask({ body: "What is the latest release of Node today?" });
    const { result } = await tickUntilStopped(env, id);
    expect(result.stopped?.reason).toBe("owner_input_required");
    await expectStopped(id, "owner_input_required");
  });

  it("runtime_or_budget_limit: every limit stop is totalled under the budget condition", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run", limits: { max_runtime_minutes: 1 } });
    await tickUntilStopped(env, id);
    const status = (await env.call("GET", `/v1/broker/runs/${id}`)).body;
    expect(status.stop_condition_totals).toEqual({ runtime_or_budget_limit: 1 });
  });
});
