import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeCtx } from "../../../functions/lib/ctx.ts";
import { claimNextJob } from "../../../functions/orchestrator/claim.ts";
import { orchestratorStatus } from "../../../functions/orchestrator/status.ts";
import { JOB_STATES } from "../../../schema/broker.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { ingest, insertMessage, jobRow, requesterAndAdvisor, watch } from "../broker/fixtures.ts";

/**
 * The per-state job counts are kept by triggers on orchestrator_jobs (migration 0023). Through
 * every way a job comes to be and changes state, the status must equal a recount of the jobs.
 */

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const daemon = () => makeCtx(env.services, { kind: "daemon", tokenId: "tok_status" });

/** The jobs per state and in all, counted from the rows (the query the status used to run). */
async function recount() {
  const rows = (await env.services.database.client.execute("SELECT state, count(*) AS n FROM orchestrator_jobs GROUP BY state")).rows;
  const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0]));
  for (const r of rows) counts[String(r.state)] = Number(r.n);
  return { counts, total: rows.reduce((n, r) => n + Number(r.n), 0) };
}

/** The status (domain function and route) agrees with the recount, which is returned. */
async function expectExact() {
  const want = await recount();
  const status = await orchestratorStatus(daemon());
  expect({ counts: status.counts, total: status.total }).toEqual(want);
  const wire = await env.call("GET", "/v1/orchestrator/status");
  expect(wire.status).toBe(200);
  expect({ counts: wire.body.counts, total: wire.body.total }).toEqual(want);
  return want;
}

describe("orchestrator status counts", () => {
  it("stay exact as jobs are queued, claimed, drafted, failed, retried, reclaimed and deleted", async () => {
    expect(await expectExact()).toEqual({ counts: { queued: 0, running: 0, draft_ready: 0, owner_input_required: 0, failed: 0 }, total: 0 });
    const { requester, advisor } = await requesterAndAdvisor(env);
    const ask = async (body: string) => ingest(env, (await insertMessage(env, { from: requester.session_id, to: advisor.session_id, body })).id);
    const jobs = [];
    for (let i = 0; i < 4; i++) jobs.push(await ask(`How do I split this module? I tried one file. (${i})`));
    expect((await expectExact()).counts.queued).toBe(4);

    // Claimed (running), then drafted by a pass (draft_ready).
    expect(await claimNextJob(daemon(), { processorId: "p1", leaseMs: 60_000 })).not.toBeNull();
    expect((await expectExact()).counts).toMatchObject({ queued: 3, running: 1 });
    env.services.drafter = {
      label: "failing-drafter",
      run: () => Promise.reject(new Error("exited with status 3: boom")),
    };
    const failed = await watch(env, { drafter: "external", max_jobs: 1 });
    expect(failed.processed[0]).toMatchObject({ state: "failed" });
    expect((await expectExact()).counts).toMatchObject({ queued: 2, running: 1, failed: 1 });
    env.services.drafter = undefined;
    await watch(env);
    expect((await expectExact()).counts).toMatchObject({ queued: 0, running: 1, draft_ready: 2, failed: 1 });

    // The owner retries the failed one: back to queued, and drafted again.
    const failedJob = failed.processed[0].job_id as string;
    const failedAdvice = jobs.find((j) => j.job_id === failedJob)!.advice_id;
    expect((await env.call("POST", `/v1/broker/advice/${failedAdvice}/retry`, { body: {} })).status).toBe(200);
    expect((await expectExact()).counts).toMatchObject({ queued: 1, failed: 0 });

    // p1 died: its lease runs out, and the next pass reclaims and drafts its job.
    env.clock.advance(61);
    await watch(env);
    expect(await expectExact()).toMatchObject({ counts: { queued: 0, running: 0, draft_ready: 4, failed: 0 }, total: 4 });

    // Nothing deletes jobs today; if something ever does, the counts follow.
    await env.services.database.client.execute({ sql: "DELETE FROM orchestrator_jobs WHERE id = ?", args: [failedJob] });
    expect(await expectExact()).toMatchObject({ counts: { draft_ready: 3 }, total: 3 });
    expect((await jobRow(env, jobs[0]!.job_id)).state).toBe("draft_ready");
  });
});
