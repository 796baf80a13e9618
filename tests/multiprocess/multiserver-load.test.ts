import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, loadRun, startCluster } from "../../bench/multiserver.ts";

/**
 * The multi-server load of bench/multiserver.ts, short: three `switchyard up` processes (one with
 * the crons, two with --no-cron) on one database file, and a second OS process driving 50
 * autocannon clients that mix task cycles, inbox long polls, enqueues and consumes across all
 * three for 5 s while the bound worker's transcript grows. Then, from the clients' answers and
 * from the database: every acknowledged enqueue consumed exactly once (one audit row each),
 * nothing handed out twice or out of nowhere, no error, and every transcript line ingested as
 * exactly one event although cycles on three servers race for it. Throughput and latency are the
 * bench's (docs/benchmarks.md); nothing here is timed.
 */

let cluster: Cluster;

// Three servers start one after another (the first creates the owner token the others adopt);
// on two busy cores that alone can take most of a minute.
beforeAll(async () => {
  cluster = await startCluster(3);
}, 180_000);

afterAll(async () => {
  await cluster?.close();
});

describe("three servers on one database under a mixed load from another process", () => {
  it("loses, duplicates and invents no inbox item and ingests each transcript line once", { timeout: 120_000 }, async () => {
    const { report, verdict } = await loadRun(cluster, 5);
    // The load really ran on every server and every kind of operation.
    expect(report.instances.map((i) => i.url).sort()).toEqual([...cluster.urls, ...cluster.urls].sort());
    for (const op of ["enqueue", "consume", "poll", "cycle"]) expect(report.ops[op] ?? 0).toBeGreaterThan(0);
    expect(verdict.sent).toBeGreaterThan(0);
    // Consumes whose answers autocannon cut off at the end are in the database only, so the
    // clients' count may fall short of it, never exceed it.
    expect(verdict.consumed_during_load + verdict.drained_after).toBeLessThanOrEqual(verdict.items_in_db);
    expect(verdict.items_in_db).toBeGreaterThanOrEqual(verdict.sent);
    expect(verdict.transcript_lines).toBeGreaterThan(0);
    expect(verdict.must_be_zero).toEqual({
      lost: 0,
      duplicated: 0,
      phantom: 0,
      errors: 0,
      non2xx: 0,
      timeouts: 0,
      pending_in_db: 0,
      ingest_mismatch: 0,
    });
  });
});
