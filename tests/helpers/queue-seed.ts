// Seeding and watching the command queue, for the multi-process tests and the dispatch benches
// alike (no vitest import, so a bench can load it).
import type { Database } from "../../functions/lib/db.ts";
import { commands } from "../../schema/commands.ts";

/**
 * Queues `count` pending notify_manager commands (the database-only type the test dispatchers
 * execute) with ids `cmd_<prefix>_0000000…` in creation order, 200 rows per insert.
 */
export async function enqueueNotifications(database: Database, prefix: string, count: number): Promise<void> {
  const base = Date.now();
  for (let start = 0; start < count; start += 200) {
    await database.db.insert(commands).values(
      Array.from({ length: Math.min(200, count - start) }, (_, k) => ({
        id: `cmd_${prefix}_${String(start + k).padStart(7, "0")}`,
        type: "notify_manager" as const,
        state: "pending" as const,
        payload: { n: start + k },
        createdBy: `owner:${prefix}`,
        createdAt: base + start + k,
        updatedAt: base + start + k,
      })),
    );
  }
}

/** How many commands have not succeeded yet. */
export async function openCommands(database: Database): Promise<number> {
  const [row] = (await database.client.execute("SELECT count(*) AS n FROM commands WHERE state <> 'succeeded'")).rows;
  return Number(row!.n);
}

/** Whether every command succeeded within `ms`, looking every 50 ms. */
export async function drainedWithin(database: Database, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if ((await openCommands(database)) === 0) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}
