import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { Database } from "../../functions/lib/db.ts";
import { enqueueNotifications, openCommands } from "../helpers/queue-seed.ts";
import { useSharedFileDatabase } from "../helpers/shared-file-db.ts";
import { spawnWorker, type WorkerProcess } from "../helpers/worker-process.ts";

/*
 * Database-only effects are planned for a whole claimed batch and committed with their outcomes
 * in one write (functions/queue/run.ts). Three dispatcher processes drain a queue of them while
 * the test SIGKILLs dispatchers that hold claimed but uncommitted batches and starts
 * replacements: the killed batches must come back after their lease and be delivered, each
 * effect exactly once, under the claim that recorded the command's success.
 */

const WORKER = fileURLToPath(new URL("./planned-dispatch-worker.ts", import.meta.url));
const PROCESSES = 3;
const COMMANDS = 2000;
const LEASE_MS = 2000;
/**
 * The dispatchers share a drain lease (only its holder claims these database-only commands), so
 * after a holder is killed nothing is claimed until its drain lease runs out; a short one keeps
 * those pauses short. drain-lease-crash.test.ts tests the takeover itself.
 */
const DRAIN_LEASE_MS = 1000;
const KILLS = 4;

type Line = { ready?: true; done?: true; processed?: number };

const shared = useSharedFileDatabase<Line>("planned-crash");
const procs = shared.procs;
let database: Database | undefined;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function rows(sql: string, args: Array<string | number> = []) {
  return (await database!.client.execute({ sql, args })).rows;
}

describe("batched database-only outcomes under kill -9", () => {
  it(`${PROCESSES} dispatchers, ${KILLS} of them SIGKILLed holding uncommitted batches: every command succeeds, every effect exactly once`, {
    timeout: 120_000,
  }, async ({ annotate }) => {
    const opened = await shared.open();
    database = opened.database;
    const { url } = opened;
    const db = opened.database;
    await enqueueNotifications(db, "planned", COMMANDS);

    let incarnation = 0;
    const live = new Map<string, WorkerProcess<Line>>();
    const ready = new Set<string>();
    const launch = () => {
      const id = `planned-${++incarnation}`;
      const p = spawnWorker<Line>(WORKER, [url, id, String(LEASE_MS), String(DRAIN_LEASE_MS)]);
      procs.push(p);
      live.set(id, p);
      return p.ready.then(() => ready.add(id));
    };
    await Promise.all(Array.from({ length: PROCESSES }, launch));

    // Kill only a dispatcher caught holding claims it has not committed: a batch mid-flight.
    const killedHolding: Array<{ id: string; held: number }> = [];
    const open = () => openCommands(db);
    const started = Date.now();
    while (killedHolding.length < KILLS && (await open()) > 0) {
      if (Date.now() - started > 60_000) throw new Error(`only ${killedHolding.length} kills in 60 s`);
      await sleep(100 + Math.random() * 200);
      const candidates = [...ready];
      if (candidates.length === 0) continue;
      const id = candidates[Math.floor(Math.random() * candidates.length)]!;
      const victim = live.get(id)!;
      victim.child.kill("SIGKILL");
      await victim.exit;
      live.delete(id);
      ready.delete(id);
      const held = Number((await rows("SELECT count(*) FROM commands WHERE state = 'running' AND claimed_by = ?", [id]))[0]![0]);
      if (held > 0) killedHolding.push({ id, held });
      // The replacement starts while the others go on, as a supervisor would restart it.
      void launch();
    }
    expect(killedHolding).toHaveLength(KILLS);
    while ((await open()) > 0) {
      if (Date.now() - started > 100_000) throw new Error(`queue not drained: ${await open()} open`);
      await sleep(200);
    }
    await Promise.all([...live.values()].map((p) => p.ready));
    for (const p of live.values()) p.child.kill("SIGTERM");
    const codes = await Promise.all([...live.values()].map((p) => p.exit));
    expect(codes).toEqual([...live.values()].map(() => 0));
    for (const p of live.values()) expect(p.stderr.join("")).toBe("");

    // Nothing lost: every command succeeded.
    expect(await rows("SELECT state, count(*) AS n FROM commands GROUP BY state")).toEqual([expect.objectContaining({ state: "succeeded", n: COMMANDS })]);
    // Nothing doubled: exactly one effect per command, written under the generation that succeeded.
    const effects = await rows(
      `SELECT json_extract(payload_json, '$.command_id') AS id, count(*) AS n, max(json_extract(payload_json, '$.generation')) AS gen
       FROM events WHERE kind = 'test_planned_effect' GROUP BY 1`,
    );
    expect(effects).toHaveLength(COMMANDS);
    const generation = new Map((await rows("SELECT id, claim_generation FROM commands")).map((r) => [String(r.id), Number(r.claim_generation)]));
    const problems = effects.filter((e) => Number(e.n) !== 1 || Number(e.gen) !== generation.get(String(e.id)));
    expect(problems).toEqual([]);
    // Every command has exactly one started attempt: the one that committed.
    expect(await rows("SELECT command_id FROM command_attempts GROUP BY command_id HAVING sum(side_effect_started) <> 1")).toEqual([]);
    // The killed batches came back through their lease: claimed, never started, closed by the sweep.
    for (const k of killedHolding) {
      const lapsed = await rows(
        "SELECT count(*) AS n FROM command_attempts WHERE dispatcher_id = ? AND side_effect_started = 0 AND error LIKE 'lease expired%'",
        [k.id],
      );
      expect(Number(lapsed[0]!.n), `dispatcher ${k.id} held ${k.held}`).toBeGreaterThanOrEqual(k.held);
    }
    expect((await rows("PRAGMA integrity_check"))[0]![0]).toBe("ok");
    await annotate(
      `${COMMANDS} commands drained in ${((Date.now() - started) / 1000).toFixed(1)} s; killed holding ${killedHolding.map((k) => k.held).join(", ")} uncommitted claims`,
    );
  });
});
