import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { orchestratorJobs } from "../../../schema/broker.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { ingest, insertMessage, requesterAndAdvisor } from "../broker/fixtures.ts";
import { go, spawnWorker } from "../../helpers/worker-process.ts";

const WORKER = fileURLToPath(new URL("./processor-worker.ts", import.meta.url));
const JOBS = 30;

type Line = { ready?: true; done?: true; drafted?: string; processed?: Array<{ job_id: string; advice_id: string; state: string; claim_lost: boolean }> };

/** Starts one processor process; resolves its lines when it exits. */
function startProcessor(url: string, id: string) {
  return spawnWorker<Line>(WORKER, [url, id]);
}

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("two orchestrator processes on one database", () => {
  it("process every job exactly once: one claim, one drafter call, one result per job", { timeout: 120_000 }, async () => {
    const { requester, advisor } = await requesterAndAdvisor(env);
    const jobs: Array<{ job_id: string; advice_id: string }> = [];
    for (let i = 0; i < JOBS; i++) {
      const msg = await insertMessage(env, { from: requester.session_id, to: advisor.session_id, body: `question ${i}?` });
      jobs.push(await ingest(env, msg.id));
    }
    const procs = [startProcessor(env.services.database.url, "p1"), startProcessor(env.services.database.url, "p2")];
    try {
      await Promise.all(procs.map((p) => p.ready));
      // Ending stdin (not just writing the line) lets each process exit when its pass is done.
      go(procs);
      const codes = await Promise.all(procs.map((p) => p.exit));
      expect(codes, procs.map((p) => p.stderr.join("")).join("\n")).toEqual([0, 0]);
    } finally {
      for (const p of procs) if (p.child.exitCode === null) p.child.kill("SIGKILL");
    }
    const processed = procs.flatMap((p) => p.lines.find((l) => l.done)!.processed!);
    const drafted = procs.flatMap((p) => p.lines.filter((l) => l.drafted).map((l) => l.drafted!));
    expect(processed.map((p) => p.job_id).sort()).toEqual(jobs.map((j) => j.job_id).sort());
    expect(processed.every((p) => p.state === "draft_ready" && !p.claim_lost)).toBe(true);
    expect(drafted.sort()).toEqual(jobs.map((j) => j.advice_id).sort());
    const rows = await env.services.database.db.select().from(orchestratorJobs);
    expect(rows.every((r) => r.state === "draft_ready" && r.attempts === 1 && r.claimGeneration === 1)).toBe(true);
  });
});
