import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { Database } from "../../functions/lib/db.ts";
import { enqueueNotifications, openCommands } from "../helpers/queue-seed.ts";
import { useSharedFileDatabase } from "../helpers/shared-file-db.ts";
import { spawnWorker, type WorkerProcess } from "../helpers/worker-process.ts";

/*
 * The drain lease (functions/queue/drain-lease.ts): of several dispatcher processes on one
 * database, only the lease holder claims database-only commands; the others stand by. Three
 * real dispatcher loops drain a queue of database-only effects while the test SIGKILLs the lease
 * holder mid-drain, twice: each time a standby must take the drain over — only after the dead
 * holder's lease ran out — and the killed holder's claimed batch must come back after its claim
 * lease and be delivered. Every command succeeds, every effect exactly once.
 */

const WORKER = fileURLToPath(new URL("./planned-dispatch-worker.ts", import.meta.url));
const PROCESSES = 3;
const COMMANDS = 600;
const LEASE_MS = 2000;
const DRAIN_LEASE_MS = 1000;
/** `off` runs the same test without drain leases (it must then fail: every dispatcher claims). */
const DRAIN = process.env.DRAIN_LEASE_TEST_MODE === "off" ? "off" : String(DRAIN_LEASE_MS);

type Line = { ready?: true; done?: true; processed?: number };

const shared = useSharedFileDatabase<Line>("drain-lease");
let database: Database | undefined;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function rows(sql: string, args: Array<string | number> = []) {
  return (await database!.client.execute({ sql, args })).rows;
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe("drain lease under kill -9", () => {
  it(`${PROCESSES} dispatchers: only the lease holder claims; two holders SIGKILLed mid-drain are each replaced by a standby after their lease; every effect exactly once`, {
    timeout: 120_000,
  }, async ({ annotate }) => {
    const opened = await shared.open();
    database = opened.database;
    await enqueueNotifications(database, "drain", COMMANDS);
    const live = new Map<string, WorkerProcess<Line>>();
    for (let i = 1; i <= PROCESSES; i++) {
      const id = `drain-${i}`;
      const p = spawnWorker<Line>(WORKER, [opened.url, id, String(LEASE_MS), DRAIN]);
      shared.procs.push(p);
      live.set(id, p);
    }
    await Promise.all([...live.values()].map((p) => p.ready));
    const open = () => openCommands(opened.database);
    const claimers = async () => (await rows("SELECT DISTINCT dispatcher_id FROM command_attempts ORDER BY 1")).map((r) => String(r.dispatcher_id));
    const lease = async () => (await rows("SELECT holder, expires_at, taken_at FROM dispatch_leases"))[0];

    const killed: Array<{ id: string; held: number; expiresAt: number }> = [];
    const holders: string[] = [];
    for (let k = 0; k < 2; k++) {
      // A holder that is mid-drain: it holds claims whose outcomes are not committed yet.
      const { holder, expiresAt } = await until(`a drain holder with claims (round ${k + 1})`, async () => {
        const l = await lease();
        if (!l || killed.some((x) => x.id === l.holder)) return null;
        const held = Number((await rows("SELECT count(*) FROM commands WHERE state = 'running' AND claimed_by = ?", [String(l.holder)]))[0]![0]);
        return held > 0 && (await open()) > 100 ? { holder: String(l.holder), expiresAt: Number(l.expires_at) } : null;
      });
      holders.push(holder);
      // While it lived, it was the only claimer since the previous holder died.
      expect(await claimers()).toEqual([...holders].sort());
      const victim = live.get(holder)!;
      victim.child.kill("SIGKILL");
      await victim.exit;
      live.delete(holder);
      const held = Number((await rows("SELECT count(*) FROM commands WHERE state = 'running' AND claimed_by = ?", [holder]))[0]![0]);
      // Its last renewal may have committed after the read above: the lease it died with.
      const died = await lease();
      killed.push({ id: holder, held, expiresAt: died && String(died.holder) === holder ? Number(died.expires_at) : expiresAt });
    }
    const started = Date.now();
    await until("the queue drained", async () => (await open()) === 0, 60_000);
    const last = await lease();
    holders.push(String(last!.holder));
    for (const p of live.values()) p.child.kill("SIGTERM");
    const codes = await Promise.all([...live.values()].map((p) => p.exit));
    expect(codes).toEqual([...live.values()].map(() => 0));
    for (const p of live.values()) expect(p.stderr.join("")).toBe("");

    // Three holders in turn, each a different process; the last one released its lease on SIGTERM.
    expect(new Set(holders).size).toBe(3);
    expect(await claimers()).toEqual([...holders].sort());
    expect(await rows("SELECT count(*) AS n FROM dispatch_leases")).toEqual([expect.objectContaining({ n: 0 })]);
    // Each standby took the drain over only once the dead holder's lease had run out.
    for (const [k, dead] of killed.entries()) {
      const next = holders[k + 1]!;
      const first = Number((await rows("SELECT min(started_at) AS t FROM command_attempts WHERE dispatcher_id = ?", [next]))[0]!.t);
      expect(first, `${next} claimed before ${dead.id}'s lease ran out`).toBeGreaterThanOrEqual(dead.expiresAt);
      // The dead holder's claimed batch came back through its claim lease: never started, closed by the sweep.
      const lapsed = await rows(
        "SELECT count(*) AS n FROM command_attempts WHERE dispatcher_id = ? AND side_effect_started = 0 AND error LIKE 'lease expired%'",
        [dead.id],
      );
      expect(Number(lapsed[0]!.n), `dispatcher ${dead.id} held ${dead.held}`).toBeGreaterThanOrEqual(dead.held);
    }
    // Nothing lost, nothing doubled.
    expect(await rows("SELECT state, count(*) AS n FROM commands GROUP BY state")).toEqual([expect.objectContaining({ state: "succeeded", n: COMMANDS })]);
    const effects = await rows(
      `SELECT json_extract(payload_json, '$.command_id') AS id, count(*) AS n, max(json_extract(payload_json, '$.generation')) AS gen
       FROM events WHERE kind = 'test_planned_effect' GROUP BY 1`,
    );
    expect(effects).toHaveLength(COMMANDS);
    const generation = new Map((await rows("SELECT id, claim_generation FROM commands")).map((r) => [String(r.id), Number(r.claim_generation)]));
    expect(effects.filter((e) => Number(e.n) !== 1 || Number(e.gen) !== generation.get(String(e.id)))).toEqual([]);
    expect(await rows("SELECT command_id FROM command_attempts GROUP BY command_id HAVING sum(side_effect_started) <> 1")).toEqual([]);
    expect((await rows("PRAGMA integrity_check"))[0]![0]).toBe("ok");
    await annotate(
      `holders in turn: ${holders.join(" → ")}; killed holding ${killed.map((k) => k.held).join(", ")}; drained ${Date.now() - started} ms after the second kill`,
    );
  });
});
