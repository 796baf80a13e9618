// Whether a database holds every migration this checkout ships, from the rows of drizzle's
// `__drizzle_migrations` table. Apart from migrate.ts so the in-process fast path for reads
// (cli/fast-local.ts) can ask without loading the migrator or the database client.
import journal from "../schema/migrations/meta/_journal.json" with { type: "json" };

/**
 * True when every migration in the journal is recorded as applied. drizzle records a migration
 * by its journal timestamp (`when`) in `created_at`, so the journal alone says what a current
 * database holds, without reading or hashing the SQL files.
 */
export function allMigrationsApplied(createdAt: Iterable<unknown>): boolean {
  const done = new Set<number>();
  for (const c of createdAt) done.add(Number(c));
  return journal.entries.every((e) => done.has(e.when));
}

/**
 * How many applied migrations are newer than any in the journal: the database was migrated by a
 * newer Switchyard, whose changes this build knows nothing about.
 */
export function newerMigrations(createdAt: Iterable<unknown>): number {
  const newest = Math.max(...journal.entries.map((e) => e.when));
  // Distinct timestamps after this build's newest: a duplicated row or a hand-written NULL or
  // word in the record is not a migration of a later version.
  const later = new Set<number>();
  for (const c of createdAt) {
    const when = c === null || c === undefined || c === "" ? Number.NaN : Number(c);
    if (Number.isFinite(when) && when > newest) later.add(when);
  }
  return later.size;
}

/** The journal's migrations in order, as tag by timestamp. */
export function migrationTags(): Map<number, string> {
  return new Map(journal.entries.map((e) => [e.when, e.tag]));
}
