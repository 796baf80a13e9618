import { readMigrationFiles } from "drizzle-orm/migrator";
import { fileURLToPath } from "node:url";
import { withClientWriteTransaction, type Database } from "../functions/lib/db.ts";
import { allMigrationsApplied, migrationTags, newerMigrations } from "./migration-journal.ts";

/** What a process says when the database holds migrations newer than its own. */
export const NEWER_DATABASE = "the database was migrated by a newer Switchyard than this one";

/** What to do about it, for the warning's `hint`. */
export const NEWER_DATABASE_HINT = "Upgrade this process: it runs, but misses what those migrations changed (see docs/multi-machine.md).";

/** The committed drizzle-kit migrations folder. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL("../schema/migrations", import.meta.url));

/** What the migration record says against this build's journal; null when it cannot be read. */
async function readRecord(database: Database): Promise<{ current: boolean; newer: number } | null> {
  try {
    const rows = await database.client.execute("SELECT created_at FROM __drizzle_migrations");
    const createdAt = rows.rows.map((r) => r.created_at);
    return { current: allMigrationsApplied(createdAt), newer: newerMigrations(createdAt) };
  } catch {
    return null;
  }
}

/**
 * True when every migration in the journal is recorded as applied: one read, outside any
 * transaction. drizzle records a migration by its journal timestamp (`when`), so the journal
 * alone says what a current database holds, without reading or hashing the SQL files. Any
 * failure (no migrations table yet, a database that is not reachable) answers false and leaves
 * the decision, and the error, to the locked path.
 */
export async function schemaIsCurrent(database: Database): Promise<boolean> {
  return (await readRecord(database))?.current ?? false;
}

/**
 * Applies pending migrations inside one write transaction, recording them in drizzle's
 * `__drizzle_migrations` table. BEGIN IMMEDIATE serialises processes that start together, and
 * the applied set is read inside the transaction, so each migration runs exactly once. A
 * database that is already current (every CLI call after the first) is only read: a write
 * transaction per call would queue every short command behind any long writer. `newer` counts
 * applied migrations this build does not know (a newer Switchyard migrated the file): the caller
 * warns, since this process then misses whatever they changed.
 */
export async function migrateDatabase(database: Database): Promise<{ applied: string[]; newer: number }> {
  const record = await readRecord(database);
  if (record?.current) return { applied: [], newer: record.newer };
  const migrations = readMigrationFiles({ migrationsFolder: MIGRATIONS_FOLDER });
  const tags = migrationTags();

  // BEGIN IMMEDIATE serialises processes that start together; a busy start is retried whole.
  return withClientWriteTransaction(database.client, async (tx) => {
    await tx.execute("CREATE TABLE IF NOT EXISTS __drizzle_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, hash text NOT NULL, created_at numeric)");
    const rows = await tx.execute("SELECT created_at FROM __drizzle_migrations");
    const done = new Set(rows.rows.map((r) => Number(r.created_at)));
    const newer = newerMigrations(done);
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.folderMillis)) continue;
      for (const stmt of m.sql) if (stmt.trim()) await tx.execute(stmt);
      await tx.execute({ sql: "INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)", args: [m.hash, m.folderMillis] });
      applied.push(tags.get(m.folderMillis) ?? String(m.folderMillis));
    }
    return { applied, newer };
  });
}
