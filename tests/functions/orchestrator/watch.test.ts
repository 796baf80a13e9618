import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { brokerEvents } from "../../../schema/broker.ts";
import type { DrafterCommand } from "../../../functions/lib/ctx.ts";
import { makeCtx } from "../../../functions/lib/ctx.ts";
import { claimNextJob, finishJob } from "../../../functions/orchestrator/claim.ts";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { adviceRow, ingest, insertMessage, insertRun, jobRow, requesterAndAdvisor, watch } from "../broker/fixtures.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const daemonCtx = () => makeCtx(env.services, { kind: "daemon", tokenId: "tok_test" });

async function queuedAdvice(n = 1, body = "How do I split this module? I tried one file.") {
  const { requester, advisor } = await requesterAndAdvisor(env);
  const out = [];
  for (let i = 0; i < n; i++) {
    const msg = await insertMessage(env, { from: requester.session_id, to: advisor.session_id, body: `${body} (${i})` });
    out.push(await ingest(env, msg.id));
  }
  return out as Array<{ advice_id: string; job_id: string }>;
}

/** An external drafter that answers from a function and counts its calls per advice id. */
function fakeDrafter(answer: (packet: any) => Promise<string> | string): DrafterCommand & { calls: string[] } {
  const calls: string[] = [];
  return {
    label: "fake-drafter",
    calls,
    async run(stdin) {
      const packet = JSON.parse(stdin);
      calls.push(packet.advice_id);
      return answer(packet);
    },
  };
}

