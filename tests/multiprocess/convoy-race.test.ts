import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createConvoy } from "../../functions/convoys/create.ts";
import { makeCtx } from "../../functions/lib/ctx.ts";
import { openDatabase, type Database } from "../../functions/lib/db.ts";
import { createTask } from "../../functions/tasks/create.ts";
import { migrateDatabase } from "../../local-runner/migrate.ts";
import { spawnWorker, type WorkerProcess } from "../helpers/worker-process.ts";

const WORKER = fileURLToPath(new URL("./patrol-worker.ts", import.meta.url));
const TASKS = 50;
const FINISHERS = 5;
const CHECKERS = 2;

type Line = { ready?: true; done?: true; finished?: string; closed?: number };

let dir: string | undefined;
let database: Database | undefined;
const procs: Array<WorkerProcess<Line>> = [];
afterEach(() => {
  for (const p of procs.splice(0)) if (p.child.exitCode === null) p.child.kill("SIGKILL");
  database?.close();
  database = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe("convoy closing under a race", () => {
  it(`a convoy of ${TASKS} tasks finished concurrently by ${FINISHERS} processes (while ${CHECKERS} others check it) closes exactly once, after the last task`, async () => {
    dir = mkdtempSync(join(tmpdir(), "switchyard-convoy-race-"));
    const url = `file:${join(dir, "switchyard.db")}`;
    database = await openDatabase({ url });
    await migrateDatabase(database);
    const ctx = makeCtx({ database, hostName: "parent" }, { kind: "owner", tokenId: "tok_parent" });
    const names = Array.from({ length: TASKS }, (_, i) => `race-${i}`);
    for (const name of names) await createTask(ctx, { name });
    const { convoy_id } = await createConvoy(ctx, { title: "race", tracks: names });

    const finishers = Array.from({ length: FINISHERS }, (_, k) => spawnWorker<Line>(WORKER, [url, "finish", ...names.filter((_, i) => i % FINISHERS === k)]));
    const checkers = Array.from({ length: CHECKERS }, () => spawnWorker<Line>(WORKER, [url, "convoy-check", "150"]));
    const all = [...finishers, ...checkers];
    procs.push(...all);
    await Promise.all(all.map((p) => p.ready));
    for (const p of all) p.child.stdin!.end("go\n");
    const codes = await Promise.all(all.map((p) => p.exit));
    for (const [i, p] of all.entries()) expect({ i, code: codes[i], stderr: p.stderr.join("") }).toEqual({ i, code: 0, stderr: "" });
    expect(finishers.flatMap((p) => p.lines.filter((l) => l.finished))).toHaveLength(TASKS);

    const q = async (sql: string, args: string[] = []) => (await database!.client.execute({ sql, args })).rows;
    const [convoy] = await q("SELECT state, closed_at FROM convoys WHERE id = ?", [convoy_id]);
    expect(convoy!.state).toBe("closed");
    expect((await q("SELECT count(*) AS n FROM events WHERE kind = 'convoy_closed'"))[0]!.n).toBe(1);
    expect((await q("SELECT count(*) AS n FROM notifications WHERE kind = 'convoy_complete'"))[0]!.n).toBe(1);
    // Never half done: it closed no earlier than the last task finished.
    const [last] = await q("SELECT max(finished_at) AS t FROM tasks");
    expect(Number(convoy!.closed_at)).toBeGreaterThanOrEqual(Number(last!.t));
  }, 60_000);
});
