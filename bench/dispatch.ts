// Dispatch queue benchmarks: commands claimed + executed + completed per second by one
// in-process dispatcher and by four dispatcher OS processes on one file database, against the
// raw rate of single-row libSQL UPDATEs measured in the same run on the same kind of database.
// A command costs the queue about one write transaction (its fenced outcome batched with the next
// claim's side_effect_started) plus its share of the batched claim and the heartbeat, against one
// per raw UPDATE; the target ratio is 0.3. Process start-up is not timed. Run alone with
// `npx tsx bench/dispatch.ts`, or as part of `npm run bench`.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { z } from "@hono/zod-openapi";
import type { ExecutorTable } from "../functions/lib/ctx.ts";
import { makeCtx } from "../functions/lib/ctx.ts";
import { openDatabase, type Database } from "../functions/lib/db.ts";
import { DISPATCH_PLUGINS } from "../functions/executors.ts";
import { dispatchPass } from "../functions/queue/dispatch-pass.ts";
import { migrateDatabase } from "../local-runner/migrate.ts";
import { enqueueNotifications } from "../tests/helpers/queue-seed.ts";
import { round, type BenchRow } from "./lib.ts";

export type DispatchBenchRow = BenchRow;

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const WORKER = join(ROOT, "bench", "dispatch-worker.ts");
const RAW_UPDATES = 3000;
const SINGLE_COMMANDS = 3000;
const MULTI_COMMANDS = 8000;
const PROCESSES = 4;

async function freshDb(): Promise<{ dir: string; db: Database; url: string }> {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-bench-dispatch-"));
  const url = `file:${join(dir, "switchyard.db")}`;
  const db = await openDatabase({ url });
  await migrateDatabase(db);
  return { dir, db, url };
}

/** Sequential autocommit single-row UPDATEs: the floor one write transaction costs here. */
async function rawUpdateRate(): Promise<{ perSecond: number; samples: number[] }> {
  const { dir, db } = await freshDb();
  try {
    await db.client.execute("CREATE TABLE bench_counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)");
    await db.client.execute("INSERT INTO bench_counter (id, n) VALUES (1, 0)");
    const samples: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < RAW_UPDATES; i++) {
      const s = performance.now();
      await db.client.execute({ sql: "UPDATE bench_counter SET n = n + 1 WHERE id = ?", args: [1] });
      samples.push(performance.now() - s);
    }
    return { perSecond: RAW_UPDATES / ((performance.now() - t0) / 1000), samples };
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const noop = { notify_manager: { payload: z.object({ n: z.number() }), run: async () => ({ ok: true, result: {} }) } } as unknown as ExecutorTable;

/** One in-process dispatcher draining the queue. */
async function singleDispatcherRate(): Promise<number> {
  const { dir, db } = await freshDb();
  try {
    await enqueueNotifications(db, "bench", SINGLE_COMMANDS);
    const ctx = makeCtx({ database: db, hostName: "bench", executors: noop }, { kind: "daemon", tokenId: "bench" });
    let processed = 0;
    const t0 = performance.now();
    for (;;) {
      const r = await dispatchPass(ctx, DISPATCH_PLUGINS, { dispatcherId: "bench-1", limit: 20, route: false });
      if (r.claimed === 0) break;
      processed += r.claimed;
    }
    if (processed !== SINGLE_COMMANDS) throw new Error(`processed ${processed} of ${SINGLE_COMMANDS}`);
    return processed / ((performance.now() - t0) / 1000);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Four dispatcher processes draining one queue; process start-up is excluded. */
async function multiDispatcherRate(): Promise<number> {
  const { dir, db, url } = await freshDb();
  try {
    await enqueueNotifications(db, "bench", MULTI_COMMANDS);
    const children = Array.from({ length: PROCESSES }, (_, i) => {
      const child = spawn(process.execPath, ["--import", "tsx", WORKER, url, `bench-${i}`], { cwd: ROOT, stdio: ["pipe", "pipe", "inherit"] });
      const lines: Array<Record<string, unknown>> = [];
      let ready!: () => void;
      let done!: () => void;
      const isReady = new Promise<void>((r) => (ready = r));
      const isDone = new Promise<void>((r) => (done = r));
      createInterface({ input: child.stdout! }).on("line", (l) => {
        const line = JSON.parse(l);
        lines.push(line);
        if (line.ready) ready();
        if (line.done) done();
      });
      const exit = new Promise<number | null>((r) => child.once("exit", r));
      return { child, lines, isReady, isDone, exit };
    });
    await Promise.all(children.map((c) => c.isReady));
    const t0 = performance.now();
    for (const c of children) c.child.stdin!.end("go\n");
    // Timed to the last "done" line: process shutdown is no more part of the rate than start-up.
    await Promise.race([Promise.all(children.map((c) => c.isDone)), Promise.all(children.map((c) => c.exit))]);
    const seconds = (performance.now() - t0) / 1000;
    const codes = await Promise.all(children.map((c) => c.exit));
    if (codes.some((c) => c !== 0)) throw new Error(`dispatcher exit codes ${codes}`);
    const processed = children.reduce((n, c) => n + Number(c.lines.at(-1)?.processed ?? 0), 0);
    const left = Number((await db.client.execute("SELECT count(*) FROM commands WHERE state <> 'succeeded'")).rows[0]![0]);
    if (processed !== MULTI_COMMANDS || left !== 0) throw new Error(`processed ${processed} of ${MULTI_COMMANDS}, ${left} not succeeded`);
    return processed / seconds;
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Rows (amortized ms per operation) and the throughput ratios against raw UPDATEs. */
export async function dispatchBench(): Promise<{ rows: DispatchBenchRow[]; ratios: Record<string, number>; per_second: Record<string, number> }> {
  const raw = await rawUpdateRate();
  const one = await singleDispatcherRate();
  const four = await multiDispatcherRate();
  const sorted = [...raw.samples].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  const amortized = (id: string, label: string, n: number, perSecond: number): DispatchBenchRow => ({
    id,
    label,
    n,
    p50_ms: round(1000 / perSecond),
    p99_ms: round(1000 / perSecond),
  });
  return {
    rows: [
      { id: "raw_update", label: "raw libSQL single-row UPDATE (autocommit)", n: RAW_UPDATES, p50_ms: round(at(50)), p99_ms: round(at(99)) },
      amortized("dispatch_1", "dispatch: claim+execute+complete, 1 dispatcher (amortized per command)", SINGLE_COMMANDS, one),
      amortized("dispatch_4", `dispatch: claim+execute+complete, ${PROCESSES} dispatcher processes (amortized per command)`, MULTI_COMMANDS, four),
    ],
    ratios: { dispatch_1_over_raw_update_rate: round(one / raw.perSecond), dispatch_4_over_raw_update_rate: round(four / raw.perSecond) },
    per_second: { raw_update: Math.round(raw.perSecond), dispatch_1: Math.round(one), dispatch_4: Math.round(four) },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await dispatchBench();
  process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
}
