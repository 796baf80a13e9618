// Queue and round-trip benchmarks for issue 10 (items 3 and 4): `npx tsx bench/queue-perf.ts
// [--label before|after] [--part dispatch|http|round-trips] [--rounds N]`, also part of `npm run bench`. Three
// parts, each measured in this one run (or only the named one with --part):
//
// 1. Dispatch: commands/s for 1 and 4 dispatcher processes against a raw conditional
//    UPDATE…RETURNING (one statement that claims and completes a command) on the same database
//    file, in interleaved rounds, so a burst of load or a growing table hits all three alike. The
//    dispatchers share a drain lease as `dispatch --watch` processes do (functions/queue/drain-lease.ts);
//    bench/queue-perf-worker.ts says how to run them without it.
// 2. HTTP: autocannon requests/s for GET /v1/sessions/{name} (show) and POST /v1/messages (send)
//    against a bare Hono route served by the same node process, at 1 and 50 connections, and
//    against each route's floor: its database work alone, by hand (bench/http-floor.ts).
// 3. Round trips and p50 per hot route (tests/helpers/hot-routes.ts) with 0 and 20 ms of simulated
//    latency per database round trip (tests/helpers/db-clients.ts).
//
// The result is merged into bench/results/queue-perf.json under the label (default "after"), so a
// run on the old code (`--label before`) and one on the new sit side by side. A --part run
// replaces only that part of the label's record (dispatch and http carry their own time and load).
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { serve } from "@hono/node-server";
import autocannon from "autocannon";
import { Hono } from "hono";
import { createApp } from "../functions/app.ts";
import { openDatabase, type Database } from "../functions/lib/db.ts";
import { resolveHome } from "../local-runner/home.ts";
import { migrateDatabase } from "../local-runner/migrate.ts";
import { openLocalServices } from "../local-runner/services.ts";
import { roundTrips } from "../tests/helpers/db-clients.ts";
import { HOT_OPERATIONS } from "../tests/helpers/hot-routes.ts";
import { makeTestEnv } from "../tests/helpers/services.ts";
import { floorApp } from "./http-floor.ts";
import { makeCtx } from "../functions/lib/ctx.ts";
import { feedTelemetry } from "../functions/telemetry/feed.ts";
import { benchPart, percentile, round } from "./lib.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const WORKER = join(ROOT, "bench", "queue-perf-worker.ts");
const RESULT_FILE = join(ROOT, "bench", "results", "queue-perf.json");

/** Dispatch rounds (`--rounds N` for more samples when the machine is noisy). */
const ROUNDS = Number(flag("--rounds") ?? 4);
const COMMANDS_PER_ROUND = 2000;
const PROCESSES = 4;
const HTTP_SECONDS = 5;
const CALLS_AT_0_MS = 30;
const CALLS_AT_20_MS = 10;

const median = (xs: number[]) => percentile(xs, 50);

/** Inserts `count` pending notify_manager commands (what the no-op dispatcher executes). */
async function seed(db: Database, round: number, count: number) {
  const base = Date.now();
  for (let start = 0; start < count; start += 200) {
    const n = Math.min(200, count - start);
    const values = Array.from({ length: n }, () => "(?, 'notify_manager', 'pending', ?, 'owner:bench', ?, ?)").join(", ");
    const args = Array.from({ length: n }, (_, k) => {
      const i = start + k;
      return [`cmd_b${round}_${String(i).padStart(6, "0")}_${Math.random().toString(36).slice(2, 8)}`, JSON.stringify({ n: i }), base + i, base + i];
    }).flat();
    await db.client.execute({ sql: `INSERT INTO commands (id, type, state, payload_json, created_by, created_at, updated_at) VALUES ${values}`, args });
  }
}

/** The floor: one conditional UPDATE…RETURNING per command, claiming and completing it at once. */
async function rawDrain(db: Database, count: number): Promise<number> {
  const t0 = performance.now();
  let done = 0;
  for (;;) {
    const now = Date.now();
    const rs = await db.client.execute({
      sql: `UPDATE commands SET state = 'succeeded', attempts = attempts + 1, claim_generation = claim_generation + 1, updated_at = ?, completed_at = ?
            WHERE id = (SELECT id FROM commands WHERE state = 'pending' AND type = 'notify_manager' ORDER BY created_at, id LIMIT 1) AND state = 'pending'
            RETURNING id`,
      args: [now, now],
    });
    if (rs.rows.length === 0) break;
    done++;
  }
  if (done !== count) throw new Error(`raw drain took ${done} of ${count}`);
  return count / ((performance.now() - t0) / 1000);
}

interface Worker {
  go(): Promise<number>;
  end(): Promise<void>;
}

