import { type Client, createClient, LibsqlBatchError } from "@libsql/client";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../../functions/app.ts";
import { CachedConnection, cachedConnectionPath } from "../../../functions/lib/statement-cache.ts";
import { resolveHome } from "../../../local-runner/home.ts";
import { openLocalServices } from "../../../local-runner/services.ts";
import { makeTestEnv } from "../../helpers/services.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "switchyard-stmt-cache-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A client and a kept connection on one new file of this test's directory, after `setup` ran on
 * the client; both are closed once `run` settles.
 */
async function withBoth(file: string, setup: string, run: (both: { client: Client; fast: CachedConnection; path: string }) => unknown) {
  const path = join(dir, file);
  const client = createClient({ url: `file:${path}` });
  await client.executeMultiple(setup);
  const fast = new CachedConnection(path, 5000);
  try {
    await run({ client, fast, path });
  } finally {
    fast.reset();
    client.close();
  }
}

describe("the kept-statement connection", () => {
  it("answers as @libsql/client does: rows by index and name, numbers, blobs, nulls, named args", async () => {
    await withBoth(
      "x.db",
      "CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER, f REAL, b BLOB, s TEXT); INSERT INTO t VALUES ('a', 9007199254740991, 1.5, x'0102', NULL), ('b', -3, 0, x'', 'é');",
      async ({ client, fast }) => {
        for (const stmt of [
          { sql: "SELECT id, n, f, b, s, n AS id FROM t ORDER BY id", args: [] },
          { sql: "SELECT * FROM t WHERE id = ?", args: ["b"] },
          { sql: "SELECT count(*) AS c FROM t WHERE n > :min", args: { ":min": -10 } },
          { sql: "SELECT * FROM t WHERE id = ?", args: ["none"] },
        ]) {
          const want = await client.execute(stmt);
          // Twice: the second run uses the kept statement.
          for (let i = 0; i < 2; i++) {
            const got = fast.execute(stmt);
            expect(got.columns).toEqual(want.columns);
            expect(got.columnTypes).toEqual(want.columnTypes);
            expect(got.rows.map((r) => ({ ...r }))).toEqual(want.rows.map((r) => ({ ...r })));
            expect(got.rows.map((r) => Array.from(r))).toEqual(want.rows.map((r) => Array.from(r)));
          }
        }
        const write = fast.execute({ sql: "INSERT INTO t (id, n) VALUES (?, ?)", args: ["c", true] });
        expect(write.rowsAffected).toBe(1);
        expect((await client.execute("SELECT n FROM t WHERE id = 'c'")).rows[0]!.n).toBe(1);
      },
    );
  });

  it("builds rows every reader sees as the client's: own names in order, indexes and length, repeated and odd names", async () => {
    await withBoth(
      "shape.db",
      "CREATE TABLE t (id TEXT, n INTEGER, \"length\" INTEGER, \"0\" TEXT, \"__proto__\" TEXT); INSERT INTO t VALUES ('a', 7, 3, 'zero', 'p');",
      async ({ client, fast }) => {
        for (const sql of [
          "SELECT id, n, id AS n2, n AS id FROM t",
          'SELECT id, "length" FROM t',
          'SELECT "0", id FROM t',
          'SELECT "__proto__", n FROM t',
          "SELECT n, n FROM t",
        ]) {
          const [want] = (await client.execute(sql)).rows;
          // Twice: the second row comes from the kept statement's row maker.
          for (let i = 0; i < 2; i++) {
            const [got] = fast.execute(sql).rows;
            expect(Object.keys(got!), sql).toEqual(Object.keys(want!));
            expect(JSON.stringify(got), sql).toBe(JSON.stringify(want));
            const names = Object.keys(want!);
            for (const k of names) {
              expect(Object.getOwnPropertyDescriptor(got, k), `${sql} ${k}`).toEqual(Object.getOwnPropertyDescriptor(want, k));
            }
            expect(got!.length).toBe(want!.length);
            expect(Array.prototype.slice.call(got)).toEqual(Array.prototype.slice.call(want));
            const inLoop: string[] = [];
            for (const k in got) inLoop.push(k);
            const wantLoop: string[] = [];
            for (const k in want) wantLoop.push(k);
            expect(inLoop, sql).toEqual(wantLoop);
            // Plain-object checks (vitest's strict equality, zod's records) and wrappers see it as the client's.
            expect(got, sql).toStrictEqual(want);
            expect(z.record(z.string(), z.unknown()).parse(got), sql).toEqual(z.record(z.string(), z.unknown()).parse(want));
            expect([new Proxy(got!, {})[0], Object.create(got!)[0], got!.constructor], sql).toEqual([want![0], want![0], Object]);
          }
        }
        // A write to a named value changes that name only, as on the client's rows.
        const [row] = fast.execute("SELECT id, n FROM t").rows;
        (row as Record<string, unknown>).id = "changed";
        expect([row!.id, row![0]]).toEqual(["changed", "a"]);
      },
    );
  });

  it("refuses an integer JavaScript cannot hold, as the client does", async () => {
    await withBoth("big.db", "CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (9007199254740993);", async ({ client, fast }) => {
      await expect(client.execute("SELECT n FROM t")).rejects.toThrow(RangeError);
      for (let i = 0; i < 2; i++) expect(() => fast.execute("SELECT n FROM t")).toThrow(RangeError);
    });
  });

  it("gives @libsql/client's error codes, and a kept SELECT * follows a schema change", async () => {
    await withBoth("y.db", "CREATE TABLE t (id TEXT PRIMARY KEY); INSERT INTO t VALUES ('a');", async ({ client, fast }) => {
      const failure = (() => {
        try {
          fast.execute({ sql: "INSERT INTO t VALUES (?)", args: ["a"] });
        } catch (e) {
          return e as { code?: string; extendedCode?: string };
        }
      })();
      expect(failure).toMatchObject({ code: "SQLITE_CONSTRAINT", extendedCode: "SQLITE_CONSTRAINT_PRIMARYKEY" });
      expect(fast.execute("SELECT * FROM t").columns).toEqual(["id"]);
      await client.execute("ALTER TABLE t ADD COLUMN extra TEXT DEFAULT 'x'");
      const after = fast.execute("SELECT * FROM t");
      expect(after.columns).toEqual(["id", "extra"]);
      expect({ ...after.rows[0] }).toEqual({ id: "a", extra: "x" });
    });
  });

  it("commits with the durability the client's own connections use", () => {
    const path = join(dir, "z.db");
    const normal = new CachedConnection(path, 5000);
    const full = new CachedConnection(path, 5000, "full");
    try {
      expect(normal.synchronousSetting()).toBe(1);
      expect(full.synchronousSetting()).toBe(2);
    } finally {
      normal.reset();
      full.reset();
    }
  });

  it("keeps its change stamp while nothing commits, and moves it for any commit, its own or another connection's", async () => {
    await withBoth("s.db", "PRAGMA journal_mode = WAL; CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER);", async ({ client, fast }) => {
      const first = fast.changeStamp();
      fast.execute("SELECT count(*) FROM t");
      fast.execute({ sql: "SELECT * FROM t WHERE id = ? LIMIT ?", args: ["a", 1] });
      expect(fast.changeStamp()).toBe(first);
      // Another connection (another process would be the same to SQLite) commits.
      await client.execute("INSERT INTO t VALUES ('a', 1)");
      const afterOther = fast.changeStamp();
      expect(afterOther).not.toBe(first);
      expect(fast.changeStamp()).toBe(afterOther);
      // A batch of reads commits nothing (its BEGIN and COMMIT included): the stamp stays.
      fast.batch([{ sql: "SELECT count(*) FROM t", args: [] }], "write");
      fast.batch([{ sql: "SELECT * FROM t WHERE id = ?", args: ["a"] }], "deferred");
      expect(fast.changeStamp()).toBe(afterOther);
      // This connection's own commits do not move data_version; the stamp moves all the same.
      fast.batch(
        [
          { sql: "SELECT count(*) FROM t", args: [] },
          { sql: "UPDATE t SET n = n + 1", args: [] },
        ],
        "write",
      );
      const afterOwn = fast.changeStamp();
      expect(afterOwn).not.toBe(afterOther);
      fast.execute({ sql: "INSERT INTO t VALUES (?, ?)", args: ["b", 2] });
      expect(fast.changeStamp()).not.toBe(afterOwn);
      // Its own schema change is noticed too: a kept SELECT * then describes the new column.
      expect(fast.execute("SELECT * FROM t").columns).toEqual(["id", "n"]);
      fast.execute("ALTER TABLE t ADD COLUMN z TEXT DEFAULT 'q'");
      expect(fast.execute("SELECT * FROM t").columns).toEqual(["id", "n", "z"]);
      fast.execute("ALTER TABLE t RENAME COLUMN n TO m");
      expect(fast.execute("SELECT * FROM t").columns).toEqual(["id", "m", "z"]);
      // A replaced connection starts over from data_version values of its own.
      const beforeReset = fast.changeStamp();
      fast.reset();
      expect(fast.changeStamp()).not.toBe(beforeReset);
    });
  });

  it("runs a batch as the client does: results in order, one transaction, nothing kept of a failed one", async () => {
    await withBoth("b.db", "PRAGMA journal_mode = WAL; CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER);", async ({ client, fast }) => {
      const stmts = [
        { sql: "INSERT INTO t VALUES (?, ?)", args: ["a", 1] },
        { sql: "UPDATE t SET n = n + 10 WHERE id = ? RETURNING n", args: ["a"] },
        { sql: "SELECT count(*) AS c FROM t", args: [] },
      ];
      const got = fast.batch(stmts, "write");
      await client.execute("DELETE FROM t");
      const want = await client.batch(stmts, "write");
      expect(got.map((r) => ({ columns: r.columns, rows: r.rows.map((x) => ({ ...x })), changed: r.rowsAffected }))).toEqual(
        want.map((r) => ({ columns: r.columns, rows: r.rows.map((x) => ({ ...x })), changed: r.rowsAffected })),
      );
      // The second statement fails: the first one's row must not stay, and the error names it.
      const failed = (() => {
        try {
          fast.batch(
            [
              { sql: "INSERT INTO t VALUES (?, ?)", args: ["b", 2] },
              { sql: "INSERT INTO t VALUES (?, ?)", args: ["a", 3] },
            ],
            "write",
          );
        } catch (e) {
          return e;
        }
      })();
      expect(failed).toBeInstanceOf(LibsqlBatchError);
      expect(failed).toMatchObject({ statementIndex: 1, code: "SQLITE_CONSTRAINT", extendedCode: "SQLITE_CONSTRAINT_PRIMARYKEY" });
      expect(fast.inTransaction).toBe(false);
      expect((await client.execute("SELECT id, n FROM t ORDER BY id")).rows.map((r) => ({ ...r }))).toEqual([{ id: "a", n: 11 }]);
      // The connection is usable afterwards, and a later batch commits.
      fast.batch([{ sql: "INSERT INTO t VALUES (?, ?)", args: ["c", 4] }], "write");
      expect((await client.execute("SELECT count(*) AS c FROM t")).rows[0]!.c).toBe(2);
    });
  });

  it("leaves batches with anything but plain DML to the client", async () => {
    const { batchable } = await import("../../../functions/lib/statement-cache.ts");
    expect(batchable([{ sql: "INSERT INTO t VALUES (1)", args: [] }, ["  update t set n = 1"], "DELETE FROM t", "WITH x AS (SELECT 1) SELECT * FROM x"])).toBe(
      true,
    );
    for (const odd of ["CREATE TABLE u (x)", "PRAGMA foreign_keys = off", "ATTACH 'x.db' AS x", "BEGIN", "VACUUM", "DROP TABLE t"]) {
      expect(batchable([{ sql: "INSERT INTO t VALUES (1)", args: [] }, odd])).toBe(false);
    }
  });

  it("runs the database's DML batches, writes included, on the kept statements and the rest on the client", async () => {
    const { openDatabase } = await import("../../../functions/lib/db.ts");
    const database = await openDatabase({ url: `file:${join(dir, "b.db")}` });
    const kept = vi.spyOn(CachedConnection.prototype, "batch");
    try {
      await database.client.batch(["CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER)"], "write");
      expect(kept).not.toHaveBeenCalled();
      const out = await database.client.batch(
        [
          { sql: "INSERT INTO t VALUES (?, ?)", args: ["a", 1] },
          { sql: "UPDATE t SET n = n + 1 WHERE id = ? RETURNING n", args: ["a"] },
        ],
        "write",
      );
      expect(kept).toHaveBeenCalledTimes(1);
      expect(out[1]!.rows[0]!.n).toBe(2);
      // A failing statement fails the whole batch, as on the client: nothing of it is kept.
      await expect(
        database.client.batch(
          [
            { sql: "INSERT INTO t VALUES (?, ?)", args: ["b", 1] },
            { sql: "INSERT INTO t VALUES (?, ?)", args: ["a", 9] },
          ],
          "write",
        ),
      ).rejects.toBeInstanceOf(LibsqlBatchError);
      expect(kept).toHaveBeenCalledTimes(2);
      const fresh = createClient({ url: `file:${join(dir, "b.db")}` });
      expect((await fresh.execute("SELECT id, n FROM t")).rows.map((r) => ({ ...r }))).toEqual([{ id: "a", n: 2 }]);
      fresh.close();
    } finally {
      kept.mockRestore();
      database.close();
    }
  });

  it("applies a kept write once and names its columns anew after another connection's schema change, whoever polled first", async () => {
    await withBoth(
      "w.db",
      "PRAGMA journal_mode = WAL; CREATE TABLE c (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO c VALUES (1, 0);",
      async ({ client, fast }) => {
        const bump = () => fast.batch([{ sql: "UPDATE c SET n = n + 1 WHERE id = 1 RETURNING *", args: [] }], "write")[0]!;
        expect(bump().rows.map((r) => ({ ...r }))).toEqual([{ id: 1, n: 1 }]);
        await client.execute("ALTER TABLE c ADD COLUMN note TEXT");
        // The change stamp (auth polls it on every request) sees the commit first.
        fast.changeStamp();
        const second = bump();
        expect(second.columns).toEqual(["id", "n", "note"]);
        expect(second.rows.map((r) => ({ ...r }))).toEqual([{ id: 1, n: 2, note: null }]);
        expect((await client.execute("SELECT n FROM c")).rows[0]!.n).toBe(2);
        // Columns rebuilt in another order under the same count are named as they are now.
        fast.execute("SELECT * FROM c");
        await client.executeMultiple(
          "CREATE TABLE c2 (id INTEGER PRIMARY KEY, note TEXT, n INTEGER NOT NULL); INSERT INTO c2 SELECT id, note, n FROM c; DROP TABLE c; ALTER TABLE c2 RENAME TO c;",
        );
        fast.changeStamp();
        expect(fast.execute("SELECT * FROM c").rows.map((r) => ({ ...r }))).toEqual([{ id: 1, note: null, n: 2 }]);
      },
    );
  });

  it("opens only plain file URLs itself", () => {
    expect(cachedConnectionPath("file:/tmp/a.db")).toBe("/tmp/a.db");
    expect(cachedConnectionPath("file:///tmp/a.db")).toBe("/tmp/a.db");
    expect(cachedConnectionPath("file:rel.db")).toBe("rel.db");
    expect(cachedConnectionPath("file:/tmp/a.db?mode=ro")).toBeNull();
    expect(cachedConnectionPath("file://host/tmp/a.db")).toBeNull();
    expect(cachedConnectionPath("libsql://example.turso.io")).toBeNull();
  });
});

