// Observability benchmark: replay of one task with 100,000 recorded rows (target: the whole
// replay under 1 s), telemetry full-text search over 1,000,000 events (target p50 under 50 ms),
// and the dashboard's first paint with 1,000 tasks in real Chromium (skipped without Chromium).
// Part of `npm run bench`; alone with `npx tsx bench/observability.ts` (writes
// bench/results/observability.json), or call observabilityBench(). While working on one part,
// `OBSERVABILITY_ONLY=replay` (or telemetry, dashboard; comma-separated) runs just that part and
// `OBSERVABILITY_N=3` fewer samples; a partial run prints its rows and records nothing.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { replayPage, taskSessions } from "../functions/audit/history.ts";
import { makeCtx } from "../functions/lib/ctx.ts";
import { makeId } from "../functions/lib/ids.ts";
import { listTelemetry } from "../functions/telemetry/search.ts";
import { resolveHome } from "../local-runner/home.ts";
import { openLocalServices, type LocalServices } from "../local-runner/services.ts";
import { startUp } from "../local-runner/up.ts";
import { bindings } from "../schema/bindings.ts";
import { tasks, type TaskRow } from "../schema/tasks.ts";
import { sessions } from "../schema/sessions.ts";
import { latencyRow, round, writeResult, type BenchRow } from "./lib.ts";

const CHROMIUM = process.env.SWITCHYARD_CHROMIUM ?? "/usr/bin/chromium";

export const OBSERVABILITY_SCALE = { replay_rows: 100_000, telemetry_events: 1_000_000, dashboard_tasks: 1_000 };

async function freshServices(prefix: string): Promise<{ dir: string; services: LocalServices }> {
  const dir = mkdtempSync(join(tmpdir(), `switchyard-bench-${prefix}-`));
  const services = await openLocalServices({ home: { ...resolveHome({}, { home: dir }), hostName: "bench" } });
  return { dir, services };
}

/**
 * One bound task whose history holds 100,000 rows across the replayed tables (audit events,
 * cycles, commands, routed notifications, decisions, criteria), written with recursive-CTE
 * inserts so the telemetry triggers fire as they do in use.
 */
export async function seedReplay(services: LocalServices, nowMs: number): Promise<TaskRow> {
  const db = services.database.db;
  const c = services.database.client;
  const task: TaskRow = {
    id: makeId("tsk", nowMs),
    name: "replayed",
    goal: "bench",
    summary: null,
    state: "active",
    createdAt: nowMs,
    updatedAt: nowMs,
    finishedAt: null,
  };
  await db.insert(tasks).values(task);
  const w = { id: makeId("ses", nowMs), name: "bench-worker", role: "worker" as const, state: "active" as const, createdAt: nowMs, updatedAt: nowMs };
  const m = { id: makeId("ses", nowMs + 1), name: "bench-manager", role: "manager" as const, state: "active" as const, createdAt: nowMs, updatedAt: nowMs };
  await db.insert(sessions).values([w, m]);
  await db.insert(bindings).values({ id: makeId("bnd", nowMs), taskId: task.id, workerSessionId: w.id, managerSessionId: m.id, createdAt: nowMs });
  const n = OBSERVABILITY_SCALE.replay_rows;
  const series = (count: number) => `WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s LIMIT ${count})`;
  const t = `'${task.id}'`;
  const at = (mul: number) => `${nowMs} + x * ${mul}`;
  await c.execute(
    `${series(n * 0.4)} INSERT INTO events (id, kind, task_id, session_id, actor, payload_json, created_at) SELECT 'evt_b' || x, CASE x % 4 WHEN 0 THEN 'session_nudged' WHEN 1 THEN 'dispatch_inbox_consumed' WHEN 2 THEN 'criterion_added' ELSE 'message_sent' END, ${t}, '${w.id}', 'owner:bench', json_object('n', x, 'text', 'body ' || x), ${at(10)} FROM s`,
  );
  await c.execute(
    `${series(n * 0.2)} INSERT INTO manager_cycles (task_id, worker_session_id, manager_session_id, state, worker_state, notable_pattern, status_json, created_at) SELECT ${t}, '${w.id}', '${m.id}', 'ok', CASE x % 2 WHEN 0 THEN 'busy' ELSE 'idle' END, CASE WHEN x % 50 = 0 THEN 'trust_prompt' END, json_object('ingest', json_object('new_events', 1, 'skipped_lines', 0)), ${at(20)} FROM s`,
  );
  await c.execute(
    `${series(n * 0.2)} INSERT INTO commands (id, type, state, task_id, session_id, payload_json, created_by, created_at, updated_at) SELECT 'cmd_b' || x, 'nudge_worker', 'succeeded', ${t}, '${w.id}', json_object('message', 'go ' || x), 'owner:bench', ${at(20)}, ${at(20)} FROM s`,
  );
  await c.execute(
    `${series(n * 0.1)} INSERT INTO inbox_items (id, target_session_id, source_session_id, task_id, signal_type, payload_json, delivery_mode, created_at) SELECT 'inb_b' || x, '${m.id}', '${w.id}', ${t}, 'worker_task_complete', json_object('n', x), 'pull_required', ${at(40)} FROM s`,
  );
  await c.execute(
    `${series(n * 0.05)} INSERT INTO manager_decisions (task_id, decision, reason, created_by, created_at) SELECT ${t}, 'wait', 'still busy', 'session:${m.id}', ${at(80)} FROM s`,
  );
  await c.execute(
    `${series(n * 0.05)} INSERT INTO acceptance_criteria (task_id, criterion, source, status, created_by, created_at, updated_at) SELECT ${t}, 'criterion ' || x, 'manager_inferred', 'proposed', 'session:${m.id}', ${at(80)}, ${at(80)} FROM s`,
  );
  return task;
}