/** Starts a dispatcher process and waits until it is ready (start-up is never timed). */
async function startWorker(url: string, id: string): Promise<Worker> {
  const child = spawn(process.execPath, ["--import", "tsx", WORKER, url, id], { cwd: ROOT, stdio: ["pipe", "pipe", "inherit"] });
  const waiting: Array<(line: Record<string, unknown>) => void> = [];
  createInterface({ input: child.stdout! }).on("line", (l) => waiting.shift()?.(JSON.parse(l)));
  const next = () => new Promise<Record<string, unknown>>((r) => waiting.push(r));
  const exit = new Promise<number | null>((r) => child.once("exit", r));
  await Promise.race([next(), exit.then((c) => Promise.reject(new Error(`dispatcher ${id} exited ${c} before it was ready`)))]);
  return {
    async go() {
      const done = next();
      child.stdin!.write("go\n");
      return Number((await done).processed);
    },
    async end() {
      child.stdin!.end();
      const code = await exit;
      if (code !== 0) throw new Error(`dispatcher ${id} exited ${code}`);
    },
  };
}

/**
 * Drains the `count` commands seeded for `round` with `workers`: commands/s timed to the last
 * "done" (every process has seen the queue empty) and to the last command's completion (the queue
 * is empty; a process still asleep in SQLite's busy handler then has nothing left to do).
 */
async function dispatchDrain(db: Database, workers: Worker[], count: number): Promise<{ done: number; drained: number }> {
  const wall0 = Date.now();
  const t0 = performance.now();
  const processed = (await Promise.all(workers.map((w) => w.go()))).reduce((a, b) => a + b, 0);
  const done = count / ((performance.now() - t0) / 1000);
  const left = Number((await db.client.execute("SELECT count(*) FROM commands WHERE state NOT IN ('succeeded')")).rows[0]![0]);
  if (processed !== count || left !== 0) throw new Error(`dispatchers processed ${processed} of ${count}; ${left} not succeeded`);
  // This round's commands are the last ones completed.
  const last = Number((await db.client.execute("SELECT max(completed_at) FROM commands")).rows[0]![0]);
  return { done, drained: count / (Math.max(1, last - wall0) / 1000) };
}

