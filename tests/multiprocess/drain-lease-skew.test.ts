import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { Database } from "../../functions/lib/db.ts";
import { drainedWithin, enqueueNotifications } from "../helpers/queue-seed.ts";
import { useSharedFileDatabase } from "../helpers/shared-file-db.ts";
import { spawnWorker } from "../helpers/worker-process.ts";

/*
 * A drain lease's expiry is written from its holder's clock. A holder on a host whose clock runs
 * ten minutes fast, SIGKILLed, leaves a lease that a correct clock reads as live for ten more
 * minutes; so does a row an operator edited by hand. Neither may stall database-only commands
 * while a dispatcher is running: the standby must drain them, each exactly once.
 */

const WORKER = fileURLToPath(new URL("./planned-dispatch-worker.ts", import.meta.url));
const COMMANDS = 60;
type Line = { ready?: true; done?: true };

const shared = useSharedFileDatabase<Line>("drain-skew");
let database: Database | undefined;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const rows = async (sql: string, args: Array<string | number> = []) => (await database!.client.execute({ sql, args })).rows;

const enqueue = (prefix: string) => enqueueNotifications(database!, prefix, COMMANDS);

/** Waits (a generous liveness bound, far below the ten minutes of the skew) for the queue to drain. */
const drained = () => drainedWithin(database!, 20_000);

async function exactlyOnce() {
  expect(await rows("SELECT state, count(*) AS n FROM commands GROUP BY state")).toEqual([expect.objectContaining({ state: "succeeded", n: COMMANDS })]);
  const effects = await rows(
    `SELECT json_extract(payload_json, '$.command_id') AS id, count(*) AS n FROM events WHERE kind = 'test_planned_effect' GROUP BY 1`,
  );
  expect(effects).toHaveLength(COMMANDS);
  expect(effects.filter((e) => Number(e.n) !== 1)).toEqual([]);
}

describe("drain lease and a clock that disagrees", () => {
  it("a SIGKILLed holder whose clock ran ten minutes fast does not stall database-only commands for a standby", { timeout: 60_000 }, async () => {
    const opened = await shared.open();
    database = opened.database;
    const fast = spawnWorker<Line>(WORKER, [opened.url, "fast-clock", "2000", "1000"], [], { WORKER_CLOCK_SKEW_MS: String(10 * 60_000) });
    shared.procs.push(fast);
    await fast.ready;
    for (let i = 0; i < 400 && (await rows("SELECT holder FROM dispatch_leases")).length === 0; i++) await sleep(20);
    const [lease] = await rows("SELECT holder, expires_at FROM dispatch_leases");
    expect(lease?.holder).toBe("fast-clock");
    // Ten minutes ahead of this (correct) clock.
    expect(Number(lease!.expires_at) - Date.now()).toBeGreaterThan(9 * 60_000);
    fast.child.kill("SIGKILL");
    await fast.exit;

    const standby = spawnWorker<Line>(WORKER, [opened.url, "right-clock", "2000", "1000"]);
    shared.procs.push(standby);
    await standby.ready;
    await enqueue("skew");
    expect(await drained(), "database-only commands stalled behind the dead fast-clock holder's lease").toBe(true);
    await exactlyOnce();
    expect((await rows("SELECT holder FROM dispatch_leases"))[0]?.holder).toBe("right-clock");
    standby.child.kill("SIGTERM");
    expect(await standby.exit).toBe(0);
    expect(standby.stderr.join("")).toBe("");
  });

  it("a lease row edited by hand to expire in the far future does not stall the running dispatcher", { timeout: 60_000 }, async () => {
    const opened = await shared.open();
    database = opened.database;
    await rows("INSERT INTO dispatch_leases (scope, holder, expires_at, taken_at) VALUES ('-|notify_manager', 'ghost', 9999999999999, 0)");
    const p = spawnWorker<Line>(WORKER, [opened.url, "live", "2000", "1000"]);
    shared.procs.push(p);
    await p.ready;
    await enqueue("edit");
    expect(await drained(), "database-only commands stalled behind a hand-edited lease").toBe(true);
    await exactlyOnce();
    p.child.kill("SIGTERM");
    expect(await p.exit).toBe(0);
  });
});
