import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { feedTelemetry } from "../../functions/telemetry/feed.ts";
import { useSharedFileDatabase } from "../helpers/shared-file-db.ts";
import { go, spawnWorker, type WorkerProcess } from "../helpers/worker-process.ts";

/*
 * Audit events reach telemetry through a queue that any process may feed (functions/telemetry/
 * feed.ts). Three processes write events and feed the queue at once while the test SIGKILLs
 * feeders in the middle of a feed and starts replacements: every committed event must end up
 * with exactly one telemetry row, in the order the events were written, and the queue empty.
 */

const WORKER = fileURLToPath(new URL("./telemetry-feed-worker.ts", import.meta.url));
const PROCESSES = 3;
const EVENTS = 2400;
const KILLS = 3;

type Line = { ready?: true; feeding?: true; fed?: number; done?: true };

const shared = useSharedFileDatabase<Line>("telemetry-feed");

describe("the telemetry feed under kill -9", () => {
  it(`${PROCESSES} writers feeding at once, ${KILLS} SIGKILLed mid-feed: one telemetry row per committed event, in order`, { timeout: 120_000 }, async ({
    annotate,
  }) => {
    const { url, database, ctx } = await shared.open();
    const rows = async (sql: string) => (await database.client.execute(sql)).rows;

    let incarnation = 0;
    let kills = 0;
    let killedBeforeFed = 0;
    const running = new Set<WorkerProcess<Line>>();
    const launch = async () => {
      const p = spawnWorker<Line>(WORKER, [url, `feeder-${++incarnation}`, String(EVENTS)]);
      shared.procs.push(p);
      running.add(p);
      await p.ready;
      go([p]);
      void p.exit.then(() => running.delete(p));
      return p;
    };
    await Promise.all(Array.from({ length: PROCESSES }, launch));

    // Kill whichever worker announces a feed next, as soon as the line arrives.
    while (kills < KILLS) {
      const victim = [...running].find((p) => p.lines.at(-1)?.feeding);
      if (!victim) {
        if (running.size === 0) break;
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      victim.child.kill("SIGKILL");
      await victim.exit;
      kills++;
      if (victim.lines.at(-1)?.feeding) killedBeforeFed++;
      await launch();
    }
    await Promise.all([...running].map((p) => p.exit));

    // Whatever the killed feeders left queued is fed now, as the cron or a reader would.
    await feedTelemetry(ctx, { maxBatches: Number.POSITIVE_INFINITY });

    const [events] = await rows("SELECT count(*) AS n FROM events WHERE kind = 'test_feed'");
    const [telemetry] = await rows("SELECT count(*) AS n, count(DISTINCT ref_id) AS refs FROM telemetry_events WHERE source = 'audit' AND kind = 'test_feed'");
    const missing = await rows(
      "SELECT e.id FROM events e LEFT JOIN telemetry_events t ON t.ref_id = e.id AND t.source = 'audit' WHERE e.kind = 'test_feed' AND t.id IS NULL LIMIT 5",
    );
    // Telemetry ids follow the events' write order: no feed skipped ahead of an older queued event.
    const order = await rows(
      "SELECT count(*) AS n FROM (SELECT e.rowid AS r, lag(e.rowid) OVER (ORDER BY t.id) AS prev FROM telemetry_events t JOIN events e ON e.id = t.ref_id WHERE t.source = 'audit' AND e.kind = 'test_feed') WHERE prev > r",
    );
    const [queued] = await rows("SELECT count(*) AS n FROM telemetry_pending");
    annotate(`${Number(events!.n)} events committed; ${kills} kills, ${killedBeforeFed} before the feed's "fed" line`);

    expect(kills).toBe(KILLS);
    expect(killedBeforeFed).toBeGreaterThan(0);
    expect(Number(events!.n)).toBeGreaterThan(EVENTS * PROCESSES * 0.5);
    expect(missing).toEqual([]);
    expect(Number(telemetry!.n)).toBe(Number(events!.n));
    expect(Number(telemetry!.refs)).toBe(Number(events!.n));
    expect(Number(order[0]!.n)).toBe(0);
    expect(Number(queued!.n)).toBe(0);
  });
});
