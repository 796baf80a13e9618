import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Database, openDatabase } from "../../../functions/lib/db.ts";
import { synchronousFromEnv } from "../../../functions/lib/db-sync.ts";
import { resolveHome } from "../../../local-runner/home.ts";

// SQLite's numbers for PRAGMA synchronous (read through its table-valued form, a SELECT, so it runs beside an open transaction).
const NORMAL = 1;
const FULL = 2;

let dir: string;
const open: Database[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "switchyard-sync-"));
});
afterEach(() => {
  for (const d of open.splice(0)) d.close();
  rmSync(dir, { recursive: true, force: true });
});

async function openAt(url: string, synchronous?: "normal" | "full"): Promise<Database> {
  const d = await openDatabase({ url, synchronous });
  open.push(d);
  return d;
}

const level = async (d: Pick<Database["client"], "execute">) => Number((await d.execute("SELECT synchronous FROM pragma_synchronous")).rows[0]?.synchronous);

describe("the synchronous level of a file database", () => {
  it("is NORMAL by default on every connection: autocommit, beside an open transaction, and after a busy reconnect", async () => {
    const d = await openAt(`file:${join(dir, "a.db")}`);
    const raw = d.client;
    expect(await level(raw)).toBe(NORMAL);
    // An open transaction holds its connection, so a read beside it makes the pool open another.
    const tx = await raw.transaction("read");
    expect(await level(tx)).toBe(NORMAL);
    expect(await level(raw)).toBe(NORMAL);
    tx.close();
    await raw.reconnect();
    expect(await level(raw)).toBe(NORMAL);
    // And the commits still land.
    await raw.execute("CREATE TABLE t (x INTEGER)");
    await raw.batch(["INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)"], "write");
    expect(Number((await raw.execute("SELECT count(*) AS n FROM t")).rows[0]?.n)).toBe(2);
  });

  it("is FULL when asked, and the file:/// form of the URL gets the level too", async () => {
    const full = await openAt(`file:${join(dir, "b.db")}`, "full");
    expect(await level(full.client)).toBe(FULL);
    const tx = await full.client.transaction("read");
    expect(await level(tx)).toBe(FULL);
    tx.close();
    const triple = await openAt(`file://${join(dir, "c.db")}`);
    expect(await level(triple.client)).toBe(NORMAL);
  });

  it("keeps in-memory databases working and reports a path that cannot be opened", async () => {
    const mem = await openAt(":memory:");
    expect(Number((await mem.client.execute("SELECT 41 + 1 AS n")).rows[0]?.n)).toBe(42);
    await expect(openDatabase({ url: `file:${join(dir, "missing-dir", "x.db")}` })).rejects.toThrow();
  });
});

describe("SWITCHYARD_DB_SYNCHRONOUS", () => {
  it("accepts normal and full in any case and treats unset or empty as the default", () => {
    expect(synchronousFromEnv("FULL")).toBe("full");
    expect(synchronousFromEnv("normal")).toBe("normal");
    expect(synchronousFromEnv("")).toBeUndefined();
    expect(synchronousFromEnv(undefined)).toBeUndefined();
  });

  it("refuses anything else, naming the variable and the value, before a database is opened", () => {
    expect(() => synchronousFromEnv("off")).toThrow(/SWITCHYARD_DB_SYNCHRONOUS must be 'normal' or 'full', got 'off'/);
    expect(() => resolveHome({ SWITCHYARD_HOME: dir, SWITCHYARD_DB_SYNCHRONOUS: "extra" })).toThrow(/SWITCHYARD_DB_SYNCHRONOUS/);
    expect(resolveHome({ SWITCHYARD_HOME: dir, SWITCHYARD_DB_SYNCHRONOUS: "full" }).dbSynchronous).toBe("full");
  });
});