describe("POST /v1/orchestrator/watch (once)", () => {
  it("takes a queued job to draft_ready with the built-in drafter and stores draft, packet and events", async () => {
    const [a] = await queuedAdvice();
    const out = await watch(env, {}, await env.mint("daemon"));
    expect(out.count).toBe(1);
    expect(out.processed[0]).toMatchObject({ job_id: a!.job_id, advice_id: a!.advice_id, attempt: 1, state: "draft_ready", claim_lost: false, error: null });
    const job = await jobRow(env, a!.job_id);
    expect(job).toMatchObject({ state: "draft_ready", attempts: 1, claimGeneration: 1, leaseExpiresAt: null, lastError: null });
    const advice = await adviceRow(env, a!.advice_id);
    expect(advice.state).toBe("draft_ready");
    expect(advice.draftText).toContain("How do I split this module?");
    expect(advice.draftMeta).toMatchObject({ drafter: "builtin", research_policy: "deny" });
    expect(advice.contextPacket).toMatchObject({ advice_id: a!.advice_id });
    const kinds = (await env.services.database.db.select().from(brokerEvents).where(eq(brokerEvents.jobId, a!.job_id))).map((e) => e.kind);
    expect(kinds).toEqual(["advice_ingested", "job_queued", "job_claimed", "draft_ready"]);
    expect((await watch(env)).count).toBe(0);
  });

  it("reports status, lists jobs by state and shows a job with its events", async () => {
    const [a, b] = await queuedAdvice(2);
    let status = await env.call("GET", "/v1/orchestrator/status");
    expect(status.body).toMatchObject({ counts: { queued: 2, running: 0, draft_ready: 0 }, total: 2, expired_leases: 0 });
    expect(status.body.oldest_queued_at).not.toBeNull();
    await watch(env, { max_jobs: 1 });
    status = await env.call("GET", "/v1/orchestrator/status");
    expect(status.body.counts).toMatchObject({ queued: 1, draft_ready: 1 });
    const queued = await env.call("GET", "/v1/orchestrator/jobs?status=queued");
    expect(queued.body.jobs.map((j: any) => j.id)).toEqual([b!.job_id]);
    const show = await env.call("GET", `/v1/orchestrator/jobs/${a!.job_id}`);
    expect(show.status).toBe(200);
    expect(show.body.job).toMatchObject({ id: a!.job_id, state: "draft_ready" });
    expect(show.body.advice).toMatchObject({ id: a!.advice_id, state: "draft_ready" });
    expect(show.body.events.map((e: any) => e.kind)).toEqual(["advice_ingested", "job_queued", "job_claimed", "draft_ready"]);
    expect((await env.call("GET", "/v1/orchestrator/jobs/job_nope")).status).toBe(404);
  });

  it("claims the oldest claimable job, whether it is queued or running under an expired lease", async () => {
    const [older, newer] = await queuedAdvice(2);
    const ctx = daemonCtx();
    expect((await claimNextJob(ctx, { processorId: "dies", leaseMs: 60_000 }))!.job.id).toBe(older!.job_id);
    env.clock.advance(61);
    // The expired one is older than the queued one: it goes first, then the queued one.
    expect((await claimNextJob(ctx, { processorId: "p2", leaseMs: 60_000 }))!.job).toMatchObject({ id: older!.job_id, attempts: 2 });
    expect((await claimNextJob(ctx, { processorId: "p3", leaseMs: 60_000 }))!.job).toMatchObject({ id: newer!.job_id, attempts: 1 });
    expect(await claimNextJob(ctx, { processorId: "p4", leaseMs: 60_000 })).toBeNull();
  });

  it("retries a job whose processor died (lease expired while running), then fails it after max_attempts", async () => {
    const [a] = await queuedAdvice();
    const ctx = daemonCtx();
    // Two processors claim and die, each after the previous one's lease ran out.
    expect(await claimNextJob(ctx, { processorId: "dead-1", leaseMs: 60_000 })).not.toBeNull();
    expect(await claimNextJob(ctx, { processorId: "other", leaseMs: 60_000 })).toBeNull();
    env.clock.advance(61);
    const status = await env.call("GET", "/v1/orchestrator/status");
    expect(status.body.expired_leases).toBe(1);
    const second = await claimNextJob(ctx, { processorId: "dead-2", leaseMs: 60_000 });
    expect(second!.job).toMatchObject({ attempts: 2, claimGeneration: 2, claimedBy: "dead-2" });
    env.clock.advance(61);
    // The third attempt (the last of 3) succeeds.
    const out = await watch(env);
    expect(out.processed[0]).toMatchObject({ job_id: a!.job_id, attempt: 3, state: "draft_ready" });
    const kinds = (await env.services.database.db.select().from(brokerEvents).where(eq(brokerEvents.jobId, a!.job_id))).map((e) => e.kind);
    expect(kinds).toEqual(["advice_ingested", "job_queued", "job_claimed", "job_reclaimed", "job_reclaimed", "draft_ready"]);
  });

  it("fails a job and its advice when the processor dies on the last attempt", async () => {
    const [a] = await queuedAdvice();
    const ctx = daemonCtx();
    for (let i = 0; i < 3; i++) {
      expect(await claimNextJob(ctx, { processorId: `dead-${i}`, leaseMs: 10_000 })).not.toBeNull();
      env.clock.advance(11);
    }
    const out = await watch(env);
    expect(out).toMatchObject({ count: 0, exhausted: [a!.job_id] });
    const job = await jobRow(env, a!.job_id);
    expect(job.state).toBe("failed");
    expect(job.lastError).toBe("lease expired on attempt 3 of 3: the processor stopped before finishing");
    expect(await adviceRow(env, a!.advice_id)).toMatchObject({ state: "failed", error: job.lastError });
  });

  it("fences out a processor whose lease expired and whose job was reclaimed: its late result is discarded", async () => {
    const [a] = await queuedAdvice();
    const ctx = daemonCtx();
    const stale = await claimNextJob(ctx, { processorId: "slow", leaseMs: 10_000 });
    env.clock.advance(11);
    const out = await watch(env, { processor_id: "fresh" });
    expect(out.processed[0]).toMatchObject({ state: "draft_ready", attempt: 2 });
    const lateWrite = await finishJob(ctx, stale!, { state: "failed", contextPacket: null, error: "late" });
    expect(lateWrite).toBe(false);
    expect(await jobRow(env, a!.job_id)).toMatchObject({ state: "draft_ready", lastError: null, claimedBy: "fresh" });
    expect(await adviceRow(env, a!.advice_id)).toMatchObject({ state: "draft_ready", error: null });
  });

  it("hands each job to exactly one of many concurrent claimers", async () => {
    const jobs = await queuedAdvice(8);
    const ctx = daemonCtx();
    const claims = await Promise.all(Array.from({ length: 20 }, (_, i) => claimNextJob(ctx, { processorId: `c${i}` })));
    const won = claims.filter((c) => c !== null).map((c) => c!.job.id);
    expect(won.sort()).toEqual(jobs.map((j) => j.job_id).sort());
    for (const j of jobs) expect(await jobRow(env, j.job_id)).toMatchObject({ state: "running", attempts: 1, claimGeneration: 1 });
  });

  it("only claims jobs of the given run when run_id is set", async () => {
    const [a] = await queuedAdvice();
    const out = await watch(env, { run_id: "run_other" });
    expect(out.count).toBe(0);
    expect((await jobRow(env, a!.job_id)).state).toBe("queued");
  });

  it("without run_id drafts only requests of no run: a run's jobs wait for a pass that names the run", async () => {
    const runId = await insertRun(env, "supervised");
    const { requester, advisor } = await requesterAndAdvisor(env);
    const ask = async (body: string, extra: Record<string, unknown> = {}) =>
      ingest(env, (await insertMessage(env, { from: requester.session_id, to: advisor.session_id, body })).id, extra);
    const free = await ask("A question that belongs to no run.");
    const owned = await ask("A question the run took on.", { run_id: runId });

    expect((await watch(env)).processed.map((p: any) => p.job_id)).toEqual([free.job_id]);
    // Nor does a run-less broker tick, which runs the same pass.
    expect((await env.call("POST", "/v1/broker/tick", { body: {} })).status).toBe(200);
    expect(await jobRow(env, owned.job_id)).toMatchObject({ state: "queued", attempts: 0 });
    expect(await adviceRow(env, owned.advice_id)).toMatchObject({ state: "queued", draftText: null });

    expect((await watch(env, { run_id: runId })).processed.map((p: any) => p.job_id)).toEqual([owned.job_id]);
    expect((await adviceRow(env, owned.advice_id)).state).toBe("draft_ready");
  });

  it("is refused to session and runner tokens, and needs once=true", async () => {
    const s = await registerSession(env, "worker");
    for (const token of [s.token, await env.mint("runner", "test-host")]) {
      expect((await env.call("POST", "/v1/orchestrator/watch", { body: { once: true }, token })).status).toBe(403);
      expect((await env.call("GET", "/v1/orchestrator/status", { token })).status).toBe(403);
    }
    const bad = await env.call("POST", "/v1/orchestrator/watch", { body: {} });
    expect(bad.status).toBe(400);
  });
});

