import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "vitest";
import { makeCtx } from "../../functions/lib/ctx.ts";
import { openDatabase, type Database } from "../../functions/lib/db.ts";
import { migrateDatabase } from "../../local-runner/migrate.ts";
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
