import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../functions/lib/db.ts";
import { migrateDatabase } from "../../local-runner/migrate.ts";
import { commands } from "../../schema/commands.ts";

/**
 * 4 dispatcher OS processes drain 20,000 queued commands (5,000 per process) from one file
 * database while the test SIGKILLs dispatchers at random and starts replacements. Leases are 3 s
 * so a killed dispatcher's claims come back quickly; under load a live but slow dispatcher also
 * loses leases mid-batch, which exercises the stale-generation paths. Most of the run time is
 * SQLite's single writer lock shared by four processes (see docs/benchmarks.md). The side
 * effect appends "<command_id> <generation>" to a log, so afterwards the log and the database
 * can be held against each other: nothing lost, nothing left in flight, and no side effect run
 * twice for one claim or after its claim was lost.
 */

const WORKER = fileURLToPath(new URL("./dispatch-worker.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PROCESSES = 4;
const COMMANDS = 20_000;
const LEASE_MS = 3000;
const MAX_KILLS = 8;
const MAX_ATTEMPTS = 3;

interface Proc {
  id: string;
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  exit: Promise<number | null>;
}

let dir: string | undefined;
let database: Database | undefined;
const procs: Proc[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
  database?.close();
  database = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function startDispatcher(url: string, id: string, log: string): Proc {
  const child = spawn(process.execPath, ["--import", "tsx", WORKER, url, id, log, String(LEASE_MS)], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const p: Proc = { id, child, stdout: [], stderr: [], exit: new Promise((r) => child.once("exit", (code) => r(code))) };
  child.stdout!.setEncoding("utf8").on("data", (d: string) => p.stdout.push(d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => p.stderr.push(d));
  procs.push(p);
  return p;
}

/** What each seeded command is told to do, by index. */
function kind(i: number): "invalid" | "always_fails" | "fails_once" | "plain" {
  if (i % 100 === 0) return "invalid";
  if (i % 100 === 1) return "always_fails";
  if (i % 50 === 2) return "fails_once";
  return "plain";
}

async function seed(db: Database) {
  const base = Date.now();
  for (let start = 0; start < COMMANDS; start += 200) {
    const rows = Array.from({ length: Math.min(200, COMMANDS - start) }, (_, k) => {
      const i = start + k;
      const k_ = kind(i);
      const payload = k_ === "invalid" ? { n: "not a number" } : { n: i, fail_through: k_ === "always_fails" ? 99 : k_ === "fails_once" ? 1 : 0 };
      return {
        id: `cmd_chaos_${String(i).padStart(6, "0")}`,
        type: "notify_manager" as const,
        state: "pending" as const,
        payload,
        maxAttempts: MAX_ATTEMPTS,
        createdBy: "owner:chaos",
        createdAt: base + i,
        updatedAt: base + i,
      };
    });
    await db.db.insert(commands).values(rows);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function scalar(db: Database, sql: string): Promise<number> {
  return Number((await db.client.execute(sql)).rows[0]![0]);
}

describe("dispatchers under kill -9", () => {
  it("drains 20,000 commands with 4 processes and random SIGKILLs: none lost, none in flight, no side effect run twice", { timeout: 280_000 }, async ({
    annotate,
  }) => {
    dir = mkdtempSync(join(tmpdir(), "switchyard-chaos-"));
    const url = `file:${join(dir, "switchyard.db")}`;
    const log = join(dir, "side-effects.log");
    database = await openDatabase({ url });
    await migrateDatabase(database);
    await seed(database);

    let incarnation = 0;
    const live = new Map<string, Proc>();
    const launch = () => {
      const p = startDispatcher(url, `chaos-${++incarnation}`, log);
      live.set(p.id, p);
    };
    for (let i = 0; i < PROCESSES; i++) launch();

    const started = Date.now();
    const open = () => scalar(database!, "SELECT count(*) FROM commands WHERE state NOT IN ('succeeded', 'dead', 'ambiguous')");
    let kills = 0;
    while ((await open()) > 0) {
      if (Date.now() - started > 230_000) throw new Error(`queue not drained after 230 s: ${await open()} open`);
      await sleep(400 + Math.random() * 800);
      if (kills < MAX_KILLS) {
        // Kill one live dispatcher mid-run and start a replacement, as a supervisor would.
        const victims = [...live.values()];
        const victim = victims[Math.floor(Math.random() * victims.length)]!;
        victim.child.kill("SIGKILL");
        live.delete(victim.id);
        await victim.exit;
        kills++;
        launch();
      }
    }
    const drainedSeconds = (Date.now() - started) / 1000;
    for (const p of live.values()) p.child.kill("SIGTERM");
    const codes = await Promise.all([...live.values()].map((p) => p.exit));
    expect(codes).toEqual([...live.values()].map(() => 0));
    for (const p of live.values()) expect(p.stderr.join("")).toBe("");

    // Nothing lost, nothing left in flight.
    expect(await scalar(database, "SELECT count(*) FROM commands")).toBe(COMMANDS);
    const states = Object.fromEntries(
      (await database.client.execute("SELECT state, count(*) FROM commands GROUP BY state")).rows.map((r) => [String(r[0]), Number(r[1])]),
    );
    expect(Object.keys(states).every((s) => ["succeeded", "dead", "ambiguous"].includes(s))).toBe(true);

    // Every side effect ran under a claim that had recorded side_effect_started, at most once per
    // claim; a command ran more than once only after an attempt that finished (a reported failure).
    const lines = existsSync(log) ? readFileSync(log, "utf8").trim().split("\n").filter(Boolean) : [];
    const seen = new Set<string>();
    const perCommand = new Map<string, number[]>();
    for (const line of lines) {
      expect(seen.has(line), `side effect repeated: ${line}`).toBe(false);
      seen.add(line);
      const [id, gen] = line.split(" ");
      perCommand.set(id!, [...(perCommand.get(id!) ?? []), Number(gen)]);
    }
    const attempts = await database.client.execute("SELECT command_id, claim_generation, side_effect_started, finished_at, error FROM command_attempts");
    const attemptByKey = new Map(attempts.rows.map((r) => [`${r.command_id} ${r.claim_generation}`, r]));
    for (const line of lines) expect(attemptByKey.get(line)?.side_effect_started, `no started attempt for ${line}`).toBe(1);

    const rows = await database.client.execute("SELECT id, state, claim_generation, attempts FROM commands");
    const problems: string[] = [];
    for (const r of rows.rows) {
      const id = String(r.id);
      const gens = (perCommand.get(id) ?? []).sort((a, b) => a - b);
      const k = kind(Number(id.slice("cmd_chaos_".length)));
      // Each earlier run of a command must have been reported failed before the next one began.
      for (const g of gens.slice(0, -1))
        if (attemptByKey.get(`${id} ${g}`)?.error !== "chaos: told to fail") problems.push(`${id}: run at generation ${g} repeated without a reported failure`);
      if (r.state === "succeeded" && gens.at(-1) !== Number(r.claim_generation))
        problems.push(`${id}: succeeded at generation ${r.claim_generation} but log says ${gens}`);
      if (k === "invalid" && (r.state !== "dead" || gens.length > 0)) problems.push(`${id}: invalid payload ended ${r.state} with ${gens.length} side effects`);
      if (k === "plain" && gens.length > 1) problems.push(`${id}: plain command ran ${gens.length} times`);
      if (k === "always_fails" && r.state === "succeeded") problems.push(`${id}: always-failing command succeeded`);
    }
    expect(problems).toEqual([]);
    expect(
      await scalar(
        database,
        "SELECT count(*) FROM commands c WHERE state = 'dead' AND id LIKE '%00' AND EXISTS (SELECT 1 FROM command_attempts a WHERE a.command_id = c.id AND a.side_effect_started = 1)",
      ),
    ).toBe(0);
    expect((await database.client.execute("PRAGMA integrity_check")).rows[0]![0]).toBe("ok");

    const stopped = await scalar(database, "SELECT count(*) FROM dispatchers WHERE state = 'stopped'");
    expect(stopped).toBe(live.size);
    await annotate(
      `${COMMANDS} commands drained in ${drainedSeconds.toFixed(1)} s by ${incarnation} dispatcher processes (${kills} SIGKILLed); states ${JSON.stringify(states)}; ${lines.length} side effects`,
    );
    expect(kills).toBeGreaterThan(0);
  });
});
