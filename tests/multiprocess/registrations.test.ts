import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../functions/lib/db.ts";
import { migrateDatabase } from "../../local-runner/migrate.ts";
import { go, spawnWorker, type WorkerProcess } from "../helpers/worker-process.ts";

const WORKER = fileURLToPath(new URL("./registration-worker.ts", import.meta.url));
const PROCESSES = 3;
const OPERATIONS = 500;
/** Hang guards, far above a normal run (5-15 s on a loaded 2-core box); results are never timed. */
const WATCHDOG_MS = 90_000;
const TEST_TIMEOUT_MS = 120_000;

type Line = { ready?: true; done?: true; kind?: string; id?: string; busy_retries?: number; failed?: number; message?: string };

type Worker = WorkerProcess<Line>;

/** Starts one writer process and collects every JSON line it prints. */
function startWorker(url: string, index: number, busyTimeoutMs: number, lanes: number): Worker {
  return spawnWorker<Line>(WORKER, [url, String(index), String(OPERATIONS), String(busyTimeoutMs), String(lanes)]);
}

let dir: string | undefined;
let database: Database | undefined;
const started: Worker[] = [];
afterEach(() => {
  for (const w of started.splice(0)) if (w.child.exitCode === null) w.child.kill("SIGKILL");
  database?.close();
  database = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

async function ids(db: Database, sql: string): Promise<string[]> {
  const rs = await db.client.execute(sql);
  return rs.rows.map((r) => String(r[0]));
}

describe("several OS processes writing one file database", () => {
  // A 1 ms busy timeout makes SQLite refuse the lock instead of waiting, so the reconnect-and-retry
  // path (libsql-client-ts#352) runs hundreds of times; 5000 ms is what production uses.
  // Four lanes per process put several statements in flight on one client when one lane's busy
  // error reconnects it.
  it.for([
    { label: "forced busy errors, 4 concurrent lanes per process", busyTimeoutMs: 1, lanes: 4, mustRetry: true },
    { label: "production busy timeout, 4 concurrent lanes per process", busyTimeoutMs: 5000, lanes: 4, mustRetry: false },
  ])("keeps every acknowledged registration and binding ($label)", { timeout: TEST_TIMEOUT_MS }, async ({ busyTimeoutMs, lanes, mustRetry }, { annotate }) => {
    dir = mkdtempSync(join(tmpdir(), "switchyard-mp-"));
    const url = `file:${join(dir, "switchyard.db")}`;
    database = await openDatabase({ url });
    await migrateDatabase(database);

    const workers = Array.from({ length: PROCESSES }, (_, i) => startWorker(url, i, busyTimeoutMs, lanes));
    started.push(...workers);
    await Promise.all(workers.map((w) => w.ready));
    go(workers);
    // A connection wedged by a busy error hangs its process rather than failing it; kill such a
    // process so the assertions below can say which worker stopped, and after how many writes.
    const watchdog = setTimeout(() => {
      for (const w of workers) if (w.child.exitCode === null) w.child.kill("SIGKILL");
    }, WATCHDOG_MS);
    const codes = await Promise.all(workers.map((w) => w.exit));
    clearTimeout(watchdog);

    for (const [i, w] of workers.entries()) {
      const outcome = {
        worker: i,
        code: codes[i],
        stderr: w.stderr.join(""),
        errors: w.lines.filter((l) => l.kind === "error").slice(0, 3),
        acknowledged: w.lines.filter((l) => l.id).length,
      };
      expect(outcome).toEqual({ worker: i, code: 0, stderr: "", errors: [], acknowledged: OPERATIONS });
      expect(w.lines.at(-1)).toMatchObject({ done: true, failed: 0 });
    }

    const acked = (kind: string) => workers.flatMap((w) => w.lines.filter((l) => l.kind === kind).map((l) => l.id!));
    const sessionsAcked = acked("session");
    const tasksAcked = acked("task");
    const bindingsAcked = acked("binding");
    const revokesAcked = acked("revoke");
    expect(sessionsAcked.length + tasksAcked.length + bindingsAcked.length + revokesAcked.length).toBe(PROCESSES * OPERATIONS);
    // No id was acknowledged twice.
    for (const list of [sessionsAcked, tasksAcked, bindingsAcked, revokesAcked]) expect(new Set(list).size).toBe(list.length);

    // Everything acknowledged is there, and nothing else is.
    const sort = (a: string[]) => [...a].sort();
    expect(sort(await ids(database, "SELECT id FROM sessions"))).toEqual(sort(sessionsAcked));
    expect(sort(await ids(database, "SELECT id FROM tasks"))).toEqual(sort(tasksAcked));
    expect(sort(await ids(database, "SELECT id FROM bindings WHERE state = 'active'"))).toEqual(sort(bindingsAcked));
    // The rows written in the same batch survived with them.
    expect(sort(await ids(database, "SELECT session_id FROM tokens WHERE kind = 'session'"))).toEqual(sort(sessionsAcked));
    expect(sort(await ids(database, "SELECT session_id FROM events WHERE kind = 'session_registered'"))).toEqual(sort(sessionsAcked));
    expect(sort(await ids(database, "SELECT task_id FROM events WHERE kind = 'task_created'"))).toEqual(sort(tasksAcked));
    expect(await ids(database, "SELECT count(*) FROM events WHERE kind = 'task_bound'")).toEqual([String(bindingsAcked.length)]);
    expect(sort(await ids(database, "SELECT id FROM tokens WHERE revoked_at IS NOT NULL"))).toEqual(sort(revokesAcked));
    expect(sort(await ids(database, "SELECT json_extract(payload_json, '$.token_id') FROM events WHERE kind = 'token_revoked'"))).toEqual(sort(revokesAcked));
    expect(await ids(database, "PRAGMA integrity_check")).toEqual(["ok"]);

    const busyRetries = workers.reduce((n, w) => n + (w.lines.at(-1)?.busy_retries ?? 0), 0);
    await annotate(`busy retries across ${PROCESSES} processes: ${busyRetries}`);
    if (mustRetry) expect(busyRetries).toBeGreaterThan(0);
  });
});