/** Part 1: interleaved rounds of raw, one dispatcher, four dispatchers on one database file. */
async function dispatchPart() {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-bench-queue-"));
  const url = `file:${join(dir, "switchyard.db")}`;
  const db = await openDatabase({ url });
  const workers: Worker[] = [];
  try {
    await migrateDatabase(db);
    for (let i = 0; i < PROCESSES; i++) workers.push(await startWorker(url, `bench-${i}`));
    const raw: number[] = [];
    const one: number[] = [];
    const four: number[] = [];
    const oneDrained: number[] = [];
    const fourDrained: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      await seed(db, r * 3, COMMANDS_PER_ROUND);
      raw.push(await rawDrain(db, COMMANDS_PER_ROUND));
      const runOne = async () => {
        await seed(db, r * 3 + 1, COMMANDS_PER_ROUND);
        // One dispatcher: no other holds a drain lease. (The idle workers wait for "go" instead of
        // looping, so a lease one of them took in a four-process drain would otherwise stay until
        // it ran out, and the lone worker would stand by and claim nothing.)
        await db.client.execute("DELETE FROM dispatch_leases");
        const a = await dispatchDrain(db, workers.slice(0, 1), COMMANDS_PER_ROUND);
        one.push(a.done);
        oneDrained.push(a.drained);
      };
      const runFour = async () => {
        await seed(db, r * 3 + 2, COMMANDS_PER_ROUND);
        const b = await dispatchDrain(db, workers, COMMANDS_PER_ROUND);
        four.push(b.done);
        fourDrained.push(b.drained);
      };
      // Whichever dispatch drain runs right after the raw one measured about 10% slower (both
      // orders were tried), so they take turns going first: even rounds one process first, odd
      // rounds four. An even --rounds balances them.
      if (r % 2 === 0) {
        await runOne();
        await runFour();
      } else {
        await runFour();
        await runOne();
      }
    }
    const per = { raw_update_returning: Math.round(median(raw)), dispatch_1: Math.round(median(one)), dispatch_4: Math.round(median(four)) };
    const drained = { dispatch_1: Math.round(median(oneDrained)), dispatch_4: Math.round(median(fourDrained)) };
    return {
      commands_per_round: COMMANDS_PER_ROUND,
      rounds: ROUNDS,
      per_second_median: per,
      per_second_rounds: { raw_update_returning: raw.map(Math.round), dispatch_1: one.map(Math.round), dispatch_4: four.map(Math.round) },
      ratios: {
        dispatch_1_over_raw: round(per.dispatch_1 / per.raw_update_returning),
        dispatch_4_over_raw: round(per.dispatch_4 / per.raw_update_returning),
        dispatch_4_over_dispatch_1: round(per.dispatch_4 / per.dispatch_1),
      },
      // Each round's four-process drain over the one-process drain just before it, and their
      // median: pairs taken seconds apart, so a burst of load that spans a few rounds moves both
      // sides of a pair, where the ratio of the two medians above can pair a quiet round with a busy one.
      dispatch_4_over_dispatch_1_rounds: four.map((f, k) => round(f / one[k]!)),
      dispatch_4_over_dispatch_1_paired_median: round(median(four.map((f, k) => f / one[k]!))),
      // Their geometric mean: with the two drains taking turns going first over an even number of
      // rounds, the effect of going first cancels out of it (it does not out of the median).
      dispatch_4_over_dispatch_1_paired_geomean: round(Math.exp(four.reduce((sum, f, k) => sum + Math.log(f / one[k]!), 0) / four.length)),
      // Timed to the last command's completion instead of the last process's "done" (see dispatchDrain).
      drained_per_second_median: drained,
      drained_per_second_rounds: { dispatch_1: oneDrained.map(Math.round), dispatch_4: fourDrained.map(Math.round) },
      drained_dispatch_4_over_dispatch_1: round(drained.dispatch_4 / drained.dispatch_1),
      targets: { dispatch_1_over_raw: 0.6, dispatch_4_over_dispatch_1: 1 },
    };
  } finally {
    await Promise.all(workers.map((w) => w.end().catch(() => {})));
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Requests/s of one autocannon run; any non-2xx answer or error fails the bench. */
async function cannon(url: string, connections: number, opts: { method?: "GET" | "POST"; headers?: Record<string, string>; body?: string } = {}) {
  const r = await autocannon({ url, connections, duration: HTTP_SECONDS, method: opts.method ?? "GET", headers: opts.headers, body: opts.body });
  if (r.errors || r.non2xx || r.timeouts) throw new Error(`${opts.method ?? "GET"} ${url}: ${r.errors} errors, ${r.non2xx} non-2xx, ${r.timeouts} timeouts`);
  return Math.round(r.requests.average);
}

/** Part 2: show and send through the real app against a bare Hono route, same node process. */
async function httpPart() {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-bench-http-"));
  const services = await openLocalServices({ home: { ...resolveHome({}, { home: dir }), hostName: "bench" } });
  services.log = { info: () => {}, warn: () => {}, error: () => {} };
  const app = createApp(services);
  const bare = new Hono().get("/bare", (c) => c.json({ ok: true, name: "bare" }));
  const listen = (fetch: (r: Request) => Response | Promise<Response>) =>
    new Promise<{ base: string; close: () => void }>((resolve) => {
      const server = serve({ fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) =>
        resolve({ base: `http://127.0.0.1:${info.port}`, close: () => server.close() }),
      );
    });
  const api = await listen(app.fetch);
  const plain = await listen(bare.fetch);
  const floor = floorApp(services.database.url.replace(/^file:/, ""));
  const floorServer = await listen(floor.app.fetch);
  try {
    const auth = { Authorization: `Bearer ${services.ownerToken}`, "Content-Type": "application/json" };
    const reg = await fetch(`${api.base}/v1/sessions`, { method: "POST", headers: auth, body: JSON.stringify({ name: "bench-target", role: "manager" }) });
    if (reg.status !== 201) throw new Error(`register: ${reg.status} ${await reg.text()}`);
    const out: Record<string, Record<string, number>> = {};
    for (const connections of [1, 50]) {
      // Interleaved per connection count, so load changes hit the bare route and the app alike.
      const bareRate = await cannon(`${plain.base}/bare`, connections);
      const show = await cannon(`${api.base}/v1/sessions/bench-target`, connections, { headers: auth });
      const sendBody = { method: "POST" as const, headers: auth, body: JSON.stringify({ to: "bench-target", body: "hi" }) };
      const send = await cannon(`${api.base}/v1/messages`, connections, sendBody);
      const showFloor = await cannon(`${floorServer.base}/floor/sessions/bench-target`, connections, { headers: auth });
      const sendFloor = await cannon(`${floorServer.base}/floor/messages`, connections, sendBody);
      // The telemetry rows of those sends' audit events, which the sends queued: written now in
      // the feed's batches, as the telemetry-feed cron writes them (functions/telemetry/feed.ts).
      const feedStarted = performance.now();
      const fed = await feedTelemetry(makeCtx(services, { kind: "owner", tokenId: "tok_bench" }), { maxBatches: Number.POSITIVE_INFINITY });
      const feedUs = ((performance.now() - feedStarted) * 1000) / Math.max(1, fed.fed);
      out[`c${connections}`] = {
        bare_rps: bareRate,
        show_rps: show,
        send_rps: send,
        show_floor_rps: showFloor,
        send_floor_rps: sendFloor,
        show_over_bare: round(show / bareRate),
        send_over_bare: round(send / bareRate),
        // The most any show or send could reach here: the same database work by hand (bench/http-floor.ts).
        show_floor_over_bare: round(showFloor / bareRate),
        send_floor_over_bare: round(sendFloor / bareRate),
        show_over_floor: round(show / showFloor),
        send_over_floor: round(send / sendFloor),
        telemetry_fed: fed.fed,
        telemetry_feed_us_per_event: round(feedUs),
      };
    }
    return { seconds_per_run: HTTP_SECONDS, ...out, target_over_bare: 0.25 };
  } finally {
    api.close();
    plain.close();
    floorServer.close();
    floor.close();
    services.database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Part 3: round trips and p50 of each hot operation at 0 and 20 ms per round trip. */
async function roundTripPart() {
  const tally = roundTrips();
  const env = await makeTestEnv({ roundTrips: tally });
  env.services.log = { info: () => {}, warn: () => {}, error: () => {} };
  const rows: Array<{ operation: string; round_trips: number; interactive_transactions: number; p50_ms_0: number; p50_ms_20: number }> = [];
  try {
    for (const op of HOT_OPERATIONS) {
      const measure = async (latency: number, n: number) => {
        env.latency.ms = 0;
        const calls = [];
        for (let i = 0; i < n; i++) calls.push(await op.prepare(env));
        env.latency.ms = latency;
        const samples: number[] = [];
        let trips = 0;
        let txs = 0;
        for (const call of calls) {
          tally.reset();
          const t0 = performance.now();
          await call();
          samples.push(performance.now() - t0);
          trips = Math.max(trips, tally.count);
          txs = Math.max(txs, tally.transactions);
        }
        env.latency.ms = 0;
        return { p50: round(median(samples)), trips, txs };
      };
      const fast = await measure(0, CALLS_AT_0_MS);
      const slow = await measure(20, CALLS_AT_20_MS);
      rows.push({ operation: op.name, round_trips: fast.trips, interactive_transactions: fast.txs, p50_ms_0: fast.p50, p50_ms_20: slow.p50 });
    }
  } finally {
    env.close();
  }
  return rows;
}

const PARTS = { "round-trips": roundTripPart, dispatch: dispatchPart, http: httpPart } as const;
type Part = keyof typeof PARTS;
const PART_KEYS: Record<Part, "round_trips" | "dispatch" | "http"> = { "round-trips": "round_trips", dispatch: "dispatch", http: "http" };

/** The value after `flag` on the command line, or undefined. */
function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}

async function main() {
  const label = flag("--label") ?? "after";
  const part = benchPart(process.argv, Object.keys(PARTS) as Part[]);
  if (!Number.isInteger(ROUNDS) || ROUNDS < 1) {
    process.stderr.write(`--rounds must be a whole number of at least 1, got ${JSON.stringify(flag("--rounds"))}\n`);
    process.exit(2);
  }
  const started = performance.now();
  const loadBefore = loadavg().map(round);
  const stamp = () => ({
    recorded_at: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: cpus().length,
    load_average_before: loadBefore,
    load_average_after: loadavg().map(round),
    total_seconds: round((performance.now() - started) / 1000),
  });
  const prior = existsSync(RESULT_FILE) ? JSON.parse(readFileSync(RESULT_FILE, "utf8")) : {};
  let record: Record<string, unknown>;
  let printed: unknown;
  if (part) {
    const key = PART_KEYS[part];
    const value = await PARTS[part]();
    // The round-trip part is a list of rows, recorded as before; the others carry their own stamp.
    const measured = Array.isArray(value) ? value : { ...value, ...stamp() };
    printed = measured;
    record = { ...prior[label], [key]: measured };
  } else {
    const round_trips = await roundTripPart();
    const dispatch = await dispatchPart();
    const http = await httpPart();
    record = { ...stamp(), round_trips, dispatch, http };
    printed = record;
  }
  mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
  const tmp = `${RESULT_FILE}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ ...prior, [label]: record }, null, 2)}\n`);
  renameSync(tmp, RESULT_FILE);
  process.stdout.write(`${JSON.stringify(printed, null, 2)}\nwritten to bench/results/queue-perf.json as "${label}"${part ? ` (part ${part})` : ""}\n`);
}

/** For bench/run.ts: the same three parts, as one record. */
export async function queuePerfBench() {
  return { round_trips: await roundTripPart(), dispatch: await dispatchPart(), http: await httpPart() };
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
