// Several stateless servers on one database: three `switchyard up` processes (one with the
// crons, two with --no-cron) on one file database, loaded for 60 s by a second process
// (bench/multiserver-load.ts, autocannon) with 50 concurrent clients mixing task cycles, inbox
// long polls, enqueues and consumes; then every enqueued item is checked to have been consumed
// exactly once. Also the long-poll wake across servers (change watcher) beside the same-server
// wake (notifier). Part of `npm run bench`; alone with `npx tsx bench/multiserver.ts`.
// tests/multiprocess/multiserver-load.test.ts runs the same load for 5 s with the same checks.
import { spawn } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openDatabase } from "../functions/lib/db.ts";
import { readOwnerTokenFile, resolveHome } from "../local-runner/home.ts";
import { killUpProcess, startUpProcess, type UpProcess } from "../tests/helpers/up-process.ts";
import { latencyRow, percentile, round, type BenchRow } from "./lib.ts";
import type { LoadConfig, LoadReport } from "./multiserver-load.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const LOAD = join(ROOT, "bench", "multiserver-load.ts");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Three (or `servers`) `up` processes on one home and database file. */
export interface Cluster {
  dir: string;
  ups: UpProcess[];
  urls: string[];
  owner: string;
  dbUrl: string;
  codexHome: string;
  call(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/** Starts the servers: the first schedules the crons, the others run with --no-cron. */
export async function startCluster(servers = 3): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-multiserver-"));
  const codexHome = join(dir, "codex");
  mkdirSync(join(codexHome, "sessions"), { recursive: true });
  // Every load client shares the owner token, so the per-token rate limit (a shared-server guard,
  // tested on its own) would answer 429s here; this cluster measures the servers, not the limiter.
  const env = { CODEX_HOME: codexHome, SWITCHYARD_HOST_NAME: "bench-host", SWITCHYARD_RATE_BURST: "0", SWITCHYARD_RATE_PER_MINUTE: "0" };
  const ups: UpProcess[] = [];
  const urls: string[] = [];
  try {
    // One at a time: the first creates the owner token the others adopt.
    for (let i = 0; i < servers; i++) {
      const up = startUpProcess(dir, i === 0 ? [] : ["--no-cron"], env);
      ups.push(up);
      urls.push(await up.url);
    }
  } catch (e) {
    for (const u of ups) killUpProcess(u);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const owner = readOwnerTokenFile(resolveHome({}, { home: dir }))!;
  return {
    dir,
    ups,
    urls,
    owner,
    dbUrl: resolveHome({}, { home: dir }).dbUrl,
    codexHome,
    async call(url, method, path, body) {
      const res = await fetch(`${url}/v1${path}`, {
        method,
        headers: { Authorization: `Bearer ${owner}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    async close() {
      for (const u of ups) u.child.kill("SIGTERM");
      await Promise.all(ups.map((u) => Promise.race([u.exit, sleep(10_000).then(() => killUpProcess(u))])));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The inboxes and the task the load uses; the worker's transcript grows during the run. */
export interface LoadFixture {
  inboxes: string[];
  task: string;
  worker: string;
  rollout: string;
  /** Transcript events before the load. */
  baselineEvents: number;
}

const codexLine = (type: string, payload: Record<string, unknown>) => `${JSON.stringify({ timestamp: new Date().toISOString(), type, payload })}\n`;

async function must(p: Promise<{ status: number; body: any }>, what: string, status = 201) {
  const r = await p;
  if (r.status !== status) throw new Error(`${what}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Registers `inboxCount` inbox sessions and a bound task whose worker has a real transcript. */
export async function seedLoad(c: Cluster, inboxCount = 8): Promise<LoadFixture> {
  const u = c.urls[0]!;
  const inboxes: string[] = [];
  for (let i = 0; i < inboxCount; i++) {
    inboxes.push((await must(c.call(u, "POST", "/sessions", { name: `load-inbox-${i}`, role: "manager" }), "register inbox")).session.name);
  }
  const rollout = join(c.codexHome, "sessions", "2026", "01", "01", "rollout-load-worker.jsonl");
  mkdirSync(join(rollout, ".."), { recursive: true });
  writeFileSync(rollout, codexLine("session_meta", { id: "load-worker", cwd: c.dir }));
  const worker = (await must(c.call(u, "POST", "/sessions", { name: "load-worker", role: "worker", codex_session: rollout }), "register worker")).session.name;
  const manager = (await must(c.call(u, "POST", "/sessions", { name: "load-manager", role: "manager" }), "register manager")).session.name;
  const task = (await must(c.call(u, "POST", "/tasks", { name: "load-task", goal: "carry the load" }), "create task")).task.name;
  await must(c.call(u, "POST", "/bindings", { task, worker, manager }), "bind");
  // One cycle takes in what the transcript holds so far; the load's lines come on top of that.
  await must(c.call(u, "POST", `/tasks/${task}/cycle`, {}), "first cycle", 200);
  return { inboxes, task, worker, rollout, baselineEvents: await transcriptEventCount(c, worker) };
}

async function transcriptEventCount(c: Cluster, worker: string): Promise<number> {
  const database = await openDatabase({ url: c.dbUrl });
  try {
    const rs = await database.client.execute({
      sql: "SELECT count(*) AS n FROM transcript_events WHERE session_id = (SELECT id FROM sessions WHERE name = ?)",
      args: [worker],
    });
    return Number(rs.rows[0]!.n);
  } finally {
    database.close();
  }
}

/** Runs the load generator as its own process and returns its report. */
export async function runLoadProcess(cfg: LoadConfig): Promise<LoadReport> {
  const child = spawn(process.execPath, ["--import", "tsx", LOAD, JSON.stringify(cfg)], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  const code = await new Promise<number | null>((r) => child.once("close", r));
  if (code !== 0) throw new Error(`load process exited ${code}: ${err}`);
  return JSON.parse(out.trim().split("\n").at(-1)!) as LoadReport;
}

/** What the checks found: the counts under "must be zero" are failures. */
export interface LoadVerdict {
  /** Enqueues the clients saw acknowledged. */
  sent: number;
  consumed_during_load: number;
  drained_after: number;
  /** Items written by enqueues still in flight when the load stopped (their answers were cut off). */
  unacknowledged: number;
  items_in_db: number;
  transcript_lines: number;
  transcript_events: number;
  must_be_zero: {
    /** Acknowledged enqueues whose item is not in the database, consumed exactly once. */
    lost: number;
    /** Items handed to two clients, or audited as consumed twice. */
    duplicated: number;
    /** Items a client was handed that no enqueue wrote. */
    phantom: number;
    errors: number;
    non2xx: number;
    timeouts: number;
    pending_in_db: number;
    /** Transcript lines not ingested as exactly one event each. */
    ingest_mismatch: number;
  };
}

/**
 * After the load: takes what is left in each inbox, then checks from both sides that every
 * enqueued item was consumed exactly once. The clients' view: no item handed out twice, none
 * that was never enqueued. The database's: every item consumed, one audit row each, every
 * acknowledged enqueue among them. Answers still in flight when autocannon stopped are cut off,
 * so the database (not the clients) is the judge of the tail. Also that the worker's transcript
 * lines, ingested by cycles racing on three servers, became exactly one event each.
 */
export async function checkLoad(c: Cluster, fx: LoadFixture, report: LoadReport, transcriptLines: number): Promise<LoadVerdict> {
  const drained: string[] = [];
  // Requests autocannon cut off are still being served when it returns (an enqueue among them may
  // commit after a first drain pass): give them a moment, and end a drain only after an empty
  // answer is confirmed a little later.
  await new Promise((r) => setTimeout(r, 1000));
  for (const inbox of fx.inboxes) {
    for (let empties = 0; empties < 2; ) {
      const r = await must(c.call(c.urls[1] ?? c.urls[0]!, "POST", `/sessions/${inbox}/inbox/consume`, {}), "drain", 200);
      if (r.item) {
        drained.push(r.item.id);
        empties = 0;
      } else if (++empties < 2) await new Promise((res) => setTimeout(res, 250));
    }
  }
  await must(c.call(c.urls[0]!, "POST", `/tasks/${fx.task}/cycle`, {}), "final cycle", 200);
  const handed = [...report.consumed, ...drained];
  const database = await openDatabase({ url: c.dbUrl });
  try {
    const rows = async (sql: string, args: string[]) => (await database.client.execute({ sql, args })).rows;
    const ids = fx.inboxes.map(() => "?").join(",");
    const items = await rows(
      `SELECT i.id, i.consumed_at IS NOT NULL AS consumed,
         (SELECT count(*) FROM events e WHERE e.kind = 'dispatch_inbox_consumed' AND e.session_id = i.target_session_id
            AND json_extract(e.payload_json, '$.notification_id') = i.id) AS audits
       FROM inbox_items i WHERE i.target_session_id IN (SELECT id FROM sessions WHERE name IN (${ids}))`,
      fx.inboxes,
    );
    const inDb = new Map(items.map((r) => [String(r.id), { consumed: Number(r.consumed) === 1, audits: Number(r.audits) }]));
    const sent = new Set(report.sent);
    const seen = new Set<string>();
    let handedTwice = 0;
    for (const id of handed) {
      if (seen.has(id)) handedTwice++;
      seen.add(id);
    }
    const transcriptEvents = (await transcriptEventCount(c, fx.worker)) - fx.baselineEvents;
    return {
      sent: sent.size,
      consumed_during_load: report.consumed.length,
      drained_after: drained.length,
      unacknowledged: [...inDb.keys()].filter((id) => !sent.has(id)).length,
      items_in_db: inDb.size,
      transcript_lines: transcriptLines,
      transcript_events: transcriptEvents,
      must_be_zero: {
        lost: [...sent].filter((id) => !inDb.get(id)?.consumed || inDb.get(id)!.audits !== 1).length,
        duplicated: handedTwice + [...inDb.values()].filter((x) => x.audits > 1).length,
        phantom: [...seen].filter((id) => !inDb.has(id)).length,
        errors: report.instances.reduce((n, i) => n + i.errors, 0),
        non2xx: report.instances.reduce((n, i) => n + i.non2xx, 0),
        timeouts: report.instances.reduce((n, i) => n + i.timeouts, 0),
        pending_in_db: [...inDb.values()].filter((x) => !x.consumed).length,
        ingest_mismatch: Math.abs(transcriptEvents - transcriptLines),
      },
    };
  } finally {
    database.close();
  }
}

/** The load run: 50 clients over the servers for `seconds`, with a transcript growing beside it. */
export async function loadRun(c: Cluster, seconds: number, clients = 50) {
  const fx = await seedLoad(c);
  const n = c.urls.length;
  // A fifth of the clients long-poll; the rest mix cycles, enqueues and consumes.
  const polls = Math.round(clients / 5);
  const split = (total: number) => c.urls.map((_, i) => Math.floor(total / n) + (i < total % n ? 1 : 0));
  let lines = 0;
  const grow = setInterval(() => {
    appendFileSync(fx.rollout, codexLine("event_msg", { type: "agent_message", message: `line ${++lines}` }));
  }, 100);
  const started = performance.now();
  let report: LoadReport;
  try {
    report = await runLoadProcess({
      urls: c.urls,
      token: c.owner,
      durationSeconds: seconds,
      mixConnections: split(clients - polls),
      pollConnections: split(polls),
      inboxes: fx.inboxes,
      task: fx.task,
    });
  } finally {
    clearInterval(grow);
  }
  const wall = (performance.now() - started) / 1000;
  const verdict = await checkLoad(c, fx, report, lines);
  return { report, verdict, wallSeconds: wall };
}

/**
 * Long-poll wake latency over HTTP: a consumer waits on server 0 (30 s re-check, so only a
 * signal wakes it) and the item is sent through server 1 (the change watcher must notice) or
 * through server 0 itself (the in-process notifier), alternately.
 */
export async function wakeSamples(c: Cluster, n: number): Promise<{ same: number[]; cross: number[] }> {
  const inbox = (await must(c.call(c.urls[0]!, "POST", "/sessions", { name: "wake-inbox", role: "manager" }), "register")).session.name;
  const same: number[] = [];
  const cross: number[] = [];
  let skipped = 0;
  for (let i = -4; same.length < n || cross.length < n; i++) {
    const via = i % 2 === 0 ? c.urls[1]! : c.urls[0]!;
    const waiting = c.call(c.urls[0]!, "POST", `/sessions/${inbox}/inbox/consume`, { wait: true, timeout: 30, interval: 30 });
    await sleep(60);
    const t0 = performance.now();
    await must(c.call(via, "POST", "/messages", { to: inbox, body: `wake ${i}` }), "send");
    const got = (await waiting).body;
    const dt = performance.now() - t0;
    // On a loaded machine the consume may not have made its first check yet when the send
    // lands; it then finds the item without waiting, which measures nothing. Skip that sample.
    if (got?.woken_by === null && got.poll_count === 1 && skipped++ < 4 * n) continue;
    if (got?.woken_by !== "notifier") throw new Error(`wake ${i} was not signalled: ${JSON.stringify(got)}`);
    if (i >= 0) (via === c.urls[0] ? same : cross).push(dt);
  }
  return { same, cross };
}

/** The multi-server rows for bench/run.ts, plus the load's totals. */
export async function multiserverBench(opts: { seconds?: number; wakes?: number } = {}) {
  const c = await startCluster(3);
  try {
    const wakes = await wakeSamples(c, opts.wakes ?? 100);
    const { report, verdict, wallSeconds } = await loadRun(c, opts.seconds ?? 60);
    const failures = Object.values(verdict.must_be_zero).reduce((x, y) => x + y, 0);
    if (failures) throw new Error(`multi-server load found problems: ${JSON.stringify({ verdict, statuses: report.statuses })}`);
    const mix = report.instances.filter((i) => i.kind === "mix");
    const requests = report.instances.reduce((x, i) => x + i.requests, 0);
    const rows: BenchRow[] = [
      latencyRow("wake_same_server_http", "long-poll wake, send through the same server (notifier), HTTP", wakes.same),
      latencyRow("wake_cross_server_http", "long-poll wake, send through another server (change watcher), HTTP", wakes.cross, { p50_ms: 25 }),
      {
        id: "multiserver_load_mix",
        label: `3 servers, ${mix.reduce((x, i) => x + i.connections, 0)} clients mixing cycle/enqueue/consume (per-server p50/p99 max)`,
        n: mix.reduce((x, i) => x + i.requests, 0),
        p50_ms: round(Math.max(...mix.map((i) => i.p50_ms))),
        p99_ms: round(Math.max(...mix.map((i) => i.p99_ms))),
      },
    ];
    const load = {
      seconds: round(wallSeconds),
      clients: report.instances.reduce((x, i) => x + i.connections, 0),
      requests,
      requests_per_second: round(requests / (opts.seconds ?? 60)),
      ops: report.ops,
      verdict,
      instances: report.instances,
      wake_ms: {
        same_p50: round(percentile(wakes.same, 50)),
        same_p99: round(percentile(wakes.same, 99)),
        cross_p50: round(percentile(wakes.cross, 50)),
        cross_p99: round(percentile(wakes.cross, 99)),
      },
    };
    return { rows, load };
  } finally {
    await c.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // Shorter runs for a quick look: MULTISERVER_SECONDS=5 MULTISERVER_WAKES=20 (not recorded).
  const seconds = Number(process.env.MULTISERVER_SECONDS ?? 60);
  const wakes = Number(process.env.MULTISERVER_WAKES ?? 100);
  const { rows, load } = await multiserverBench({ seconds, wakes });
  for (const r of rows) console.log(JSON.stringify(r));
  console.log(JSON.stringify(load, null, 2));
  if (seconds === 60 && wakes === 100) {
    const machine = { cpus: cpus().length, platform: `${process.platform} ${process.arch}`, node: process.version, loadavg_1m: round(loadavg()[0]!) };
    writeFileSync(
      join(ROOT, "bench", "results", "multiserver.json"),
      `${JSON.stringify({ recorded_at: new Date().toISOString(), machine, rows, load }, null, 2)}\n`,
    );
  }
}