describe("drafter failures fail the job with the error recorded", () => {
  const cases: Array<[string, () => Promise<string> | string, RegExp]> = [
    ["a crashing command", () => Promise.reject(new Error("exited with status 3: boom")), /drafter 'fake-drafter' failed: exited with status 3: boom/],
    ["a timeout", () => Promise.reject(new Error("timed out after 50 ms")), /failed: timed out after 50 ms/],
    ["output that is not JSON", () => "Sure! Here is advice", /printed invalid JSON: Sure! Here is advice/],
    ["an empty draft", () => JSON.stringify({ draft: "   " }), /returned no draft/],
    ["a missing draft field", () => JSON.stringify({ text: "x" }), /returned no draft/],
  ];
  for (const [name, answer, error] of cases) {
    it(`${name}`, async () => {
      const [a] = await queuedAdvice();
      env.services.drafter = fakeDrafter(answer);
      const out = await watch(env);
      expect(out.processed[0]).toMatchObject({ state: "failed", error: expect.stringMatching(error) });
      const job = await jobRow(env, a!.job_id);
      expect(job.state).toBe("failed");
      expect(job.lastError).toMatch(error);
      const advice = await adviceRow(env, a!.advice_id);
      expect(advice).toMatchObject({ state: "failed", draftText: null });
      expect(advice.error).toMatch(error);
      // The packet is kept so the owner can see what the drafter was given.
      expect(advice.contextPacket).toMatchObject({ advice_id: a!.advice_id });
    });
  }

  it("fails when the external drafter is requested but none is configured", async () => {
    const [a] = await queuedAdvice();
    const out = await watch(env, { drafter: "external" });
    expect(out.processed[0].state).toBe("failed");
    expect((await jobRow(env, a!.job_id)).lastError).toContain("none is configured");
  });

  it("uses the external drafter's draft and keeps its extra fields as metadata", async () => {
    const [a] = await queuedAdvice();
    env.services.drafter = fakeDrafter(() => JSON.stringify({ draft: "Do X, then Y.", confidence: "high" }));
    await watch(env);
    expect(await adviceRow(env, a!.advice_id)).toMatchObject({
      state: "draft_ready",
      draftText: "Do X, then Y.",
      draftMeta: { drafter: "external", command: "fake-drafter", output: { confidence: "high" }, research_policy: "deny" },
    });
  });
});
