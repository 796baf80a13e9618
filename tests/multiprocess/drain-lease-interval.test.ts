import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { Database } from "../../functions/lib/db.ts";
import { drainedWithin, enqueueNotifications } from "../helpers/queue-seed.ts";
import { useSharedFileDatabase } from "../helpers/shared-file-db.ts";
import { spawnWorker } from "../helpers/worker-process.ts";

/*
 * A drain lease's length must not grow with its holder's --interval. A dispatcher polling once a
 * minute, holding the lease, would otherwise keep a standby that polls every 50 ms off
 * database-only commands until its next pass — and, SIGKILLed, for three minutes. The bounds
 * below are liveness bounds far from both (the lease is 5 s; the minute is the failure).
 */

const WORKER = fileURLToPath(new URL("./planned-dispatch-worker.ts", import.meta.url));
const COMMANDS = 20;
type Line = { ready?: true; done?: true };

const shared = useSharedFileDatabase<Line>("drain-interval");
let database: Database | undefined;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const rows = async (sql: string, args: Array<string | number> = []) => (await database!.client.execute({ sql, args })).rows;

const enqueue = (prefix: string) => enqueueNotifications(database!, prefix, COMMANDS);

/** A dispatcher polling once a minute, with the loop's default drain lease, that has taken it. */
async function slowHolder(url: string) {
  const slow = spawnWorker<Line>(WORKER, [url, "slow-poller", "120000"], [], { WORKER_INTERVAL_MS: "60000" });
  shared.procs.push(slow);
  await slow.ready;
  for (let i = 0; i < 500 && (await rows("SELECT holder FROM dispatch_leases")).length === 0; i++) await sleep(20);
  expect((await rows("SELECT holder FROM dispatch_leases"))[0]?.holder).toBe("slow-poller");
  const fast = spawnWorker<Line>(WORKER, [url, "fast-poller", "120000"]);
  shared.procs.push(fast);
  await fast.ready;
  return { slow, fast };
}

describe("drain lease and a long --interval", () => {
  it("an idle holder that polls once a minute does not keep a fast standby off database-only commands", { timeout: 60_000 }, async () => {
    const opened = await shared.open();
    database = opened.database;
    const { fast } = await slowHolder(opened.url);
    await enqueue("idle");
    expect(await drainedWithin(database!, 20_000), "commands waited for the slow holder's next pass").toBe(true);
    expect((await rows("SELECT DISTINCT dispatcher_id FROM command_attempts")).map((r) => r.dispatcher_id)).toEqual(["fast-poller"]);
    fast.child.kill("SIGTERM");
    expect(await fast.exit).toBe(0);
  });

  it("a SIGKILLed holder that polled once a minute is replaced within the drain lease, not three minutes", { timeout: 60_000 }, async () => {
    const opened = await shared.open();
    database = opened.database;
    const { slow, fast } = await slowHolder(opened.url);
    slow.child.kill("SIGKILL");
    await slow.exit;
    await enqueue("killed");
    expect(await drainedWithin(database!, 20_000), "commands waited for the dead slow holder's lease").toBe(true);
    const effects = await rows(
      `SELECT json_extract(payload_json, '$.command_id') AS id, count(*) AS n FROM events WHERE kind = 'test_planned_effect' GROUP BY 1`,
    );
    expect(effects.filter((e) => Number(e.n) === 1)).toHaveLength(COMMANDS);
    fast.child.kill("SIGTERM");
    expect(await fast.exit).toBe(0);
  });
});
