// Advice broker benchmarks: how many request messages per second become advice requests
// (ingest), how many queued jobs per second the orchestrator takes to draft_ready with the
// built-in drafter (context packet + policy + draft + fenced finish), and both together. Run
// alone with `npx tsx bench/broker.ts` (writes bench/results/broker.json), or call brokerBench().
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ingestMessage } from "../functions/broker/ingest.ts";
import { bindTask } from "../functions/bindings/bind.ts";
import { makeCtx, type Ctx } from "../functions/lib/ctx.ts";
import { makeId } from "../functions/lib/ids.ts";
import { claimNextJob } from "../functions/orchestrator/claim.ts";
import { processJob } from "../functions/orchestrator/watch.ts";
import { registerSession } from "../functions/sessions/register.ts";
import { createTask } from "../functions/tasks/create.ts";
import { resolveHome } from "../local-runner/home.ts";
import { openLocalServices, type LocalServices } from "../local-runner/services.ts";
import { messages, type MessageRow } from "../schema/messages.ts";
import { percentile, round, writeResult } from "./lib.ts";

/** One benchmark row: throughput plus per-item latency. */
export interface BrokerBenchRow {
  id: string;
  label: string;
  n: number;
  per_second: number;
  p50_ms: number;
  p99_ms: number;
}

function row(id: string, label: string, samples: number[], totalMs: number): BrokerBenchRow {
  return {
    id,
    label,
    n: samples.length,
    per_second: round((samples.length / totalMs) * 1000),
    p50_ms: round(percentile(samples, 50)),
    p99_ms: round(percentile(samples, 99)),
  };
}

/**
 * A fresh home with a requester bound to a task (so packets carry a task, a binding and audit
 * activity, as real ones do) and `n` request messages on threads of three messages each.
 */
async function setup(n: number): Promise<{ dir: string; services: LocalServices; ctx: Ctx; ids: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-bench-broker-"));
  const services = await openLocalServices({ home: { ...resolveHome({}, { home: dir }), hostName: "bench" } });
  services.drafter = undefined;
  const ctx = makeCtx(services, { kind: "daemon", tokenId: "tok_bench" });
  const owner = makeCtx(services, { kind: "owner", tokenId: "tok_bench" });
  const worker = await registerSession(owner, { name: "bench-worker", role: "worker" });
  await registerSession(owner, { name: "bench-manager", role: "manager" });
  const advisor = await registerSession(owner, { name: "bench-advisor", role: "manager" });
  await createTask(owner, { name: "bench-task", goal: "Keep the ingest worker's retries bounded" });
  await bindTask(owner, { task: "bench-task", worker: "bench-worker", manager: "bench-manager" });
  const rows: MessageRow[] = [];
  const ids: string[] = [];
  let t = Date.now();
  for (let i = 0; i < n; i++) {
    const threadId = makeId("thr", t);
    const base = { threadId, correlationId: null, project: "/bench", subject: `question ${i}`, inReplyTo: null, advisedAt: null };
    rows.push({
      ...base,
      id: makeId("msg", t++),
      msgType: "request",
      fromSessionId: worker.session_id,
      fromActor: "session:bench",
      toSessionId: advisor.session_id,
      body: `Earlier context for ${i}.`,
      createdAt: t,
    });
    rows.push({
      ...base,
      id: makeId("msg", t++),
      msgType: "reply",
      fromSessionId: advisor.session_id,
      fromActor: "session:bench",
      toSessionId: worker.session_id,
      body: "Earlier answer.",
      createdAt: t,
    });
    const id = makeId("msg", t++);
    ids.push(id);
    rows.push({
      ...base,
      id,
      msgType: "request",
      fromSessionId: worker.session_id,
      fromActor: "session:bench",
      toSessionId: advisor.session_id,
      body: `Tests fail after the retry change (${i}). Should I add jitter or cap attempts? I tried both.`,
      createdAt: t,
    });
  }
  for (let i = 0; i < rows.length; i += 500) await services.database.db.insert(messages).values(rows.slice(i, i + 500));
  return { dir, services, ctx, ids };
}

/** Ingest, draft, and ingest+draft throughput over `n` requests each. */
export async function brokerBench(opts: { n?: number } = {}): Promise<BrokerBenchRow[]> {
  const n = opts.n ?? Number(process.env.BENCH_BROKER_N ?? 1000);
  const out: BrokerBenchRow[] = [];
  {
    const { dir, services, ctx, ids } = await setup(n);
    try {
      const ingest: number[] = [];
      const t0 = performance.now();
      for (const id of ids) {
        const s = performance.now();
        await ingestMessage(ctx, { messageId: id });
        ingest.push(performance.now() - s);
      }
      out.push(row("broker_ingest", "ingest-message: request → advice request + queued job", ingest, performance.now() - t0));
      const draft: number[] = [];
      const t1 = performance.now();
      for (;;) {
        const s = performance.now();
        const claim = await claimNextJob(ctx, { processorId: "bench" });
        if (!claim) break;
        const done = await processJob(ctx, claim, { drafter: "builtin" });
        if (done.state !== "draft_ready") throw new Error(`job ${done.job_id} ended ${done.state}: ${done.error ?? done.policy_reason}`);
        draft.push(performance.now() - s);
      }
      out.push(row("broker_draft_builtin", "orchestrator: claim → context packet → policy → built-in draft → finish", draft, performance.now() - t1));
    } finally {
      services.database.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  {
    const { dir, services, ctx, ids } = await setup(n);
    try {
      const both: number[] = [];
      const t0 = performance.now();
      for (const id of ids) {
        const s = performance.now();
        await ingestMessage(ctx, { messageId: id });
        const claim = await claimNextJob(ctx, { processorId: "bench" });
        await processJob(ctx, claim!, { drafter: "builtin" });
        both.push(performance.now() - s);
      }
      out.push(row("broker_ingest_and_draft", "ingest + draft one request end to end (built-in drafter)", both, performance.now() - t0));
    } finally {
      services.database.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await brokerBench();
  for (const r of rows) console.log(JSON.stringify(r));
  writeResult("broker", { rows });
}
