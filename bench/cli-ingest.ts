// CLI cold start and ingest throughput, each against the floor it cannot beat, measured
// interleaved in one run (issue 10, items 5 and 6). `npx tsx bench/cli-ingest.ts` runs both alone
// and records bench/results/cli-ingest.json (`--part cli` or `--part ingest` runs and records one
// half); bench/run.ts runs the cold-start half in its table.
import { execFile } from "node:child_process";
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createApp } from "../functions/app.ts";
import { resolveHome } from "../local-runner/home.ts";
import { NodeHost } from "../local-runner/host.ts";
import { openLocalServices } from "../local-runner/services.ts";
import { startUp } from "../local-runner/up.ts";
import { writeUpRecord } from "../local-runner/up-record.ts";
import { benchPart, latencyRow, round, type BenchRow } from "./lib.ts";
import { writeRollout } from "./observe.ts";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = join(ROOT, "bin", "switchyard.cjs");
const RESULTS = join(ROOT, "bench", "results");
/** The bounds: a read command within 1.3x of `node -e 0`; ingest at 0.6x of read + parse. */
const CLI_OVER_NODE_TARGET = 1.3;
const INGEST_OVER_FLOOR_TARGET = 0.6;

/** A row that may carry a throughput. */
export type CliIngestRow = BenchRow & { mb_per_s?: number };

/**
 * Times each of `fns` `n` times after `warmup` unrecorded rounds, taking turns within every round
 * so a burst of load on the machine hits all of them alike and their ratios hold.
 */
async function interleaved(n: number, warmup: number, fns: Array<() => Promise<unknown>>): Promise<number[][]> {
  const out = fns.map(() => [] as number[]);
  for (let i = -warmup; i < n; i++) {
    for (const [k, fn] of fns.entries()) {
      const t0 = performance.now();
      await fn();
      if (i >= 0) out[k]!.push(performance.now() - t0);
    }
  }
  return out;
}

/** agent-conveyor's `conveyor` executable: $CONVEYOR_BIN, else the first one on PATH, else null. */
export function findConveyor(env: NodeJS.ProcessEnv = process.env): string | null {
  const candidates = env.CONVEYOR_BIN ? [env.CONVEYOR_BIN] : (env.PATH ?? "").split(delimiter).map((d) => join(d, "conveyor"));
  for (const p of candidates) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  return null;
}

/** What the cold-start half found and measured. */
export interface ColdStartResult {
  rows: CliIngestRow[];
  ratios: Record<string, number>;
  conveyor: { installed: boolean; bin: string | null; note: string };
  /** False when the build failed and the CLI ran its sources through tsx. */
  bundleBuilt: boolean;
}

/**
 * The least an in-process read can do: load the libsql binding, open the database file, read the
 * first page of sessions, print it. No schema check, no printer, no argument parsing. The binding
 * is loaded as the fast path loads it, with bin/switchyard.cjs's quickLibcProbe answering the
 * loader's glibc question (a whole diagnostic report otherwise, 3–6 ms of this floor here).
 */
const LIBSQL_FLOOR = `require(process.argv[2]).quickLibcProbe(); const D = require("libsql"); const db = new D(process.argv[1]);
process.stdout.write(JSON.stringify(db.prepare("SELECT * FROM sessions ORDER BY created_at DESC LIMIT 50").all()) + "\\n");`;

/**
 * The least this CLI's own in-process read could do with none of its libraries: what every read
 * runs first (the bin's freshness checks, the served fast path finding no server), then the
 * libsql binding as the in-process path loads it, open the file, read the migration list, look
 * up the owner token by its SHA-256, read one page of active sessions and print it. No zod, no
 * drizzle, no domain code: a lower bound for any rewrite of the in-process path, not a feature.
 */
