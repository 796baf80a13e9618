import { readMigrationFiles } from "drizzle-orm/migrator";
import { fileURLToPath } from "node:url";
import { withClientWriteTransaction, type Database } from "../functions/lib/db.ts";

/** The committed drizzle-kit migrations folder. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL("../schema/migrations", import.meta.url));

/**
 * Applies pending migrations inside one write transaction, recording them in drizzle's
 * `__drizzle_migrations` table. BEGIN IMMEDIATE serialises processes that start together, and
 * the applied set is read inside the transaction, so each migration runs exactly once.
 */
export async function migrateDatabase(database: Database): Promise<{ applied: string[] }> {
  const migrations = readMigrationFiles({ migrationsFolder: MIGRATIONS_FOLDER });
  const tags = new Map<number, string>();
  const journal = await import("../schema/migrations/meta/_journal.json", { with: { type: "json" } });
  for (const e of journal.default.entries) tags.set(e.when, e.tag);

  // BEGIN IMMEDIATE serialises processes that start together; a busy start is retried whole.
  return withClientWriteTransaction(database.client, async (tx) => {
    await tx.execute("CREATE TABLE IF NOT EXISTS __drizzle_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, hash text NOT NULL, created_at numeric)");
    const rows = await tx.execute("SELECT created_at FROM __drizzle_migrations");
    const done = new Set(rows.rows.map((r) => Number(r.created_at)));
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.folderMillis)) continue;
      for (const stmt of m.sql) if (stmt.trim()) await tx.execute(stmt);
      await tx.execute({ sql: "INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)", args: [m.hash, m.folderMillis] });
      applied.push(tags.get(m.folderMillis) ?? String(m.folderMillis));
    }
    return { applied };
  });
}
