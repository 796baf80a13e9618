import { getTableColumns, sql, type Column, type SQL, type Table } from "drizzle-orm";

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

/** Enum words, the only values eqLiteral writes into SQL text. */
const ENUM_WORD = /^[a-z][a-z0-9_]*$/;

/**
 * `column = 'value'` with the value written into the statement instead of bound. For columns a
 * partial index is defined on (`sessions.state`, `bindings.state`, `spawns.state`,
 * `telemetry_events.outcome`; `WHERE state = 'active'`): SQLite compares a bound value with the
 * index's predicate while planning, and then re-prepares the statement every time the value is
 * bound again, which made kept statements cost several times their run (48 µs against 7 for
 * sessions show). Only enum words are accepted, so nothing a caller typed reaches the SQL text.
 */
export function eqLiteral<C extends Column>(column: C, value: C["_"]["data"] & string): SQL {
  if (!ENUM_WORD.test(value)) throw new TypeError(`eqLiteral takes an enum word, not ${JSON.stringify(value)}`);
  return sql`${column} = ${sql.raw(`'${value}'`)}`;
}
