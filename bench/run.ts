// Switchyard benchmarks: `npm run bench`. Prints a table and records it in bench/results/latest.json.
// Every row is measured in this one run on this machine, so the ratios between rows are meaningful
// even when the absolute numbers move with the hardware. docs/benchmarks.md explains each row.
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createApp } from "../functions/app.ts";
import { MAX_PAGE_LIMIT } from "../functions/lib/paging.ts";
import { makeId } from "../functions/lib/ids.ts";
import { resolveHome } from "../local-runner/home.ts";
import { openLocalServices, type LocalServices } from "../local-runner/services.ts";
import { startUp } from "../local-runner/up.ts";
import { dispatchBench } from "./dispatch.ts";
import { queuePerfBench } from "./queue-perf.ts";
import { brokerBench } from "./broker.ts";
import { coldStartBench, ingestBench } from "./cli-ingest.ts";
import { hooksBench } from "./hooks.ts";
import { multiserverBench } from "./multiserver.ts";
import { inboxBench } from "./inbox.ts";
import { nudgeBench, observeBench } from "./observe.ts";
import { growthBench } from "./growth.ts";
import { observabilityBench } from "./observability.ts";
import { patrolBench } from "./patrol.ts";
import { sessions } from "../schema/sessions.ts";
import { latencyRow, round, type BenchRow } from "./lib.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const RESULTS = join(ROOT, "bench", "results");

const ROUND_TRIPS = 200;
const BIG_DB_SESSIONS = 10_000;
const LOOKUPS = 500;
const FULL_LISTS = 20;
const CLI_RUNS = 10;

type Row = BenchRow;

/** A row from samples; the issue's p50 targets for these rows read "under X". */
function row(id: string, label: string, samples: number[], targetP50?: number): Row {
  return latencyRow(id, label, samples, targetP50 === undefined ? undefined : { p50_ms: targetP50, strict: true });
}

/**
 * Times each of `fns` `n` times, after `warmup` unrecorded rounds. The variants take turns within
 * every round, so a burst of load on the machine hits all of them alike and their ratio holds.
 * Each fn gets the iteration number (negative while warming up).
 */
async function sample(n: number, warmup: number, ...fns: Array<(i: number) => Promise<unknown>>): Promise<number[][]> {
  const out = fns.map(() => [] as number[]);
  for (let i = -warmup; i < n; i++) {
    for (const [k, fn] of fns.entries()) {
      const t0 = performance.now();
      await fn(i);
      if (i >= 0) out[k]!.push(performance.now() - t0);
    }
  }
  return out;
}

/** A fresh home with a migrated database and an owner token. */
async function freshHome(): Promise<{ dir: string; services: LocalServices }> {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-bench-"));
  const services = await openLocalServices({ home: { ...resolveHome({}, { home: dir }), hostName: "bench" } });
  return { dir, services };
}

type Call = (method: string, path: string, body?: unknown) => Promise<unknown>;

/** Calls through a real HTTP server; the body is read in full, as a client would. */
function httpCaller(base: string, token: string): Call {
  return async (method, path, body) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (res.status >= 300) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
    return res.json();
  };
}

