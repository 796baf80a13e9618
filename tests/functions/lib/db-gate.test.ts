import { createClient } from "@libsql/client";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tasks } from "../../../schema/tasks.ts";
import { openDatabase, withWriteTransaction } from "../../../functions/lib/db.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const row = (name: string) => ({ id: `tsk_${name}`, name, state: "active" as const, createdAt: 1, updatedAt: 1 });

describe("one process, an open transaction and another write", () => {
  it("queues the write behind the transaction instead of blocking on SQLite's lock", async () => {
    const db = env.services.database.db;
    const before = env.services.database.busyRetries();
    let releaseTx!: () => void;
    const txHeld = new Promise<void>((r) => (releaseTx = r));
    const order: string[] = [];
    const tx = withWriteTransaction(db, async (t) => {
      await t.insert(tasks).values(row("in-tx"));
      await txHeld;
      order.push("tx-commit");
    });
    // Give the transaction time to take the write lock, then write outside it.
    await new Promise((r) => setTimeout(r, 50));
    const outside = db
      .insert(tasks)
      .values(row("outside"))
      .then(() => order.push("outside-done"));
    // A read does not wait for the writer.
    const names = await db.select({ name: tasks.name }).from(tasks);
    expect(names).toEqual([]);
    releaseTx();
    await Promise.all([tx, outside]);
    expect(order).toEqual(["tx-commit", "outside-done"]);
    expect((await db.select({ name: tasks.name }).from(tasks)).map((r) => r.name).sort()).toEqual(["in-tx", "outside"]);
    // Before the gate this stalled for the busy timeout and then reconnected under the transaction.
    expect(env.services.database.busyRetries()).toBe(before);
  });
});

describe("a write behind transactions opened back to back", () => {
  it("goes before the transactions that came after it, instead of waiting until they stop", async () => {
    const client = env.services.database.client;
    await client.execute("CREATE TABLE lanes (id INTEGER PRIMARY KEY, who TEXT)");
    let stop = false;
    let committed = 0;
    // Two lanes, each opening its next transaction as soon as the last one ends.
    const lane = async (name: string) => {
      while (!stop) {
        const tx = await client.transaction("write");
        await tx.execute({ sql: "INSERT INTO lanes (who) VALUES (?)", args: [name] });
        await new Promise((r) => setTimeout(r, 2));
        await tx.commit();
        committed++;
      }
    };
    const lanes = [lane("a"), lane("b")];
    await new Promise((r) => setTimeout(r, 100));
    const before = committed;
    await client.batch(["INSERT INTO lanes (who) VALUES ('batch')"], "write");
    const waitedFor = committed - before;
    stop = true;
    await Promise.all(lanes);
    // It waited for the transactions open or queued when it came (at most a few), not for the
    // lanes to stop, which they only do once it is done.
    expect(waitedFor).toBeLessThan(10);
    expect((await client.execute("SELECT count(*) AS n FROM lanes WHERE who = 'batch'")).rows[0]!.n).toBe(1);
  });
});

/** Holds the write lock of the file at argv[1] for argv[2] ms in a process of its own, inserting 'holder'. */
const HOLD = `const D = require("libsql"); const db = new D(process.argv[1]);
db.exec("BEGIN IMMEDIATE"); db.exec("INSERT INTO t (who) VALUES ('holder')"); process.stdout.write("locked\\n");
setTimeout(() => { db.exec("COMMIT"); db.close(); }, Number(process.argv[2]));`;