const LEAN_READ_FLOOR = `(async () => {
const bin = require(process.argv[1]); const home = process.env.SWITCHYARD_HOME;
bin.isFresh("switchyard-fast.cjs");
if ((await require(process.argv[2]).runFast(["sessions"])) !== null) throw new Error("a server answered");
bin.isFresh("switchyard-fast-local.cjs");
const restore = bin.quickLibcProbe(); const D = require("libsql"); restore();
const db = new D(home + "/switchyard.db", { timeout: 5000 });
db.exec("PRAGMA synchronous = NORMAL");
db.prepare("SELECT created_at FROM __drizzle_migrations").raw(true).all();
const token = require("node:fs").readFileSync(home + "/owner.token", "utf8").trim();
const hash = require("node:crypto").createHash("sha256").update(token).digest("hex");
if (!db.prepare("SELECT * FROM tokens WHERE secret_hash = ? AND revoked_at IS NULL").get(hash)) throw new Error("owner token not found");
const rows = db.prepare("SELECT * FROM sessions WHERE state = 'active' ORDER BY created_at, id LIMIT 51").all();
process.stdout.write(rows.length ? JSON.stringify(rows) + "\\n" : "no sessions\\n");
})().catch((e) => { console.error(e); process.exit(1); });`;

/**
 * One CLI process per sample, spawn to exit, as a user waits for it: `node -e 0` (the floor),
 * `--help`, `sessions` in-process on a migrated home with no server, `sessions` and
 * `session show` on a home whose running `up` answers them (the fast path, no --url),
 * `sessions --url` against a running server,
 * agent-conveyor's `conveyor sessions` where it is installed, the same two commands from a
 * baseline checkout ($BENCH_BASELINE_ROOT, built) for a before/after, and (tsx: true) the same
 * two commands without the bundle.
 */
