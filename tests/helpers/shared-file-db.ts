import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "vitest";
import { makeCtx } from "../../functions/lib/ctx.ts";
import { openDatabase, type Database } from "../../functions/lib/db.ts";
import { migrateDatabase } from "../../local-runner/migrate.ts";
import { commands } from "../../schema/commands.ts";
import type { WorkerProcess } from "./worker-process.ts";

/**
 * For tests in which several worker processes race on one database: `open()` makes a migrated
 * file database in a fresh temp dir (the workers open it by `url`) and an owner ctx over it for
 * the parent. Workers pushed on `procs` are SIGKILLed after each test, before the database is
 * closed and the dir removed. Call it at the top of a test file: it registers its own afterEach.
 */
export function useSharedFileDatabase<L extends { ready?: true }>(prefix: string) {
  let dir: string | undefined;
  let database: Database | undefined;
  const procs: Array<WorkerProcess<L>> = [];
  afterEach(() => {
    for (const p of procs.splice(0)) if (p.child.exitCode === null) p.child.kill("SIGKILL");
    database?.close();
    database = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  return {
    procs,
    async open() {
      dir = mkdtempSync(join(tmpdir(), `switchyard-${prefix}-`));
      const url = `file:${join(dir, "switchyard.db")}`;
      database = await openDatabase({ url });
      await migrateDatabase(database);
      const ctx = makeCtx({ database, hostName: "parent" }, { kind: "owner", tokenId: "tok_parent" });
      return { url, database, ctx };
    },
  };
}

/**
 * Queues `count` pending notify_manager commands (the database-only type the test dispatchers
 * execute) with ids `cmd_<prefix>_00000…` in creation order, 200 rows per insert.
 */
export async function enqueueNotifications(database: Database, prefix: string, count: number): Promise<void> {
  const base = Date.now();
  for (let start = 0; start < count; start += 200) {
    await database.db.insert(commands).values(
      Array.from({ length: Math.min(200, count - start) }, (_, k) => ({
        id: `cmd_${prefix}_${String(start + k).padStart(5, "0")}`,
        type: "notify_manager" as const,
        state: "pending" as const,
        payload: { n: start + k },
        createdBy: "owner:test",
        createdAt: base + start + k,
        updatedAt: base + start + k,
      })),
    );
  }
}
