import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createConvoy } from "../../functions/convoys/create.ts";
import { createTask } from "../../functions/tasks/create.ts";
import { useSharedFileDatabase } from "../helpers/shared-file-db.ts";
import { go, spawnWorker } from "../helpers/worker-process.ts";

const WORKER = fileURLToPath(new URL("./patrol-worker.ts", import.meta.url));
const TASKS = 50;
const FINISHERS = 5;
const CHECKERS = 2;

type Line = { ready?: true; done?: true; finished?: string; closed?: number };

const shared = useSharedFileDatabase<Line>("convoy-race");

describe("convoy closing under a race", () => {
  it(`a convoy of ${TASKS} tasks finished concurrently by ${FINISHERS} processes (while ${CHECKERS} others check it) closes exactly once, after the last task`, async () => {
    const { url, database, ctx } = await shared.open();
    const names = Array.from({ length: TASKS }, (_, i) => `race-${i}`);
    for (const name of names) await createTask(ctx, { name });
    const { convoy_id } = await createConvoy(ctx, { title: "race", tracks: names });

    const finishers = Array.from({ length: FINISHERS }, (_, k) => spawnWorker<Line>(WORKER, [url, "finish", ...names.filter((_, i) => i % FINISHERS === k)]));
    const checkers = Array.from({ length: CHECKERS }, () => spawnWorker<Line>(WORKER, [url, "convoy-check", "150"]));
    const all = [...finishers, ...checkers];
    shared.procs.push(...all);
    await Promise.all(all.map((p) => p.ready));
    go(all);
    const codes = await Promise.all(all.map((p) => p.exit));
    for (const [i, p] of all.entries()) expect({ i, code: codes[i], stderr: p.stderr.join("") }).toEqual({ i, code: 0, stderr: "" });
    expect(finishers.flatMap((p) => p.lines.filter((l) => l.finished))).toHaveLength(TASKS);

    const q = async (sql: string, args: string[] = []) => (await database.client.execute({ sql, args })).rows;
    const [convoy] = await q("SELECT state, closed_at FROM convoys WHERE id = ?", [convoy_id]);
    expect(convoy!.state).toBe("closed");
    expect((await q("SELECT count(*) AS n FROM events WHERE kind = 'convoy_closed'"))[0]!.n).toBe(1);
    expect((await q("SELECT count(*) AS n FROM notifications WHERE kind = 'convoy_complete'"))[0]!.n).toBe(1);
    // Never half done: it closed no earlier than the last task finished.
    const [last] = await q("SELECT max(finished_at) AS t FROM tasks");
    expect(Number(convoy!.closed_at)).toBeGreaterThanOrEqual(Number(last!.t));
  }, 60_000);
});
