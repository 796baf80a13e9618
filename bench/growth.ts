// Growth benchmark: the hot reads at 1k, 100k and 1M rows in each growing table (sessions,
// transcript events, audit events, inbox items), each against its own 1k figure (target: within
// 2x). One database is topped up from one scale to the next with recursive-CTE INSERT ... SELECT,
// so the triggers (telemetry, full-text indexes) fire as they do in use. Each operation is the
// domain function its route calls, in-process, so the number is the query cost and not HTTP.
// Part of `npm run bench`; alone with `npx tsx bench/growth.ts` (writes bench/results/growth.json),
// or call growthBench(). GROWTH_SCALES=1000,100000 runs fewer scales; GROWTH_OPS=discover,show
// measures only those operations (the seeding is the same, so their numbers are comparable), and
// alone it then updates just their rows in growth.json, noting the re-run under `reruns`.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { auditTask } from "../functions/audit/audit.ts";
import { replayTask } from "../functions/audit/replay.ts";
import { discover } from "../functions/discover/discover.ts";
import { makeCtx } from "../functions/lib/ctx.ts";
import { encodeCursor } from "../functions/lib/paging.ts";
import { feedTelemetry } from "../functions/telemetry/feed.ts";
import { consumeNext } from "../functions/messages/inbox-consume.ts";
import { eventState } from "../functions/observe/status.ts";
import { tailSession } from "../functions/observe/tail.ts";
import { listSessions } from "../functions/sessions/list.ts";
import { showSession } from "../functions/sessions/show.ts";
import { workerReceipt } from "../functions/supervision/context.ts";
import { resolveHome } from "../local-runner/home.ts";
import { openLocalServices, type LocalServices } from "../local-runner/services.ts";
import { latencyRow, percentile, round, type BenchRow } from "./lib.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Rows in each growing table at each step. */
export const GROWTH_SCALES = (process.env.GROWTH_SCALES ?? "1000,100000,1000000").split(",").map(Number);
/** The operations measured, in table order. */
export const GROWTH_OPERATIONS = ["show", "list_page", "cycle", "tail", "discover", "audit", "inbox_consume", "replay"] as const;
/** The operations GROWTH_OPS selects (all when unset). */
export const GROWTH_OPS = selectedOps(process.env.GROWTH_OPS);