/** Calls the same app in-process, as the CLI does by default. */
function inProcessCaller(app: ReturnType<typeof createApp>, token: string): Call {
  return async (method, path, body) => {
    const res = await app.request(path, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (res.status >= 300) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
    return res.json();
  };
}

/** One onboarding: register a worker and a manager, create a task, bind them, list the pair. */
async function roundTrip(call: Call, tag: string) {
  await call("POST", "/v1/sessions", { name: `w-${tag}`, role: "worker" });
  await call("POST", "/v1/sessions", { name: `m-${tag}`, role: "manager" });
  await call("POST", "/v1/tasks", { name: `t-${tag}`, goal: "bench" });
  await call("POST", "/v1/bindings", { task: `t-${tag}`, worker: `w-${tag}`, manager: `m-${tag}` });
  const list = (await call("GET", `/v1/sessions?name=w-${tag}&name=m-${tag}`)) as { count: number };
  if (list.count !== 2) throw new Error(`expected the bound pair in the list, got ${list.count}`);
}

/** Inserts `count` active sessions directly, in one transaction per chunk. */
async function seedSessions(services: LocalServices, count: number) {
  const db = services.database.db;
  const now = Date.now();
  for (let start = 0; start < count; start += 500) {
    const rows = Array.from({ length: Math.min(500, count - start) }, (_, k) => {
      const i = start + k;
      return {
        id: makeId("ses", now + i),
        name: `s-${i}`,
        role: i % 2 ? ("manager" as const) : ("worker" as const),
        state: "active" as const,
        host: "bench",
        cwd: `/work/repo-${i % 50}`,
        tmuxSession: `agent-${i}`,
        lastHeartbeatAt: now,
        createdAt: now + i,
        updatedAt: now + i,
      };
    });
    await db.insert(sessions).values(rows);
  }
}

async function main() {
  const started = performance.now();
  const rows: Row[] = [];
  const cleanup: Array<() => void> = [];
  try {
    // 1. Onboarding round trip, over HTTP and in-process, each on its own fresh database.
    {
      const httpHome = await freshHome();
      const localHome = await freshHome();
      cleanup.push(() => {
        localHome.services.database.close();
        rmSync(httpHome.dir, { recursive: true, force: true });
        rmSync(localHome.dir, { recursive: true, force: true });
      });
      const up = await startUp(httpHome.services, { port: 0, hostname: "127.0.0.1", schedules: [] });
      const http = httpCaller(up.url, httpHome.services.ownerToken);
      const local = inProcessCaller(createApp(localHome.services), localHome.services.ownerToken);
      const [overHttp, inProcess] = await sample(
        ROUND_TRIPS,
        20,
        (i) => roundTrip(http, `h${i}`),
        (i) => roundTrip(local, `p${i}`),
      );
      rows.push(row("roundtrip_http", "register+bind+list round trip, HTTP (5 requests)", overHttp!));
      rows.push(row("roundtrip_inprocess", "register+bind+list round trip, in-process (5 requests)", inProcess!));
      await up.stop();
    }

    // 2. Reads on a 10,000-session database.
    {
      const { dir, services } = await freshHome();
      cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
      await seedSessions(services, BIG_DB_SESSIONS);
      const app = createApp(services);
      const up = await startUp(services, { port: 0, hostname: "127.0.0.1", schedules: [] });
      const http = httpCaller(up.url, services.ownerToken);
      const local = inProcessCaller(app, services.ownerToken);
      // A fixed stride visits names spread over the whole table without a random generator.
      const name = (i: number) => `s-${(Math.abs(i) * 7919) % BIG_DB_SESSIONS}`;
      const [show, listOne, showLocal] = await sample(
        LOOKUPS,
        50,
        (i) => http("GET", `/v1/sessions/${name(i)}`),
        (i) => http("GET", `/v1/sessions?name=${name(i)}`),
        (i) => local("GET", `/v1/sessions/${name(i)}`),
      );
      rows.push(row("show_http_10k", "GET /v1/sessions/{name}, 10k sessions, HTTP", show!, 2));
      rows.push(row("list_name_http_10k", "GET /v1/sessions?name=…, 10k sessions, HTTP", listOne!, 2));
      rows.push(row("show_inprocess_10k", "GET /v1/sessions/{name}, 10k sessions, in-process", showLocal!));
      // The list pages (issue 10): all of it is the walk a client makes, page by page with the cursor.
      const [listAll] = await sample(FULL_LISTS, 2, async () => {
        let listed = 0;
        let cursor: string | null = null;
        do {
          const body = (await http("GET", `/v1/sessions?limit=${MAX_PAGE_LIMIT}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`)) as {
            count: number;
            next_cursor: string | null;
          };
          listed += body.count;
          cursor = body.next_cursor;
        } while (cursor);
        if (listed !== BIG_DB_SESSIONS) throw new Error(`listed ${listed} sessions`);
      });
      rows.push(row("list_all_http_10k", `GET /v1/sessions, all 10k rows in pages of ${MAX_PAGE_LIMIT}, HTTP`, listAll!));
      await up.stop();
    }

    // 3. CLI cold start against `node -e 0` (and agent-conveyor where installed), with the tsx
    // fallback for comparison; bench/cli-ingest.ts.
    const cold = await coldStartBench({ runs: CLI_RUNS, tsx: true });
    const bundleBuilt = cold.bundleBuilt;
    rows.push(...cold.rows);

    // 4. Inbox: long-poll wake latency in-process and across processes, consume with 100k queued.
    rows.push(...(await inboxBench()));

    // 5. Dispatch queue: commands/s with 1 and 4 dispatchers against the raw single-row UPDATE rate.
    const dispatch = await dispatchBench();
    rows.push(...dispatch.rows);

    // 5b. Issue 10: dispatch against a raw UPDATE…RETURNING on the same file (interleaved), HTTP
    // against a bare Hono route (autocannon), round trips and p50 per hot route at 0 and 20 ms.
    const queuePerf = await queuePerfBench();

    // 6. Observation: 100 MB ingest, incremental cycle, and nudges on the real Codex TUI.
    rows.push(...(await observeBench()));
    rows.push(...(await nudgeBench()));
    // Ingest against the floor of reading and parsing the same file, interleaved.
    const ingest = await ingestBench();
    rows.push(...ingest.rows);

    // 7. Advice broker: requests ingested and drafted per second with the built-in drafter.
    const broker = await brokerBench();
    rows.push(...broker.map(({ per_second: _, ...r }) => r));

    // 8. Patrol: one full run of all steps over 10k sessions, 1k tasks, 500 gates, 100 convoys.
    rows.push(...(await patrolBench()));
    // 9. Hooks: ingestion as the agent waits for it, and completion -> manager by hook vs by polling.
    const hooks = await hooksBench();
    rows.push(...hooks.rows);
    // 10. Several servers on one database: cross-server wake beside same-server, and the 60 s load.
    const multiserver = await multiserverBench();
    rows.push(...multiserver.rows);

    // 9. Observability: replay of a 100k-row task, telemetry search over 1M events, dashboard paint.
    rows.push(...(await observabilityBench()));

    // 10. Growth: show, list page, cycle, tail, discover, audit, inbox consume and replay at 1k/100k/1M rows.
    const growth = await growthBench();
    rows.push(...growth.rows);

    const by = (id: string) => rows.find((r) => r.id === id)!.p50_ms;
    const ratios = {
      roundtrip_http_over_inprocess: round(by("roundtrip_http") / by("roundtrip_inprocess")),
      show_http_over_inprocess: round(by("show_http_10k") / by("show_inprocess_10k")),
      cli_sessions_tsx_over_bundle: round(by("cli_sessions_tsx") / by("cli_sessions")),
      cli_help_tsx_over_bundle: round(by("cli_help_tsx") / by("cli_help")),
      ...cold.ratios,
      ...ingest.ratios,
      ...dispatch.ratios,
      ...hooks.ratios,
      ...growth.ratios,
    };
    const result = {
      recorded_at: new Date().toISOString(),
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      cpus: cpus().length,
      cpu_model: cpus()[0]?.model ?? "unknown",
      load_average_1m: round(loadavg()[0]!),
      cli_bundle_built: bundleBuilt,
      total_seconds: round((performance.now() - started) / 1000),
      rows,
      ratios,
      dispatch_per_second: dispatch.per_second,
      queue_perf: queuePerf,
      broker_per_second: Object.fromEntries(broker.map((r) => [r.id, r.per_second])),
      multiserver_load: multiserver.load,
    };
    mkdirSync(RESULTS, { recursive: true });
    // Write then rename, so an interrupted run never leaves a half-written latest.json.
    const tmp = join(RESULTS, "latest.tmp.json");
    writeFileSync(tmp, `${JSON.stringify(result, null, 2)}\n`);
    renameSync(tmp, join(RESULTS, "latest.json"));

    printTable(rows, ratios);
    process.stdout.write(
      `\n${result.platform}, ${result.cpus} cpus, load ${result.load_average_1m}, node ${result.node}, ${result.total_seconds}s; written to bench/results/latest.json\n`,
    );
    if (result.load_average_1m > result.cpus) {
      process.stdout.write(
        `warning: load average ${result.load_average_1m} exceeds ${result.cpus} cpus; other work skewed these numbers, rerun on an idle machine\n`,
      );
    }
  } finally {
    for (const c of cleanup) c();
  }
}

function printTable(rows: Row[], ratios: Record<string, number>) {
  const lines = [
    ["benchmark", "n", "p50 ms", "p99 ms", "target", "ok"],
    ...rows.map((r) => [
      r.label,
      String(r.n),
      r.p50_ms.toFixed(2),
      r.p99_ms.toFixed(2),
      r.target?.p50_ms !== undefined ? `p50 < ${r.target.p50_ms} ms` : r.target?.p99_ms !== undefined ? `p99 < ${r.target.p99_ms} ms` : "",
      r.pass === undefined ? "" : r.pass ? "yes" : "NO",
    ]),
  ];
  const widths = lines[0]!.map((_, c) => Math.max(...lines.map((l) => l[c]!.length)));
  const fmt = (l: string[]) => l.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
  process.stdout.write(`${fmt(lines[0]!)}\n${widths.map((w) => "-".repeat(w)).join("  ")}\n${lines.slice(1).map(fmt).join("\n")}\n\nratios (p50): `);
  process.stdout.write(
    `${Object.entries(ratios)
      .map(([k, v]) => `${k} ${v}x`)
      .join(", ")}\n`,
  );
}

await main();
