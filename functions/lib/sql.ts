import { getTableColumns, getTableName, Param, Placeholder, SQL, sql, type Column, type Table } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { SQLiteInsertBase, SQLiteTable } from "drizzle-orm/sqlite-core";

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

/**
 * The first SQLite result code (`SQLITE_READONLY`, `SQLITE_IOERR_WRITE`, …) in an error or its
 * cause chain, with that error's message stripped of the code prefix; null when there is none.
 */
export function sqliteErrorOf(e: unknown): { code: string; message: string } | null {
  for (let cur: unknown = e, depth = 0; cur && depth < 5; depth++) {
    const err = cur as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof err.code === "string" && err.code.startsWith("SQLITE_")) {
      return { code: err.code, message: String(err.message ?? "").replace(/^SQLITE_\w+:\s*/, "") };
    }
    cur = err.cause;
  }
  return null;
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

/**
 * The rows of a UNION ALL whose arms each select `<n> AS "sy_arm", *` from `table` (several
 * lookups in one round trip), as a function from an arm's number to its rows, mapped as
 * rowFromRaw maps them.
 */
export function rowsByArm<T extends Table>(table: T, raw: Array<Record<string, unknown>>): (arm: number) => Array<T["$inferSelect"]> {
  return (arm) => raw.filter((r) => r.sy_arm === arm).map((r) => rowFromRaw(table, r));
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

/** A table's insert statement text with every insertable column, and those columns in order. */
interface InsertShape {
  sql: string;
  columns: Array<[key: string, column: Column]>;
}

const insertShapes = new WeakMap<Table, InsertShape>();

function insertShapeOf(table: Table): InsertShape {
  let shape = insertShapes.get(table);
  if (!shape) {
    // drizzle's own test of a generated column it leaves out of inserts (not in its typings).
    const columns = Object.entries(getTableColumns(table)).filter(([, c]) => !(c as unknown as { shouldDisableInsert(): boolean }).shouldDisableInsert());
    const names = columns.map(([, c]) => `"${c.name}"`).join(", ");
    shape = { sql: `insert into "${getTableName(table)}" (${names}) values (${columns.map(() => "?").join(", ")})`, columns };
    insertShapes.set(table, shape);
  }
  return shape;
}

/** The parameters of `row` in the shape's column order, or null when drizzle has to build it. */
function insertParams(shape: InsertShape, row: Record<string, unknown>): unknown[] | null {
  const params = new Array<unknown>(shape.columns.length);
  for (let i = 0; i < shape.columns.length; i++) {
    const [key, col] = shape.columns[i]!;
    const v = row[key];
    // A column left out: drizzle fills its default (a value, a function, an SQL expression) or
    // writes a literal null into the text; either way its statement, not this one.
    if (v === undefined) return null;
    if (v === null) params[i] = null;
    else if (v instanceof SQL || v instanceof Param || v instanceof Placeholder) return null;
    else {
      const mapped = col.mapToDriverValue(v);
      if (mapped instanceof SQL) return null;
      params[i] = mapped;
    }
  }
  return params;
}

/**
 * `db.insert(table).values(row)` with the statement text built once per table: drizzle builds an
 * insert's SQL anew each time, which cost more than running it on the hot write paths (an audit
 * event, an inbox item, a message). The same SQL and parameters drizzle would send (every
 * insertable column, values through the column's driver mapping); a row that leaves a column out
 * or holds an SQL value goes to drizzle as before. For batches and for awaiting on its own.
 */
export function insertRow<T extends SQLiteTable>(
  db: { insert(table: T): { values(row: T["$inferInsert"]): SQLiteInsertBase<T, "async", any> } },
  table: T,
  row: T["$inferInsert"],
): BatchItem<"sqlite"> & PromiseLike<unknown> {
  const shape = insertShapeOf(table);
  const params = insertParams(shape, row as Record<string, unknown>);
  if (!params) return db.insert(table).values(row);
  const query = { sql: shape.sql, params };
  const fast: PromiseLike<unknown> & { _prepare(): unknown } = {
    // What a batch asks of its items (drizzle-orm/libsql session.batch); the result is the
    // driver's, as drizzle's own insert answers.
    _prepare: () => ({ getQuery: () => query, mapResult: (result: unknown) => result }),
    // Run on its own (not in a batch): rare on these paths, so drizzle builds it.
    // biome-ignore lint/suspicious/noThenProperty: awaitable like the drizzle builder it stands in for.
    then: (onFulfilled, onRejected) => db.insert(table).values(row).then(onFulfilled, onRejected),
  };
  return fast as unknown as BatchItem<"sqlite"> & PromiseLike<unknown>;
}