export async function coldStartBench(opts: { runs?: number; tsx?: boolean; baselineRoot?: string } = {}): Promise<ColdStartResult> {
  const runs = opts.runs ?? 15;
  // The bundle as `npm install` leaves it; an edited checkout would otherwise run through tsx.
  const build = await run(process.execPath, [join(ROOT, "bin", "build-cli.mjs")], { cwd: ROOT });
  const dir = mkdtempSync(join(tmpdir(), "switchyard-bench-cli-"));
  const services = await openLocalServices({ home: { ...resolveHome({}, { home: dir }), hostName: "bench" } });
  const up = await startUp(services, { port: 0, hostname: "127.0.0.1", schedules: [] });
  // Recorded as `switchyard up` records itself, so a read without --url goes to this server.
  writeUpRecord(dir, up.url, { dbUrl: services.home.dbUrl, host: "bench" });
  const shown = await createApp(services).request("/v1/sessions", {
    method: "POST",
    headers: { Authorization: `Bearer ${services.ownerToken}`, "Content-Type": "application/json" },
    body: JSON.stringify({ name: "bench-worker", role: "worker", thread_id: "bench-thread" }),
  });
  if (shown.status !== 201) throw new Error(`register bench-worker: ${shown.status} ${await shown.text()}`);
  // A home with no server running: the in-process path.
  const localDir = mkdtempSync(join(tmpdir(), "switchyard-bench-cli-local-"));
  (await openLocalServices({ home: { ...resolveHome({}, { home: localDir }), hostName: "bench" } })).database.close();
  const conveyorBin = findConveyor();
  const conveyorHome = mkdtempSync(join(tmpdir(), "switchyard-bench-conveyor-"));
  try {
    const env = { ...process.env, SWITCHYARD_HOME: localDir, SWITCHYARD_URL: "" };
    const upEnv = { ...process.env, SWITCHYARD_HOME: dir, SWITCHYARD_URL: "", SWITCHYARD_HOST_NAME: "bench" };
    const httpEnv = { ...process.env, SWITCHYARD_URL: up.url, SWITCHYARD_TOKEN: services.ownerToken };
    const cli = (args: string[], e: NodeJS.ProcessEnv) => () => run(process.execPath, [BIN, ...args], { env: e, cwd: ROOT });
    const variants: Array<{ id: string; label: string; fn: () => Promise<unknown> }> = [
      { id: "node_floor", label: "node -e 0 (process start floor, for scale)", fn: () => run(process.execPath, ["-e", "0"]) },
      {
        id: "libsql_floor",
        label: "node + libsql: open the home's database, read and print sessions (in-process floor)",
        fn: () => run(process.execPath, ["-e", LIBSQL_FLOOR, join(localDir, "switchyard.db"), BIN], { cwd: ROOT }),
      },
      {
        id: "lean_read_floor",
        label: "the in-process read's steps without zod, drizzle or domain code (lower bound for a rewrite)",
        fn: () => run(process.execPath, ["-e", LEAN_READ_FLOOR, BIN, join(ROOT, "dist", "switchyard-fast.cjs")], { env, cwd: ROOT }),
      },
      { id: "cli_help", label: "switchyard --help", fn: cli(["--help"], env) },
      { id: "cli_sessions", label: "switchyard sessions (in-process, no server running)", fn: cli(["sessions"], env) },
      { id: "cli_sessions_up", label: "switchyard sessions (the home's running up answers)", fn: cli(["sessions"], upEnv) },
      { id: "cli_show_up", label: "switchyard session show NAME (the home's running up answers)", fn: cli(["session", "show", "bench-worker"], upEnv) },
      { id: "cli_sessions_http", label: "switchyard sessions --url (to a running server)", fn: cli(["sessions"], httpEnv) },
    ];
    if (conveyorBin) {
      variants.push({
        id: "conveyor_sessions",
        label: "agent-conveyor: conveyor sessions",
        // Its state lives under HOME; a scratch one keeps the comparison at an empty registry too.
        fn: () => run(conveyorBin, ["sessions"], { env: { ...process.env, HOME: conveyorHome } }),
      });
      // conveyor needs Node >= 22.5; $CONVEYOR_NODE names the node it runs on, so the same
      // commands of ours can run on that node too and the comparison is runtime for runtime.
      const otherNode = process.env.CONVEYOR_NODE;
      if (otherNode) {
        const on = (args: string[], e: NodeJS.ProcessEnv) => () => run(otherNode, [BIN, ...args], { env: e, cwd: ROOT });
        variants.push(
          { id: "conveyor_node_floor", label: "conveyor's node -e 0", fn: () => run(otherNode, ["-e", "0"]) },
          { id: "cli_sessions_conveyor_node", label: "switchyard sessions in-process, on conveyor's node", fn: on(["sessions"], env) },
          { id: "cli_sessions_up_conveyor_node", label: "switchyard sessions, running up answers, on conveyor's node", fn: on(["sessions"], upEnv) },
        );
      }
    }
    // Another checkout of Switchyard (built), for a before/after in the same interleaved rounds.
    const baseline = opts.baselineRoot ?? process.env.BENCH_BASELINE_ROOT;
    if (baseline) {
      const bin = join(baseline, "bin", "switchyard.mjs");
      const other =
        (args: string[], e: NodeJS.ProcessEnv = env) =>
        () =>
          run(process.execPath, [bin, ...args], { env: e, cwd: ROOT });
      variants.push({ id: "baseline_help", label: `--help, baseline checkout (${baseline})`, fn: other(["--help"]) });
      variants.push({ id: "baseline_sessions", label: `sessions, baseline checkout (${baseline})`, fn: other(["sessions"]) });
      variants.push({ id: "baseline_sessions_http", label: `sessions --url, baseline checkout (${baseline})`, fn: other(["sessions"], httpEnv) });
    }
    if (opts.tsx) {
      const tsxEnv = { ...env, SWITCHYARD_NO_BUNDLE: "1" };
      variants.push({ id: "cli_help_tsx", label: "--help without the bundle (tsx)", fn: cli(["--help"], tsxEnv) });
      variants.push({ id: "cli_sessions_tsx", label: "sessions without the bundle (tsx)", fn: cli(["sessions"], tsxEnv) });
    }
    // Two warm-up rounds: the first run after a build writes the V8 code cache, as a user's first call does.
    const samples = await interleaved(
      runs,
      2,
      variants.map((v) => v.fn),
    );
    const rows: CliIngestRow[] = variants.map((v, k) => latencyRow(v.id, v.label, samples[k]!));
    const p50 = (id: string) => rows.find((r) => r.id === id)!.p50_ms;
    const ratios: Record<string, number> = {
      cli_sessions_over_node: round(p50("cli_sessions") / p50("node_floor")),
      cli_sessions_up_over_node: round(p50("cli_sessions_up") / p50("node_floor")),
      cli_show_up_over_node: round(p50("cli_show_up") / p50("node_floor")),
      cli_sessions_http_over_node: round(p50("cli_sessions_http") / p50("node_floor")),
      cli_help_over_node: round(p50("cli_help") / p50("node_floor")),
      // What an in-process read cannot get under: starting node and loading the libsql binding.
      libsql_floor_over_node: round(p50("libsql_floor") / p50("node_floor")),
      cli_sessions_over_libsql_floor: round(p50("cli_sessions") / p50("libsql_floor")),
      // The same steps as the in-process path with none of its libraries: how low a rewrite could go.
      lean_read_floor_over_node: round(p50("lean_read_floor") / p50("node_floor")),
      cli_sessions_over_lean_read_floor: round(p50("cli_sessions") / p50("lean_read_floor")),
    };
    if (baseline) {
      ratios.baseline_sessions_over_node = round(p50("baseline_sessions") / p50("node_floor"));
      ratios.baseline_sessions_http_over_node = round(p50("baseline_sessions_http") / p50("node_floor"));
      ratios.baseline_help_over_node = round(p50("baseline_help") / p50("node_floor"));
    }
    if (conveyorBin) {
      // conveyor reads its database in-process; ours does too without a server, and goes to the
      // home's running up (the fast path) with one: both are "the equivalent" for a user.
      ratios.cli_sessions_over_conveyor = round(p50("cli_sessions") / p50("conveyor_sessions"));
      ratios.cli_sessions_up_over_conveyor = round(p50("cli_sessions_up") / p50("conveyor_sessions"));
      if (rows.some((r) => r.id === "conveyor_node_floor")) {
        ratios.same_node_cli_sessions_over_conveyor = round(p50("cli_sessions_conveyor_node") / p50("conveyor_sessions"));
        ratios.same_node_cli_sessions_up_over_conveyor = round(p50("cli_sessions_up_conveyor_node") / p50("conveyor_sessions"));
      }
    }
    for (const r of rows.filter((r) => r.id.startsWith("cli_") && !r.id.endsWith("_tsx"))) {
      r.target = { p50_ms: round(p50("node_floor") * CLI_OVER_NODE_TARGET) };
      r.pass = r.p50_ms <= r.target.p50_ms!;
    }
    return {
      rows,
      ratios,
      bundleBuilt: build.stdout.includes("built dist/"),
      conveyor: conveyorBin
        ? { installed: true, bin: conveyorBin, note: "measured in the same interleaved rounds" }
        : {
            installed: false,
            bin: null,
            note: "agent-conveyor is not installed here (npm has no agent-conveyor package; its source needs node:sqlite, Node >= 22.5). Set CONVEYOR_BIN to a conveyor executable to add the row.",
          },
    };
  } finally {
    await up.stop();
    services.database.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(localDir, { recursive: true, force: true });
    rmSync(conveyorHome, { recursive: true, force: true });
  }
}