describe("two app instances on one database file", () => {
  it("refuse a token the other instance revoked on the very next request", async () => {
    const env = await makeTestEnv();
    // The same clock as the first instance: a revocation takes effect at its own instant.
    const other = await openLocalServices({ home: { ...resolveHome({}, { home: env.dir }), hostName: "test-host" }, clock: env.clock.now });
    try {
      const second = createApp(other);
      await env.call("POST", "/v1/sessions", { body: { name: "seen", role: "worker" } });
      const minted = await env.call("POST", "/v1/tokens", { body: { scope: "daemon" } });
      const show = () => env.call("GET", "/v1/sessions/seen", { token: minted.body.token });
      // Warm: the token lookup and show statements are now kept by this instance.
      for (let i = 0; i < 3; i++) expect((await show()).status).toBe(200);
      const revoked = await second.request(`/v1/tokens/${minted.body.token_id}/revoke`, {
        method: "POST",
        headers: { Authorization: `Bearer ${other.ownerToken}` },
      });
      expect(revoked.status).toBe(200);
      const denied = await show();
      expect(denied.status).toBe(401);
      expect(denied.body.error).toMatchObject({ code: "UNAUTHENTICATED", message: "this token has been revoked" });
    } finally {
      other.database.close();
      env.close();
    }
  });
});