/** The whole replay, page after page of 5,000 entries; the number of entries is checked. */
async function replayAll(services: LocalServices, task: TaskRow) {
  const ctx = makeCtx(services, { kind: "owner", tokenId: "tok_bench" });
  const ts = await taskSessions(ctx, task.id);
  let cursor: string | undefined;
  let total = 0;
  for (;;) {
    const page = await replayPage(ctx, task, ts, { limit: 5000, cursor, role: "all", includeContent: false, transcript: false });
    total += page.entries.length;
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  if (total !== OBSERVABILITY_SCALE.replay_rows) throw new Error(`replayed ${total} entries, expected ${OBSERVABILITY_SCALE.replay_rows}`);
}

const KINDS = [
  "session_nudged",
  "dispatch_inbox_consumed",
  "task_bound",
  "criterion_added",
  "command_failed",
  "cycle_ok",
  "attempt_finished",
  "advice_sent",
  "message_sent",
  "session_registered",
];

/** 1,000,000 telemetry rows in one statement each 100,000 (the FTS trigger indexes every one). */
async function seedTelemetry(services: LocalServices, nowMs: number) {
  const c = services.database.client;
  const chunk = 100_000;
  const kinds = `json_array(${KINDS.map((k) => `'${k}'`).join(", ")})`;
  for (let base = 0; base < OBSERVABILITY_SCALE.telemetry_events; base += chunk) {
    await c.execute(
      `WITH RECURSIVE s(x) AS (SELECT ${base + 1} UNION ALL SELECT x + 1 FROM s LIMIT ${chunk})
       INSERT INTO telemetry_events (source, kind, task_id, session_id, run_id, actor, ref_id, outcome, summary, created_at)
       SELECT 'audit', json_extract(${kinds}, '$[' || (x % 10) || ']'), 'tsk_' || (x % 1000), 'ses_' || (x % 5000), 'run_' || (x % 97), 'owner:bench', 'evt_' || x,
         CASE WHEN x % 10 = 4 THEN 'failed' ELSE 'info' END,
         'audit ' || json_extract(${kinds}, '$[' || (x % 10) || ']') || ' owner:bench task t-' || (x % 1000) || ' session s-' || (x % 5000) || ' command_id=cmd_' || x || ' attempts=' || (x % 3),
         ${nowMs} + x
       FROM s`,
    );
  }
}

/** Search queries of every selectivity: one row, a thousand rows, a tenth of the table, two words (s-10 rows are the ones whose kind is session_nudged). */
const SEARCHES = ["cmd_424242", "t-42", "command_failed", "session_nudged s-10", "dispatch_inbox*", "owner:bench attempts=2"];

/** Dashboard first paint: from navigation to the first task row, signed in, with 1,000 tasks. */
async function dashboardPaint(n: number): Promise<number[] | null> {
  if (!existsSync(CHROMIUM)) return null;
  const { chromium } = await import("playwright-core");
  const { dir, services } = await freshServices("dash");
  const nowMs = Date.now();
  const N = OBSERVABILITY_SCALE.dashboard_tasks;
  const c = services.database.client;
  await c.execute(
    `WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s LIMIT ${N}) INSERT INTO tasks (id, name, goal, state, created_at, updated_at) SELECT 'tsk_d' || x, 't-' || x, 'bench', 'active', ${nowMs} + x, ${nowMs} FROM s`,
  );
  await c.execute(
    `WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s LIMIT ${N * 2}) INSERT INTO sessions (id, name, role, state, created_at, updated_at) SELECT 'ses_d' || x, 's-' || x, CASE x % 2 WHEN 0 THEN 'manager' ELSE 'worker' END, 'active', ${nowMs}, ${nowMs} FROM s`,
  );
  await c.execute(
    `WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s LIMIT ${N}) INSERT INTO bindings (id, task_id, worker_session_id, manager_session_id, state, created_at) SELECT 'bnd_d' || x, 'tsk_d' || x, 'ses_d' || (2 * x - 1), 'ses_d' || (2 * x), 'active', ${nowMs} FROM s`,
  );
  await c.execute(
    `WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s LIMIT ${N * 5}) INSERT INTO manager_cycles (task_id, state, worker_state, created_at) SELECT 'tsk_d' || (1 + x % ${N}), 'ok', 'busy', ${nowMs} + x FROM s`,
  );
  const up = await startUp(services, { port: 0, hostname: "127.0.0.1", schedules: [] });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
    headless: true,
  });
  try {
    const samples: number[] = [];
    for (let i = -2; i < n; i++) {
      const context = await browser.newContext({ viewport: { width: 1366, height: 850 } });
      await context.addInitScript((token) => sessionStorage.setItem("switchyard.owner", token), services.ownerToken);
      const page = await context.newPage();
      const t0 = performance.now();
      await page.goto(`${up.url}/dashboard`);
      await page.locator("#tasks tbody tr[data-task]").first().waitFor({ timeout: 30_000 });
      const dt = performance.now() - t0;
      if (i >= 0) samples.push(dt);
      await context.close();
    }
    return samples;
  } finally {
    await browser.close();
    await up.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The parts of this benchmark, each with its own fresh database. */
export const OBSERVABILITY_PARTS = ["replay", "telemetry", "dashboard"] as const;
export type ObservabilityPart = (typeof OBSERVABILITY_PARTS)[number];

/** All observability rows (or those of `only`). */
export async function observabilityBench(opts: { n?: number; only?: Set<ObservabilityPart> } = {}): Promise<BenchRow[]> {
  const n = opts.n ?? 10;
  const run = (part: ObservabilityPart) => !opts.only || opts.only.has(part);
  const rows: BenchRow[] = [];
  if (run("replay")) {
    const { dir, services } = await freshServices("replay");
    try {
      const task = await seedReplay(services, Date.now());
      const samples: number[] = [];
      for (let i = -1; i < n; i++) {
        const t0 = performance.now();
        await replayAll(services, task);
        if (i >= 0) samples.push(performance.now() - t0);
      }
      rows.push(latencyRow("replay_100k", "replay of one task, all 100k entries (pages of 5,000)", samples, { p50_ms: 1000, strict: true }));
      const ctx = makeCtx(services, { kind: "owner", tokenId: "tok_bench" });
      const ts = await taskSessions(ctx, task.id);
      const first: number[] = [];
      for (let i = -5; i < n * 5; i++) {
        const t0 = performance.now();
        await replayPage(ctx, task, ts, { limit: 500, role: "all", includeContent: false, transcript: false });
        if (i >= 0) first.push(performance.now() - t0);
      }
      rows.push(latencyRow("replay_first_page_100k", "replay first page (500 entries) of a 100k-entry task", first));
    } finally {
      services.database.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  if (run("telemetry")) {
    const { dir, services } = await freshServices("telemetry");
    try {
      await seedTelemetry(services, Date.now());
      const ctx = makeCtx(services, { kind: "owner", tokenId: "tok_bench" });
      const samples: number[] = [];
      for (let i = -SEARCHES.length; i < n * 10; i++) {
        const search = SEARCHES[(i + SEARCHES.length) % SEARCHES.length]!;
        const t0 = performance.now();
        const page = await listTelemetry(ctx, { search, limit: 50 });
        if (i >= 0) samples.push(performance.now() - t0);
        if (!page.count) throw new Error(`search '${search}' found nothing`);
      }
      rows.push(
        latencyRow("telemetry_search_1m", "telemetry full-text search, newest 50 matches, 1M events (6 queries of every selectivity)", samples, {
          p50_ms: 50,
          strict: true,
        }),
      );
    } finally {
      services.database.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  if (run("dashboard")) {
    const paint = await dashboardPaint(n);
    if (paint)
      rows.push(latencyRow("dashboard_first_paint_1k", "dashboard first paint, signed in, 1,000 tasks (navigation to first task row, Chromium)", paint));
    else console.warn(`dashboard_first_paint_1k skipped: no Chromium at ${CHROMIUM}`);
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const t0 = performance.now();
  const only = process.env.OBSERVABILITY_ONLY ? new Set(process.env.OBSERVABILITY_ONLY.split(",").map((p) => p.trim()) as ObservabilityPart[]) : undefined;
  for (const p of only ?? [])
    if (!OBSERVABILITY_PARTS.includes(p)) throw new Error(`OBSERVABILITY_ONLY: unknown part '${p}' (parts: ${OBSERVABILITY_PARTS.join(", ")})`);
  const n = process.env.OBSERVABILITY_N ? Number(process.env.OBSERVABILITY_N) : undefined;
  const rows = await observabilityBench({ n, only });
  for (const r of rows) console.log(JSON.stringify(r));
  // A partial run is for working on one part; only a full run is recorded.
  if (only || n !== undefined) process.exit(0);
  writeResult("observability", { scale: OBSERVABILITY_SCALE, total_seconds: round((performance.now() - t0) / 1000), rows });
}
