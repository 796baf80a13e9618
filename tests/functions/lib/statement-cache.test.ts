import { createClient } from "@libsql/client";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
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

describe("the kept-statement connection", () => {
  it("answers as @libsql/client does: rows by index and name, numbers, blobs, nulls, named args", async () => {
    const path = join(dir, "x.db");
    const client = createClient({ url: `file:${path}` });
    await client.executeMultiple(
      "CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER, f REAL, b BLOB, s TEXT); INSERT INTO t VALUES ('a', 9007199254740991, 1.5, x'0102', NULL), ('b', -3, 0, x'', 'é');",
    );
    const fast = new CachedConnection(path, 5000);
    try {
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
    } finally {
      fast.reset();
      client.close();
    }
  });

  it("gives @libsql/client's error codes, and a kept SELECT * follows a schema change", async () => {
    const path = join(dir, "y.db");
    const client = createClient({ url: `file:${path}` });
    await client.executeMultiple("CREATE TABLE t (id TEXT PRIMARY KEY); INSERT INTO t VALUES ('a');");
    const fast = new CachedConnection(path, 5000);
    try {
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
    } finally {
      fast.reset();
      client.close();
    }
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