/**
 * The floor for ingest: read the file in the chunk size ingest uses, cut complete lines, decode
 * and JSON.parse each. Ingest must do this and more (normalize, insert, advance the cursor).
 * Returns the lines parsed, so the work cannot be optimised away.
 */
async function readAndParse(path: string): Promise<number> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(4 * 1024 * 1024);
    let carry = "";
    let lines = 0;
    for (let pos = 0; ; ) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      // Decoding up to the last newline keeps multi-byte characters whole, as ingest does.
      const cut = buf.subarray(0, bytesRead).lastIndexOf(0x0a) + 1;
      const text = carry + buf.toString("utf8", 0, cut);
      carry = buf.toString("utf8", cut, bytesRead);
      for (const line of text.split("\n")) {
        if (line && JSON.parse(line)) lines++;
      }
    }
    return lines;
  } finally {
    await fh.close();
  }
}

/**
 * Ingest MB/s against the floor of reading and parsing the same file, interleaved: each round
 * reads and parses the file once, then ingests it end to end (POST /v1/sessions/{name}/ingest,
 * in-process) into a database of its own, so no round inherits another's rows.
 */
export async function ingestBench(opts: { mb?: number; rounds?: number } = {}): Promise<{ rows: CliIngestRow[]; ratios: Record<string, number> }> {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-bench-ingest-"));
  const file = join(dir, "rollout.jsonl");
  const size = writeRollout(file, (opts.mb ?? 32) * 1024 * 1024);
  const mb = size / 1024 / 1024;
  let homes = 0;
  let lines = 0;
  try {
    const ingestOnce = async () => {
      const home = join(dir, `home-${homes++}`);
      const services = await openLocalServices({ home: { ...resolveHome({}, { home }), hostName: "bench" } });
      services.host = new NodeHost({ transcriptRoots: [dir] });
      const app = createApp(services);
      const call = async (path: string, body?: unknown) => {
        const res = await app.request(path, {
          method: "POST",
          headers: { Authorization: `Bearer ${services.ownerToken}`, ...(body ? { "Content-Type": "application/json" } : {}) },
          body: body ? JSON.stringify(body) : undefined,
        });
        if (res.status >= 300) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
        return res.json() as Promise<any>;
      };
      try {
        await call("/v1/sessions", { name: "big", role: "worker", codex_session: file });
        // Only the ingest is timed; opening and migrating the fresh database is not.
        const t0 = performance.now();
        const report = await call("/v1/sessions/big/ingest");
        const ms = performance.now() - t0;
        if (report.new_offset !== size) throw new Error(`ingested ${report.new_offset} of ${size} bytes`);
        if (report.new_lines !== lines) throw new Error(`ingest counted ${report.new_lines} lines, the floor parsed ${lines}`);
        return ms;
      } finally {
        services.database.close();
        rmSync(home, { recursive: true, force: true });
      }
    };
    const floor: number[] = [];
    const ingest: number[] = [];
    for (let i = -1; i < (opts.rounds ?? 3); i++) {
      const t0 = performance.now();
      lines = await readAndParse(file);
      const floorMs = performance.now() - t0;
      const ingestMs = await ingestOnce();
      if (i >= 0) {
        floor.push(floorMs);
        ingest.push(ingestMs);
      }
    }
    const floorRow: CliIngestRow = { ...latencyRow("ingest_floor_read_parse", `read + JSON.parse of a ${round(mb)} MB rollout (${lines} lines)`, floor) };
    const ingestRow: CliIngestRow = { ...latencyRow("ingest_vs_floor", `ingest of the same ${round(mb)} MB rollout into the db`, ingest) };
    floorRow.mb_per_s = round(mb / (floorRow.p50_ms / 1000));
    ingestRow.mb_per_s = round(mb / (ingestRow.p50_ms / 1000));
    const ratio = round(floorRow.p50_ms / ingestRow.p50_ms);
    ingestRow.target = { p50_ms: round(floorRow.p50_ms / INGEST_OVER_FLOOR_TARGET) };
    ingestRow.pass = ratio >= INGEST_OVER_FLOOR_TARGET;
    return { rows: [floorRow, ingestRow], ratios: { ingest_over_floor_throughput: ratio } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `--part cli` or `--part ingest` runs one half; the JSON keeps the other half's last figures. */
function partArg(argv: string[]): "all" | "cli" | "ingest" {
  return benchPart(argv, ["cli", "ingest"] as const) ?? "all";
}

async function main() {
  const part = partArg(process.argv.slice(2));
  const started = performance.now();
  const load = [loadavg()[0]!];
  const cold = part === "ingest" ? null : await coldStartBench({ runs: Number(process.env.CLI_RUNS ?? 15) });
  load.push(loadavg()[0]!);
  const ingest = part === "cli" ? null : await ingestBench({ mb: Number(process.env.INGEST_MB ?? 32), rounds: Number(process.env.INGEST_ROUNDS ?? 3) });
  load.push(loadavg()[0]!);
  if (!cold || !ingest) {
    // What the cold-start half found about conveyor and the bundle belongs to that half: a later
    // ingest-only run keeps it, a cli-only run replaces it.
    const own = cold ? { agent_conveyor: cold.conveyor, cli_bundle_built: cold.bundleBuilt } : {};
    return writePart(part as "cli" | "ingest", cold ?? ingest!, load, started, own);
  }
  const result = {
    recorded_at: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model ?? "unknown",
    // Sampled before, between and after the two halves: other work on the machine shows here.
    load_average_1m: load.map(round),
    total_seconds: round((performance.now() - started) / 1000),
    rows: [...cold.rows, ...ingest.rows],
    ratios: { ...cold.ratios, ...ingest.ratios },
    targets: { cli_over_node_at_most: CLI_OVER_NODE_TARGET, ingest_over_floor_at_least: INGEST_OVER_FLOOR_TARGET },
    agent_conveyor: cold.conveyor,
    cli_bundle_built: cold.bundleBuilt,
  };
  mkdirSync(RESULTS, { recursive: true });
  const tmp = join(RESULTS, "cli-ingest.tmp.json");
  writeFileSync(tmp, `${JSON.stringify(result, null, 2)}\n`);
  renameSync(tmp, join(RESULTS, "cli-ingest.json"));
  for (const r of result.rows) {
    const extra = r.mb_per_s === undefined ? "" : `  ${r.mb_per_s} MB/s`;
    const verdict = r.pass === undefined ? "" : r.pass ? "  ok" : `  NO (target p50 <= ${r.target!.p50_ms} ms)`;
    process.stdout.write(`${r.label.padEnd(64)} p50 ${r.p50_ms.toFixed(1).padStart(8)} ms  p99 ${r.p99_ms.toFixed(1).padStart(8)} ms${extra}${verdict}\n`);
  }
  process.stdout.write(
    `ratios: ${JSON.stringify(result.ratios)}\nconveyor: ${cold.conveyor.note}\nload ${result.load_average_1m.join(" / ")} on ${result.cpus} cpus; bench/results/cli-ingest.json\n`,
  );
}

/** The ids of the ingest half's rows; every other row belongs to the cold-start half. */
const INGEST_ROWS = new Set(["ingest_floor_read_parse", "ingest_vs_floor"]);

/**
 * Writes one half's rows and ratios into bench/results/cli-ingest.json, keeping the other half's
 * as last recorded, and the time and load of this run under `parts.<half>`.
 */
function writePart(
  part: "cli" | "ingest",
  res: { rows: CliIngestRow[]; ratios: Record<string, number> },
  load: number[],
  started: number,
  own: Record<string, unknown>,
): void {
  const path = join(RESULTS, "cli-ingest.json");
  let prev: any = {};
  try {
    prev = JSON.parse(readFileSync(path, "utf8"));
  } catch {}
  const mine = (id: string) => INGEST_ROWS.has(id) === (part === "ingest");
  const ratioMine = (k: string) => k.startsWith("ingest_") === (part === "ingest");
  const result = {
    ...prev,
    ...own,
    rows: [...(prev.rows ?? []).filter((r: CliIngestRow) => !mine(r.id)), ...res.rows],
    ratios: { ...Object.fromEntries(Object.entries(prev.ratios ?? {}).filter(([k]) => !ratioMine(k))), ...res.ratios },
    parts: {
      ...prev.parts,
      [part]: {
        recorded_at: new Date().toISOString(),
        node: process.version,
        // The top-level machine fields describe the last full run; a part may run elsewhere.
        cpus: cpus().length,
        cpu_model: cpus()[0]?.model ?? "unknown",
        load_average_1m: load.map(round),
        total_seconds: round((performance.now() - started) / 1000),
      },
    },
  };
  mkdirSync(RESULTS, { recursive: true });
  const tmp = join(RESULTS, "cli-ingest.tmp.json");
  writeFileSync(tmp, `${JSON.stringify(result, null, 2)}\n`);
  renameSync(tmp, path);
  for (const r of res.rows) {
    const extra = r.mb_per_s === undefined ? "" : `  ${r.mb_per_s} MB/s`;
    process.stdout.write(`${r.label.padEnd(64)} p50 ${r.p50_ms.toFixed(1).padStart(8)} ms  p99 ${r.p99_ms.toFixed(1).padStart(8)} ms${extra}\n`);
  }
  process.stdout.write(`ratios: ${JSON.stringify(res.ratios)}\nload ${load.map(round).join(" / ")}; bench/results/cli-ingest.json (${part} part)\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
