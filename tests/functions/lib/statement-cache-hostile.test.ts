import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { afterAll, describe, expect, it } from "vitest";
import { CachedConnection } from "../../../functions/lib/statement-cache.ts";

// Hostile review of the kept-statement reads (functions/lib/statement-cache.ts). Value mapping
// (NULL, blobs incl. empty and zeroblob, safe/unsafe integers, -0.0, NUL in text, duplicate
// column names, named args with : and $) matched @libsql/client in every case tried; so did a
// read after another connection's commit. What differs is below.

const dir = mkdtempSync(join(tmpdir(), "switchyard-kept-hostile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("kept statements after another connection changes the schema", () => {
  // FOUND (low), fixed by checking PRAGMA schema_version before using a kept statement: SQLite re-prepares a kept statement itself after a schema change, but the
  // column names CachedConnection stored at prepare time are reused, so a row keyed by name
  // carries the old name after another process renames a column (a newer CLI migrating the
  // file under a running `up`). Only a changed column *count* is noticed. @libsql/client
  // reports the new name. Fix: also re-read stmt.columns() when the statement was re-prepared
  // (e.g. compare PRAGMA schema_version, or call stmt.columns() once rows come back, which is a
  // cheap lookup on an already-stepped statement) and drop the kept entry when names differ.
  it("names the columns as they are now, like @libsql/client", async () => {
    const path = join(dir, "rename.db");
    const client = createClient({ url: `file:${path}` });
    await client.executeMultiple("PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT); INSERT INTO t VALUES (1, 'x');");
    const kept = new CachedConnection(path, 1000);
    try {
      expect({ ...kept.execute("SELECT * FROM t").rows[0] }).toEqual({ id: 1, a: "x" });
      await client.execute("ALTER TABLE t RENAME COLUMN a TO b");
      expect({ ...(await client.execute("SELECT * FROM t")).rows[0] }).toEqual({ id: 1, b: "x" });
      expect({ ...kept.execute("SELECT * FROM t").rows[0] }).toEqual({ id: 1, b: "x" });
    } finally {
      kept.reset();
      client.close();
    }
  });
});
