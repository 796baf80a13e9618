import { getTableColumns, SQL, sql } from "drizzle-orm";
import { getTableConfig, type SQLiteTable } from "drizzle-orm/sqlite-core";
import type { Db } from "./db.ts";

/**
 * `INSERT OR IGNORE INTO table (…) SELECT … WHERE guard` for one row, as a batchable statement.
 *
 * This is how a state change and the rows it causes commit together without an interactive
 * transaction: the batch first runs a conditional UPDATE that stamps a fresh token on the row
 * it changes (`… SET close_token = :t WHERE id = :id AND state = 'open'`), then every dependent
 * insert is guarded by `EXISTS (… WHERE close_token = :t)`. If the UPDATE lost a race, the guard
 * is false and nothing else is written; if the process dies, the batch is one transaction and
 * commits whole or not at all. `OR IGNORE` lets a unique dedup key absorb a repeat; `orIgnore:
 * false` makes a repeat fail the whole batch instead.
 */
export function guardedInsert<T extends SQLiteTable>(
  db: Db,
  table: T,
  row: { [K in keyof T["$inferInsert"]]?: T["$inferInsert"][K] | SQL },
  guard: SQL,
  opts: { orIgnore?: boolean } = {},
) {
  const columns = getTableColumns(table);
  const names: SQL[] = [];
  const values: SQL[] = [];
  for (const [key, column] of Object.entries(columns)) {
    const value = (row as Record<string, unknown>)[key];
    if (value === undefined) continue;
    names.push(sql`${sql.identifier(column.name)}`);
    values.push(value === null ? sql`NULL` : value instanceof SQL ? value : sql`${column.mapToDriverValue(value)}`);
  }
  const name = getTableConfig(table).name;
  const verb = opts.orIgnore === false ? sql`INSERT INTO` : sql`INSERT OR IGNORE INTO`;
  return db.run(sql`${verb} ${sql.identifier(name)} (${sql.join(names, sql`, `)}) SELECT ${sql.join(values, sql`, `)} WHERE ${guard}`);
}

/** A statement that writes nothing and stands in for an optional batch member. */
export type BatchStatement = ReturnType<typeof guardedInsert>;
