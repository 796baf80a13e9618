// Patrol benchmark: one full patrol run (all ten steps) over 10,000 sessions, 1,000 tasks (500
// of them bound to a worker whose pid is probed), 500 gates and 100 convoys, with the real host
// (pids, files, tmux). The target is a run under 1 s. Part of `npm run bench`; alone with
// `npx tsx bench/patrol.ts` (writes bench/results/patrol.json), or call patrolBench().
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeCtx } from "../functions/lib/ctx.ts";
import { makeId } from "../functions/lib/ids.ts";
import { runPatrol } from "../functions/patrol/run.ts";
import { resolveHome } from "../local-runner/home.ts";
import { openLocalServices } from "../local-runner/services.ts";
import { bindings } from "../schema/bindings.ts";
import { convoys, convoyTasks } from "../schema/convoys.ts";
import { gates, gateWaiters } from "../schema/gates.ts";
import { sessions } from "../schema/sessions.ts";
import { tasks } from "../schema/tasks.ts";
import { latencyRow, writeResult, type BenchRow } from "./lib.ts";

export const PATROL_SCALE = { sessions: 10_000, tasks: 1_000, bound: 500, gates: 500, convoys: 100 };

/** Inserts rows in chunks of 500 (SQLite's variable limit stays far away). */
async function chunked<T>(rows: T[], insert: (chunk: T[]) => Promise<unknown>) {
  for (let i = 0; i < rows.length; i += 500) await insert(rows.slice(i, i + 500));
}

/** Seeds the database directly: the bench measures the patrol, not registration. */
export async function seed(db: Awaited<ReturnType<typeof openLocalServices>>["database"]["db"], nowMs: number) {
  const S = PATROL_SCALE;
  const sessionRows = Array.from({ length: S.sessions }, (_, i) => ({
    id: makeId("ses", nowMs - S.sessions + i),
    name: `s-${i}`,
    role: i % 2 ? ("manager" as const) : ("worker" as const),
    state: "active" as const,
    host: "bench",
    cwd: `/work/repo-${i % 50}`,
    // Every session has a live pid (this process), so orphan-check and session-gc really probe.
    pid: process.pid,
    tmuxSession: `agent-${i}`,
    lastHeartbeatAt: nowMs,
    createdAt: nowMs - S.sessions + i,
    updatedAt: nowMs,
  }));
  await chunked(sessionRows, (c) => db.insert(sessions).values(c));
  const taskRows = Array.from({ length: S.tasks }, (_, i) => ({
    id: makeId("tsk", nowMs - S.tasks + i),
    name: `t-${i}`,
    goal: "bench",
    state: i % 10 === 0 ? ("finished" as const) : ("active" as const),
    createdAt: nowMs - S.tasks + i,
    updatedAt: nowMs,
    finishedAt: i % 10 === 0 ? nowMs : null,
  }));
  await chunked(taskRows, (c) => db.insert(tasks).values(c));
  const bindingRows = Array.from({ length: S.bound }, (_, i) => ({
    id: makeId("bnd", nowMs + i),
    taskId: taskRows[i * 2 + 1]!.id,
    workerSessionId: sessionRows[i * 2]!.id,
    managerSessionId: sessionRows[i * 2 + 1]!.id,
    state: "active" as const,
    createdAt: nowMs,
  }));
  await chunked(bindingRows, (c) => db.insert(bindings).values(c));
  const gateRows = Array.from({ length: S.gates }, (_, i) => ({
    id: makeId("gat", nowMs + i),
    type: i % 5 === 0 ? ("human" as const) : ("timer" as const),
    state: "open" as const,
    timeoutMs: i % 5 === 0 ? null : 3_600_000,
    dueAt: i % 5 === 0 ? null : nowMs + 3_600_000 + i,
    createdBy: "owner:bench",
    createdAt: nowMs + i,
  }));
  await chunked(gateRows, (c) => db.insert(gates).values(c));
  await chunked(
    gateRows.map((g, i) => ({ gateId: g.id, sessionId: sessionRows[i]!.id })),
    (c) => db.insert(gateWaiters).values(c),
  );
  const convoyRows = Array.from({ length: S.convoys }, (_, i) => ({
    id: makeId("cvy", nowMs + i),
    title: `convoy ${i}`,
    state: "open" as const,
    createdBy: "owner:bench",
    createdAt: nowMs + i,
  }));
  await chunked(convoyRows, (c) => db.insert(convoys).values(c));
  await chunked(
    convoyRows.flatMap((c, i) => Array.from({ length: 10 }, (_, k) => ({ convoyId: c.id, taskId: taskRows[i * 10 + k]!.id }))),
    (c) => db.insert(convoyTasks).values(c),
  );
}

/** Full patrol runs over the seeded database; the first (unrecorded) run warms caches and cursors. */
export async function patrolBench(opts: { n?: number } = {}): Promise<BenchRow[]> {
  const n = opts.n ?? 20;
  const dir = mkdtempSync(join(tmpdir(), "switchyard-bench-patrol-"));
  const services = await openLocalServices({ home: { ...resolveHome({}, { home: dir }), hostName: "bench" } });
  try {
    await seed(services.database.db, Date.now());
    const ctx = makeCtx(services, { kind: "daemon", tokenId: "tok_bench" });
    const samples: number[] = [];
    for (let i = -2; i < n; i++) {
      const t0 = performance.now();
      const r = await runPatrol(ctx, { trigger: "cli" });
      const dt = performance.now() - t0;
      if (r.run.state !== "succeeded") throw new Error(`patrol run failed: ${JSON.stringify(r.steps.filter((s) => s.state !== "succeeded"))}`);
      if (i >= 0) samples.push(dt);
    }
    const S = PATROL_SCALE;
    return [
      latencyRow(
        "patrol_run_10k",
        `patrol run, all steps (${S.sessions / 1000}k sessions, ${S.tasks} tasks, ${S.bound} bound, ${S.gates} gates, ${S.convoys} convoys)`,
        samples,
        { p50_ms: 1000, strict: true },
      ),
    ];
  } finally {
    services.database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await patrolBench();
  for (const r of rows) console.log(JSON.stringify(r));
  writeResult("patrol", { scale: PATROL_SCALE, rows });
}
