import { getTableColumns, type Table } from "drizzle-orm";

/** True when a driver error (possibly wrapped by drizzle) is a UNIQUE or PRIMARY KEY violation. */
export function isUniqueViolation(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur && depth < 5; depth++) {
    const err = cur as { code?: unknown; extendedCode?: unknown; message?: unknown; cause?: unknown };
    if (err.extendedCode === "SQLITE_CONSTRAINT_UNIQUE" || err.extendedCode === "SQLITE_CONSTRAINT_PRIMARYKEY") return true;
    if (typeof err.message === "string" && /UNIQUE constraint failed/.test(err.message)) return true;
    cur = err.cause;
  }
  return false;
}

/** Converts stored ms to the wire's ISO-8601 form (null stays null). */
export function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

/**
 * Maps a raw row (snake_case column names, driver values) from a hand-written query over `table`
 * to the row type drizzle would return, so joins drizzle cannot express (FTS5 tables) still
 * yield typed rows.
 */
export function rowFromRaw<T extends Table>(table: T, raw: Record<string, unknown>): T["$inferSelect"] {
  const out: Record<string, unknown> = {};
  for (const [key, col] of Object.entries(getTableColumns(table))) {
    const v = raw[col.name];
    out[key] = v === null || v === undefined ? null : col.mapFromDriverValue(v);
  }
  return out as T["$inferSelect"];
}