function selectedOps(env: string | undefined): Set<string> {
  const picked = (env ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = picked.filter((op) => !(GROWTH_OPERATIONS as readonly string[]).includes(op));
  if (unknown.length) throw new Error(`GROWTH_OPS: unknown operation ${unknown.join(", ")}; choose from ${GROWTH_OPERATIONS.join(", ")}`);
  return new Set(picked.length ? picked : GROWTH_OPERATIONS);
}

/** Samples per operation and scale, after WARMUP unrecorded rounds. */
const SAMPLES = 40;
const WARMUP = 5;
/** Audit rows and pending inbox items of the measured task and manager: fixed, so growth is elsewhere. */
const TASK_EVENTS = 300;
const PENDING = (SAMPLES + WARMUP) * GROWTH_SCALES.length + 10;

const series = (from: number, to: number) => `WITH RECURSIVE s(x) AS (SELECT ${from} UNION ALL SELECT x + 1 FROM s WHERE x < ${to})`;

/** The measured task, its bound worker and manager, and the rows that stay the same size. */
export async function seedFixed(services: LocalServices, nowMs: number) {
  const c = services.database.client;
  await c.batch(
    [
      `INSERT INTO tasks (id, name, goal, state, created_at, updated_at) VALUES ('tsk_growth', 'growth-task', 'the measured task', 'active', ${nowMs}, ${nowMs})`,
      `INSERT INTO sessions (id, name, role, state, created_at, updated_at) VALUES ('ses_gw', 'growth-worker', 'worker', 'active', ${nowMs}, ${nowMs})`,
      `INSERT INTO sessions (id, name, role, state, created_at, updated_at) VALUES ('ses_gm', 'growth-manager', 'manager', 'active', ${nowMs}, ${nowMs})`,
      `INSERT INTO bindings (id, task_id, worker_session_id, manager_session_id, state, created_at) VALUES ('bnd_growth', 'tsk_growth', 'ses_gw', 'ses_gm', 'active', ${nowMs})`,
      `${series(1, TASK_EVENTS)} INSERT INTO events (id, kind, task_id, session_id, actor, payload_json, created_at)
         SELECT printf('evt_task_%07d', x), 'cycle_recorded', 'tsk_growth', 'ses_gw', 'owner:bench', json_object('n', x), ${nowMs} + x FROM s`,
      `${series(1, PENDING)} INSERT INTO inbox_items (id, target_session_id, task_id, signal_type, payload_json, delivery_mode, created_at)
         SELECT printf('inb_pending_%07d', x), 'ses_gm', 'tsk_growth', 'message', json_object('n', x), 'pull_required', ${nowMs} + x FROM s`,
    ],
    "write",
  );
}

/**
 * Tops every growing table up from `from` to `to` rows: sessions (nine gone for every active
 * one), the measured worker's transcript (mostly tool activity, a turn every 50 lines), audit
 * events of other tasks and sessions, and consumed inbox items of the measured manager.
 */
export async function grow(services: LocalServices, from: number, to: number, nowMs: number) {
  const c = services.database.client;
  const chunk = 100_000;
  for (let lo = from + 1; lo <= to; lo += chunk) {
    const hi = Math.min(to, lo + chunk - 1);
    await c.batch(
      [
        `${series(lo, hi)} INSERT INTO sessions (id, name, role, state, cwd, created_at, updated_at, gone_at)
           SELECT printf('ses_g%08d', x), printf('gs-%08d', x), CASE x % 2 WHEN 0 THEN 'worker' ELSE 'manager' END,
             CASE WHEN x % 10 = 0 THEN 'active' ELSE 'gone' END, printf('/work/repo-%d', x % 997), ${nowMs} + x, ${nowMs} + x,
             CASE WHEN x % 10 = 0 THEN NULL ELSE ${nowMs} + x END FROM s`,
        `${series(lo, hi)} INSERT INTO transcript_events (session_id, generation, offset, seq, kind, subtype, event_at, text, tool, ingested_at, observed_at, turn_id)
           SELECT 'ses_gw', 0, x * 100, 0,
             CASE x % 50 WHEN 0 THEN 'user_message' WHEN 1 THEN 'task_started' WHEN 48 THEN 'agent_message' WHEN 49 THEN 'task_complete' ELSE CASE x % 3 WHEN 0 THEN 'other' ELSE 'tool_activity' END END,
             CASE x % 50 WHEN 0 THEN 'user_message' WHEN 1 THEN 'task_started' WHEN 48 THEN 'agent_message' WHEN 49 THEN 'task_complete' ELSE CASE x % 3 WHEN 0 THEN 'token_count' ELSE 'function_call' END END,
             ${nowMs} + x, CASE WHEN x % 50 IN (0, 48) THEN 'a line of text' ELSE NULL END, NULL, ${nowMs} + x, ${nowMs} + x, printf('turn-%d', x / 50) FROM s`,
        `${series(lo, hi)} INSERT INTO events (id, kind, task_id, session_id, actor, payload_json, created_at)
           SELECT printf('evt_g%08d', x), CASE x % 4 WHEN 0 THEN 'session_registered' WHEN 1 THEN 'message_sent' WHEN 2 THEN 'cycle_recorded' ELSE 'command_enqueued' END,
             printf('tsk_other_%d', x % 1000), printf('ses_g%08d', x), 'owner:bench', json_object('n', x), ${nowMs} + x FROM s`,
        `${series(lo, hi)} INSERT INTO inbox_items (id, target_session_id, task_id, signal_type, payload_json, delivery_mode, created_at, consumed_at, consumed_by)
           SELECT printf('inb_g%08d', x), CASE WHEN x % 2 = 0 THEN 'ses_gm' ELSE printf('ses_g%08d', x) END, 'tsk_growth', 'message', json_object('n', x), 'pull_required',
             ${nowMs} - 1000000 + x, ${nowMs} + x, 'bench' FROM s`,
      ],
      "write",
    );
  }
  // The seeded audit events were queued for telemetry: feed them as the telemetry-feed cron
  // would, so the measured reads find telemetry current, as they do under a running `up`.
  await feedTelemetry(makeCtx(services, { kind: "owner", tokenId: "tok_bench" }), { maxBatches: Number.POSITIVE_INFINITY });
  await c.execute("ANALYZE");
}

/** Times each operation SAMPLES times, taking turns so a burst of load hits all of them alike. */
async function measure(ops: Array<[string, (i: number) => Promise<unknown>]>): Promise<Map<string, number[]>> {
  const out = new Map(ops.map(([id]) => [id, [] as number[]]));
  for (let i = -WARMUP; i < SAMPLES; i++) {
    for (const [id, fn] of ops) {
      const t0 = performance.now();
      await fn(i);
      if (i >= 0) out.get(id)!.push(performance.now() - t0);
    }
  }
  return out;
}

const LABELS: Record<string, string> = {
  show: "GET /v1/sessions/{name}: show one session by name",
  list_page: "GET /v1/sessions?state=all: a page of 50 from the middle (cursor)",
  cycle: "cycle's history reads: event state and the last turn receipt",
  tail: "GET /v1/sessions/{name}/events: newest 20 of the worker",
  discover: "GET /v1/discover?q=<a session name>&all=true: tasks, sessions, bindings, events",
  audit: "GET /v1/tasks/{name}/audit of a task with 300 events",
  inbox_consume: "POST /v1/sessions/{name}/inbox/consume: oldest pending item",
  replay: "GET /v1/tasks/{name}/replay: first page of 50",
};

/** Runs the growth table; rows are `growth_<op>_<scale>`, with a 2x-of-1k target above the first scale. */
export async function growthBench(): Promise<{ rows: BenchRow[]; ratios: Record<string, number>; seed_seconds: Record<string, number> }> {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-bench-growth-"));
  const services = await openLocalServices({ home: { ...resolveHome({}, { home: dir }), hostName: "bench" } });
  const rows: BenchRow[] = [];
  const ratios: Record<string, number> = {};
  const seedSeconds: Record<string, number> = {};
  const base = new Map<string, number>();
  try {
    const ctx = makeCtx(services, { kind: "owner", tokenId: "tok_bench" });
    const nowMs = Date.now();
    await seedFixed(services, nowMs);
    let have = 0;
    for (const scale of GROWTH_SCALES) {
      const t0 = performance.now();
      await grow(services, have, scale, nowMs);
      seedSeconds[String(scale)] = round((performance.now() - t0) / 1000);
      have = scale;
      const mid = Math.ceil(scale / 2);
      const midCursor = encodeCursor([nowMs + mid, `ses_g${String(mid).padStart(8, "0")}`], "sessions/list");
      const pick = (i: number) => String(1 + ((Math.abs(i) * 7919) % scale)).padStart(8, "0");
      const ops: Array<[(typeof GROWTH_OPERATIONS)[number], (i: number) => Promise<unknown>]> = [
        ["show", (i) => showSession(ctx, `gs-${pick(i)}`)],
        ["list_page", () => listSessions(ctx, { state: "all", name: [], redact_identity_token: false, limit: 50, cursor: midCursor })],
        [
          "cycle",
          async () => {
            await eventState(ctx, "ses_gw");
            await workerReceipt(ctx, "ses_gw");
          },
        ],
        ["tail", () => tailSession(ctx, "growth-worker", { limit: 20, include_content: false })],
        // A whole session name, so the answer (one session, its audit rows) is the same size at every scale.
        ["discover", (i) => discover(ctx, { q: `gs-${pick(i)}`, limit: 20, all: true })],
        ["audit", () => auditTask(ctx, "growth-task", { include_content: false, limit: 1000 })],
        [
          "inbox_consume",
          async () => {
            const r = await consumeNext(ctx, { session: "growth-manager" }, { wait: false, timeout: 0, interval: 1 });
            if (!r.item) throw new Error("growth: the measured inbox ran dry");
          },
        ],
        ["replay", () => replayTask(ctx, "growth-task", { format: "compact", role: "all", include_content: false, limit: 50 })],
      ];
      const samples = await measure(ops.filter(([op]) => GROWTH_OPS.has(op)));
      for (const [op, s] of samples) {
        const p50 = percentile(s, 50);
        if (!base.has(op)) base.set(op, p50);
        const first = base.get(op)!;
        const row = latencyRow(`growth_${op}_${scale}`, `${LABELS[op]} (${scale.toLocaleString("en-US")} rows)`, s);
        if (scale !== GROWTH_SCALES[0]) {
          // Within 2x of the first scale's p50; a floor of 0.5 ms keeps sub-millisecond noise honest.
          const target = round(Math.max(2 * first, first + 0.5));
          row.target = { p50_ms: target };
          row.pass = p50 <= target;
          ratios[`growth_${op}_${scale}_over_${GROWTH_SCALES[0]}`] = round(p50 / first);
        }
        rows.push(row);
      }
    }
  } finally {
    services.database.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return { rows, ratios, seed_seconds: seedSeconds };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const t0 = performance.now();
  const loadBefore = round(loadavg()[0]!);
  const result = await growthBench();
  for (const r of result.rows) console.log(JSON.stringify(r));
  console.log(JSON.stringify(result.ratios));
  const machine = {
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    platform: `${process.platform} ${process.arch}`,
    node: process.version,
    loadavg_1m_before: loadBefore,
    loadavg_1m_after: round(loadavg()[0]!),
  };
  mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
  const file = join(ROOT, "bench", "results", "growth.json");
  const run = {
    recorded_at: new Date().toISOString(),
    machine,
    scales: GROWTH_SCALES,
    samples: SAMPLES,
    seed_seconds: result.seed_seconds,
    total_seconds: round((performance.now() - t0) / 1000),
  };
  let record: Record<string, unknown> = { ...run, rows: result.rows, ratios: result.ratios };
  if (GROWTH_OPS.size < GROWTH_OPERATIONS.length && existsSync(file)) {
    // A partial run replaces only its own rows and ratios; the rest keep their full run's numbers.
    const prev = JSON.parse(readFileSync(file, "utf8")) as { rows: BenchRow[]; ratios: Record<string, number>; reruns?: unknown[] };
    const fresh = new Map(result.rows.map((r) => [r.id, { ...r, rerun_at: run.recorded_at }]));
    record = {
      ...prev,
      rows: prev.rows.map((r) => fresh.get(r.id) ?? r),
      ratios: { ...prev.ratios, ...result.ratios },
      reruns: [...(prev.reruns ?? []), { ...run, operations: [...GROWTH_OPS] }],
    };
  }
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
}