describe("a write whose first attempt found the lock held by another process", () => {
  let dir = "";
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "switchyard-db-retry-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Resolves once the holder has the lock, to its exit; `kill` ends it early (its insert rolls back). */
  async function holdLock(path: string, ms: number): Promise<{ exited: Promise<void>; kill: () => void }> {
    const holder = spawn(process.execPath, ["-e", HOLD, path, String(ms)], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
    const exited = new Promise<void>((r) => holder.once("exit", () => r()));
    await new Promise<void>((r) => holder.stdout!.once("data", () => r()));
    return { exited, kill: () => holder.kill("SIGKILL") };
  }

  it("runs a batch of reads only beside another process's writer, without waiting for its lock", async () => {
    const path = join(dir, "r.db");
    const database = await openDatabase({ url: `file:${path}`, timeoutMs: 60_000 });
    try {
      await database.client.executeMultiple("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT); INSERT INTO t (who) VALUES ('before');");
      // The holder commits its row when it lets go: a batch that waited for the lock (a write
      // batch on the kept connection waits synchronously) would read that row too.
      const held = await holdLock(path, 3000);
      const [rows, count] = await database.client.batch(["SELECT who FROM t", { sql: "SELECT count(*) AS n FROM t WHERE who = ?", args: ["before"] }]);
      expect(rows!.rows.map((r) => r[0])).toEqual(["before"]);
      expect(count!.rows[0]!.n).toBe(1);
      expect(database.busyRetries()).toBe(0);
      held.kill();
      await held.exited;
    } finally {
      database.close();
    }
  });

  it("retries only behind a transaction this process opened meanwhile, which keeps its work", async () => {
    const path = join(dir, "a.db");
    const database = await openDatabase({ url: `file:${path}`, timeoutMs: 200 });
    try {
      await database.client.executeMultiple("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)");
      const held = await holdLock(path, 350);
      const batch = database.client.batch(["INSERT INTO t (who) VALUES ('batch')"], "write");
      // Opened while the batch sleeps between its busy attempts.
      const tx = (async () => {
        await new Promise((r) => setTimeout(r, 100));
        const t = await database.client.transaction("write");
        await new Promise((r) => setTimeout(r, 50));
        await t.execute("INSERT INTO t (who) VALUES ('tx')");
        await t.commit();
      })();
      await Promise.all([batch, tx, held.exited]);
      // The batch met the held lock at least once, so this is the retry path.
      expect(database.busyRetries()).toBeGreaterThan(0);
      const rows = (await database.client.execute("SELECT who FROM t ORDER BY who")).rows.map((r) => r[0]);
      expect(rows).toEqual(["batch", "holder", "tx"]);
    } finally {
      database.close();
    }
  });

  /** What a connection opened now finds in table t. */
  async function onDisk(path: string) {
    const fresh = createClient({ url: `file:${path}` });
    try {
      return (await fresh.execute("SELECT who FROM t ORDER BY id")).rows.map((r) => r[0]);
    } finally {
      fresh.close();
    }
  }

  for (const where of ["inside a transaction", "on its last attempt"] as const) {
    it(`commits every acknowledged write after a statement failed busy ${where}`, async () => {
      const path = join(dir, "p.db");
      // libsql-client-ts#352: a connection whose statement failed busy acknowledges a later
      // autocommit write without committing it, unless it is replaced first.
      const database = await openDatabase({ url: `file:${path}`, timeoutMs: 20, maxAttempts: where === "on its last attempt" ? 2 : 50 });
      try {
        await database.client.executeMultiple("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)");
        const held = await holdLock(path, 400);
        if (where === "inside a transaction") {
          const tx = await database.client.transaction("deferred");
          await expect(tx.execute("INSERT INTO t (who) VALUES ('in-tx')")).rejects.toMatchObject({ code: "SQLITE_BUSY" });
          tx.close();
        } else {
          await expect(database.client.execute("INSERT INTO t (who) VALUES ('gave-up')")).rejects.toMatchObject({ code: "SQLITE_BUSY" });
        }
        await held.exited;
        for (const who of ["acked-1", "acked-2"]) {
          expect((await database.client.execute({ sql: "INSERT INTO t (who) VALUES (?)", args: [who] })).rowsAffected).toBe(1);
        }
        expect(await onDisk(path)).toEqual(["holder", "acked-1", "acked-2"]);
      } finally {
        database.close();
      }
    });
  }

  it("fails queued work with CLIENT_CLOSED at once when the database is closed under an open transaction", async () => {
    const database = await openDatabase({ url: `file:${join(dir, "q.db")}` });
    await database.client.executeMultiple("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)");
    // Its owner never comes back: everything behind it used to wait for the gate's 30 s timeout.
    await database.client.transaction("write");
    const queued = [
      database.client.batch(["INSERT INTO t (who) VALUES ('batch')"], "write"),
      database.client.execute("INSERT INTO t (who) VALUES ('execute')"),
      database.client.transaction("write"),
    ];
    const started = Date.now();
    setTimeout(() => database.close(), 50);
    for (const q of queued) await expect(q).rejects.toMatchObject({ code: "CLIENT_CLOSED" });
    // Well under the gate's timeout, with room for a loaded machine.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("fails with CLIENT_CLOSED and writes nothing when the database was closed before the retry", async () => {
    const path = join(dir, "b.db");
    const database = await openDatabase({ url: `file:${path}`, timeoutMs: 100 });
    await database.client.executeMultiple("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)");
    const held = await holdLock(path, 400);
    const batch = database.client.batch(["INSERT INTO t (who) VALUES ('after-close')"], "write");
    setTimeout(() => database.close(), 50);
    await expect(batch).rejects.toMatchObject({ code: "CLIENT_CLOSED" });
    await held.exited;
    expect(await onDisk(path)).toEqual(["holder"]);
  });
});
