import Database from "libsql";
import type { InArgs, InStatement, ResultSet, Row, Value } from "@libsql/client";
// From @libsql/core, which @libsql/client re-exports them from: the same classes, without loading
// the whole client where only this connection is used (the CLI's in-process fast path).
import { LibsqlBatchError, LibsqlError } from "@libsql/core/api";
import type { SynchronousLevel } from "./db-sync.ts";

/*
 * @libsql/client prepares every statement afresh and asks SQLite for its columns twice, which
 * costs several times what running a small indexed query does. The hot paths of a file database
 * (reads outside transactions) run here instead: one connection of its own to the
 * same file with its prepared statements kept by SQL text. Results and errors have the shapes
 * @libsql/client gives (intMode "number"), so drizzle maps them the same way.
 */

/** Statements kept per connection; the app has a few hundred distinct ones. */
const MAX_STATEMENTS = 500;

type Statement = ReturnType<InstanceType<typeof Database>["prepare"]>;

interface Prepared {
  stmt: Statement;
  returnsData: boolean;
  /** False only for a plain SELECT: anything else may change the file (and so the change stamp). */
  writes: boolean;
  /** Changes rows at most (see BATCHABLE), never the schema. */
  dml: boolean;
  /** Ends in `LIMIT ?` (or `LIMIT 1`): with a limit of one, a single step answers it. */
  limitLast: "param" | "one" | null;
  columns: string[];
  columnTypes: string[];
  /** Builds this statement's rows (see rowMaker). */
  row: (raw: unknown[]) => Row;
}

/** Reads that change nothing; every other statement counts as a possible change of the file. */
const PLAIN_READ = /^\s*select\b/i;

/** Statements a kept batch may hold: data changes and reads, never schema or connection changes. */
const BATCHABLE = /^\s*(insert|update|delete|replace|select|with)\b/i;

const sqlOf = (s: InStatement | [string, InArgs?]) => (Array.isArray(s) ? s[0] : typeof s === "string" ? s : s.sql);

/** Whether every statement of a batch is plain DML the kept connection can run (see batch). */
export function batchable(stmts: Array<InStatement | [string, InArgs?]>): boolean {
  return stmts.every((s) => BATCHABLE.test(sqlOf(s)));
}

const SQLITE_BASE_CODES: Record<number, string> = {
  1: "SQLITE_ERROR",
  2: "SQLITE_INTERNAL",
  3: "SQLITE_PERM",
  4: "SQLITE_ABORT",
  5: "SQLITE_BUSY",
  6: "SQLITE_LOCKED",
  7: "SQLITE_NOMEM",
  8: "SQLITE_READONLY",
  9: "SQLITE_INTERRUPT",
  10: "SQLITE_IOERR",
  11: "SQLITE_CORRUPT",
  12: "SQLITE_NOTFOUND",
  13: "SQLITE_FULL",
  14: "SQLITE_CANTOPEN",
  15: "SQLITE_PROTOCOL",
  16: "SQLITE_EMPTY",
  17: "SQLITE_SCHEMA",
  18: "SQLITE_TOOBIG",
  19: "SQLITE_CONSTRAINT",
  20: "SQLITE_MISMATCH",
  21: "SQLITE_MISUSE",
  22: "SQLITE_NOLFS",
  23: "SQLITE_AUTH",
  24: "SQLITE_FORMAT",
  25: "SQLITE_RANGE",
  26: "SQLITE_NOTADB",
  27: "SQLITE_NOTICE",
  28: "SQLITE_WARNING",
};

/** The error @libsql/client would have thrown for the same failure. */
function asLibsqlError(e: unknown): unknown {
  if (!(e instanceof Database.SqliteError)) return e;
  const err = e as Error & { code: string; rawCode?: number };
  const base = err.rawCode === undefined ? "SQLITE_UNKNOWN" : (SQLITE_BASE_CODES[err.rawCode & 0xff] ?? `SQLITE_UNKNOWN_${err.rawCode & 0xff}`);
  return new LibsqlError(err.message, base, err.code, err.rawCode, err);
}

const MIN_INTEGER = -9223372036854775808n;
const MAX_INTEGER = 9223372036854775807n;

function toSql(value: unknown): unknown {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new RangeError("Only finite numbers (not Infinity or NaN) can be passed as arguments");
    return value;
  }
  if (typeof value === "bigint") {
    if (value < MIN_INTEGER || value > MAX_INTEGER) throw new RangeError("bigint is too large to be represented as a 64-bit integer and passed as argument");
    return value;
  }
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value instanceof ArrayBuffer) {
    // What @libsql/client passes for one: a Buffer where the runtime has them.
    const B = (globalThis as { Buffer?: { from(b: ArrayBuffer): Uint8Array } }).Buffer;
    return B ? B.from(value) : new Uint8Array(value);
  }
  if (value instanceof Date) return value.valueOf();
  if (value === undefined) throw new TypeError("undefined cannot be passed as argument to the database");
  return value;
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function fromSql(value: unknown): Value {
  if (typeof value === "bigint") {
    if (value < MIN_SAFE || value > MAX_SAFE) {
      throw new RangeError("Received integer which cannot be safely represented as a JavaScript number");
    }
    return Number(value);
  }
  if (value instanceof Uint8Array) return value.buffer as ArrayBuffer;
  return value as Value;
}

/** Where a kept row holds its values by index (non-enumerable, so no reader lists it). */
const VALUES = Symbol("values");

/**
 * Makes rows for one statement's columns, the same to readers as rowOf's (named values own,
 * enumerable and writable in column order, the first of a repeated name winning; values by index
 * and `length` readable but not own-enumerable; `constructor` is Object, so plain-object checks
 * such as zod's and vitest's toStrictEqual hold), at a fraction of its cost: rowOf defines two
 * properties per column, which left a 20-column row costing more than the query that read it.
 * The indexes and `length` live on a prototype shared by the statement's rows, so they are not
 * own properties and the prototype is not Object.prototype itself. Names that an index, `length`
 * or the prototype would claim keep rowOf.
 */
function rowMaker(columns: string[]): (raw: unknown[]) => Row {
  const n = columns.length;
  const unusual = columns.some((c) => c === "length" || c === "__proto__" || /^(0|[1-9]\d*)$/.test(c));
  if (unusual) return (raw) => rowOf(raw, columns);
  // The first index each name appears at (a join may repeat a name; the first wins, as in rowOf).
  const named: Array<[string, number]> = [];
  const seen = new Set<string>();
  columns.forEach((c, i) => {
    if (!seen.has(c)) {
      seen.add(c);
      named.push([c, i]);
    }
  });
  const proto: object = Object.create(Object.prototype, { length: { value: n } });
  for (let i = 0; i < n; i++) {
    Object.defineProperty(proto, i, {
      get(this: { [VALUES]: Value[] }) {
        return this[VALUES][i];
      },
    });
  }
  // Every row of a statement has its column count: #run re-prepares (or refuses) a statement
  // whose rows stopped matching the columns it was prepared with, before any row is built.
  return (raw) => {
    const values = new Array<Value>(n);
    for (let i = 0; i < n; i++) values[i] = fromSql(raw[i]);
    const row = Object.create(proto) as Record<string | symbol, unknown>;
    Object.defineProperty(row, VALUES, { value: values });
    for (const [name, i] of named) row[name] = values[i];
    return row as unknown as Row;
  };
}

/** A row as @libsql/client builds it: values by index (not enumerable) and by column name. */
function rowOf(raw: unknown[], columns: string[]): Row {
  const row = {} as Row;
  Object.defineProperty(row, "length", { value: raw.length });
  for (let i = 0; i < raw.length; i++) {
    const value = fromSql(raw[i]);
    Object.defineProperty(row, i, { value });
    const column = columns[i]!;
    if (!Object.hasOwn(row, column)) Object.defineProperty(row, column, { value, enumerable: true, configurable: true, writable: true });
  }
  return row;
}

function resultSet(columns: string[], columnTypes: string[], rows: Row[], rowsAffected: number, lastInsertRowid: bigint | undefined): ResultSet {
  return {
    columns,
    columnTypes,
    rows,
    rowsAffected,
    lastInsertRowid,
    toJSON() {
      return {
        columns,
        columnTypes,
        rows: rows.map((r) => Array.from(r as ArrayLike<Value>)),
        rowsAffected,
        lastInsertRowid: lastInsertRowid?.toString() ?? null,
      };
    },
  };
}

/** The SQLite path of a `file:` URL this module may open itself, or null (then the client does everything). */
export function cachedConnectionPath(url: string): string | null {
  // Only the plain forms: a URL with a host, query options or escapes stays with the client.
  const m = /^file:(?:\/\/(?=\/))?(?!\/\/)([^?#%]+)$/.exec(url);
  return m ? m[1]! : null;
}

/** One connection to a database file with its prepared statements kept, run synchronously. */
export class CachedConnection {
  #db: InstanceType<typeof Database> | null = null;
  readonly #statements = new Map<string, Prepared>();
  /** `PRAGMA schema_version`, kept apart, and the version the kept statements were prepared at. */
  #versionStmt: Statement | null = null;
  #version: unknown = undefined;
  /** `PRAGMA data_version`, kept apart, and the value last seen on this connection. */
  #dataVersionStmt: Statement | null = null;
  #dataVersion: unknown = undefined;
  /**
   * Bumped whenever this connection learns the file may have changed: another connection
   * committed (data_version moved), this connection ran something other than a plain SELECT,
   * or the connection was replaced. Callers keep derived facts only while it stays the same.
   */
  #stamp = 0;
  /** Set by this connection's own writes: data_version does not move for them. */
  #ownChange = true;
  /** Set when this connection ran something other than DML, which may have changed the schema. */
  #ownSchemaChange = true;
  /**
   * Set when data_version showed another connection's commit, until the schema was looked at.
   * Apart from the poll's answer because the change stamp polls too: a commit first seen there
   * must still make the next statement look at the schema.
   */
  #othersCommitted = true;

  constructor(
    private readonly path: string,
    private readonly timeoutMs: number,
    /** The durability of the commits run here, as on the client's own connections (lib/db-sync.ts). */
    private readonly synchronous: SynchronousLevel = "normal",
  ) {}

  #open(): InstanceType<typeof Database> {
    if (!this.#db) {
      const db = new Database(this.path, { timeout: this.timeoutMs } as never);
      db.exec(`PRAGMA synchronous = ${this.synchronous === "full" ? "FULL" : "NORMAL"}`);
      this.#db = db;
    }
    return this.#db;
  }

  /** This connection's `synchronous` setting as SQLite reports it (1 NORMAL, 2 FULL). */
  synchronousSetting(): number {
    return Number(this.execute("PRAGMA synchronous").rows[0]![0]);
  }

  /**
   * The change stamp (see #stamp), after one kept `PRAGMA data_version` step: a number that stays
   * the same exactly as long as nothing committed to the file since the last call, by this
   * process or any other. Derived facts (a token's row) may be reused while it holds.
   */
  changeStamp(): number {
    this.#poll();
    return this.#stamp;
  }

  /** Moves the stamp if anything changed, and notes another connection's commit for #checkSchema. */
  #poll(): void {
    this.#dataVersionStmt ??= this.#open().prepare("PRAGMA data_version").raw(true);
    const version = (this.#dataVersionStmt.get([] as never) as unknown[] | undefined)?.[0];
    const others = version !== this.#dataVersion;
    if (others) this.#othersCommitted = true;
    if (others || this.#ownChange) {
      this.#dataVersion = version;
      this.#ownChange = false;
      this.#stamp++;
    }
  }

  /**
   * Drops every kept statement when the schema changed (a newer CLI migrating the file under a
   * running server): SQLite re-prepares a statement by itself, but the column names and types
   * kept with it would be the old ones. A schema change is a commit, so the schema is looked at
   * only when another connection committed or this one ran something other than DML: one kept
   * pragma step per call otherwise, also while this connection writes rows.
   */
  #checkSchema(): void {
    this.#poll();
    if (!this.#othersCommitted && !this.#ownSchemaChange && this.#version !== undefined) return;
    this.#othersCommitted = false;
    this.#ownSchemaChange = false;
    this.#versionStmt ??= this.#open().prepare("PRAGMA schema_version").raw(true);
    const version = (this.#versionStmt.get([] as never) as unknown[] | undefined)?.[0];
    if (version !== this.#version) {
      this.#statements.clear();
      this.#version = version;
      // The connection's own copy of the schema is reloaded only when a statement steps and
      // finds the cookie moved; until then a fresh prepare would still describe the old columns.
      this.#open()
        .prepare("SELECT 1 FROM sqlite_schema LIMIT 1")
        .raw(true)
        .get([] as never);
    }
  }

  #prepare(sql: string, checkSchema: boolean): Prepared {
    if (checkSchema) this.#checkSchema();
    const kept = this.#statements.get(sql);
    if (kept) {
      // Most recently used last, so the oldest is the one dropped.
      this.#statements.delete(sql);
      this.#statements.set(sql, kept);
      return kept;
    }
    const stmt = this.#open().prepare(sql);
    stmt.safeIntegers(true);
    let returnsData = true;
    try {
      stmt.raw(true);
    } catch {
      // raw() refuses a statement that returns no rows.
      returnsData = false;
    }
    const cols = returnsData ? stmt.columns() : [];
    const limit = /\blimit\s+(\?|1)\s*$/i.exec(sql);
    const limitLast: Prepared["limitLast"] = !returnsData || !limit ? null : limit[1] === "?" ? "param" : "one";
    const prepared = {
      stmt,
      returnsData,
      writes: !PLAIN_READ.test(sql),
      dml: BATCHABLE.test(sql),
      limitLast,
      columns: cols.map((c) => c.name),
      columnTypes: cols.map((c) => c.type ?? ""),
      row: rowMaker(cols.map((c) => c.name)),
    };
    this.#statements.set(sql, prepared);
    if (this.#statements.size > MAX_STATEMENTS) this.#statements.delete(this.#statements.keys().next().value!);
    return prepared;
  }

  /** Runs one statement now, as @libsql/client's execute would. */
  execute(stmt: InStatement | string): ResultSet {
    const sql = typeof stmt === "string" ? stmt : stmt.sql;
    try {
      return this.#run(sql, typeof stmt === "string" ? [] : (stmt.args ?? []), true);
    } catch (e) {
      throw asLibsqlError(e);
    }
  }

  /**
   * Runs statements in one transaction, as @libsql/client's batch would (same results, a
   * LibsqlBatchError naming the failing statement, nothing kept of a failed batch), on the kept
   * statements: preparing an INSERT into a table with triggers cost more than running it.
   * Only for batches of plain DML (see batchable); anything else goes to the client.
   */
  batch(stmts: Array<InStatement | [string, InArgs?]>, mode: "write" | "deferred"): ResultSet[] {
    const db = this.#open();
    try {
      this.#run(mode === "write" ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED", [], false, true);
    } catch (e) {
      throw asLibsqlError(e);
    }
    try {
      // No other connection can change the schema under this transaction's lock once a write
      // started, and the batch itself holds no DDL: look at the schema once, for all of it.
      this.#checkSchema();
      const out: ResultSet[] = [];
      for (let i = 0; i < stmts.length; i++) {
        const stmt = stmts[i]!;
        const [sql, args] = Array.isArray(stmt) ? [stmt[0], stmt[1] ?? []] : typeof stmt === "string" ? [stmt, []] : [stmt.sql, stmt.args ?? []];
        try {
          out.push(this.#run(sql, args, false));
        } catch (e) {
          const err = asLibsqlError(e);
          if (err instanceof LibsqlError)
            throw new LibsqlBatchError(err.message, i, err.code, err.extendedCode, err.rawCode, err.cause instanceof Error ? err.cause : undefined);
          throw err;
        }
      }
      this.#run("COMMIT", [], false, true);
      return out;
    } catch (e) {
      throw e instanceof LibsqlError ? e : asLibsqlError(e);
    } finally {
      // The stamp moves for the statements that may write (marked as each ran), not for the
      // batch as such: a batch of reads (discover, audit) changes nothing and keeps kept facts.
      // A failed statement or COMMIT leaves the transaction open: nothing of it may stay.
      if (db.inTransaction) {
        try {
          db.exec("ROLLBACK");
        } catch {
          // The connection is reset by the caller's busy handling if it is unusable.
        }
      }
    }
  }

  /** `control`: BEGIN or COMMIT of a batch, which change neither rows nor the schema themselves. */
  #run(sql: string, given: InArgs, checkSchema: boolean, control = false): ResultSet {
    let args: unknown;
    if (Array.isArray(given)) args = given.map(toSql);
    else {
      const named: Record<string, unknown> = {};
      for (const name in given) named[/^[@$:]/.test(name) ? name.slice(1) : name] = toSql((given as Record<string, unknown>)[name]);
      args = named;
    }
    let p = this.#prepare(sql, checkSchema);
    try {
      if (p.returnsData) {
        // One row at most: one step instead of a cursor (half the calls into the binding).
        const one = p.limitLast === "one" || (p.limitLast === "param" && Array.isArray(args) && Number(args.at(-1)) === 1);
        const read = (q: Prepared) =>
          one ? [q.stmt.get(args as never) as unknown[] | undefined].filter((r) => r !== undefined) : (q.stmt.all(args as never) as unknown[][]);
        const raw = read(p);
        if (raw.length && raw[0]!.length !== p.columns.length) {
          // The schema changed between the schema check and this step (SQLite re-prepared the
          // statement by itself, so the rows are the new shape): name them from a fresh prepare.
          // Never by running it again, which would apply a write (… RETURNING *) twice.
          this.#statements.delete(sql);
          p = this.#prepare(sql, false);
          if (raw[0]!.length !== p.columns.length) throw new LibsqlError(`the schema changed while running: ${sql.slice(0, 200)}`, "SQLITE_SCHEMA");
        }
        return resultSet(p.columns, p.columnTypes, raw.map(p.row), 0, undefined);
      }
      const info = p.stmt.run(args as never);
      return resultSet([], [], [], info.changes, BigInt(info.lastInsertRowid));
    } finally {
      if (p.writes && !control) {
        this.#ownChange = true;
        if (!p.dml) this.#ownSchemaChange = true;
      }
    }
  }

  /** Whether the connection is inside a transaction (one left open by a failure is rolled back by the caller). */
  get inTransaction(): boolean {
    return !!this.#db?.inTransaction;
  }

  /** Drops the kept statements and the connection; the next call opens a fresh one. */
  reset(): void {
    this.#statements.clear();
    this.#versionStmt = null;
    this.#version = undefined;
    this.#dataVersionStmt = null;
    this.#dataVersion = undefined;
    this.#ownChange = true;
    this.#ownSchemaChange = true;
    this.#othersCommitted = true;
    const db = this.#db;
    this.#db = null;
    try {
      if (db?.open) db.close();
    } catch {
      // Nothing useful to do while tearing down.
    }
  }
}

/**
 * `PRAGMA integrity_check` of a database file on a connection opened for it and closed after.
 * SQLite's FTS5 (3.45, as libSQL ships it) answers the check from the index structure a
 * connection read earlier: on a connection that ran the check before while other connections
 * (other processes) wrote to a full-text table, it reports "malformed inverted index" for a
 * file a fresh connection finds sound (tests/functions/admin/db-doctor.test.ts).
 */
export function freshIntegrityCheck(path: string, timeoutMs: number): string[] {
  const db = new Database(path, { timeout: timeoutMs } as never);
  try {
    return (
      db
        .prepare("PRAGMA integrity_check")
        .raw(true)
        .all([] as never) as unknown[][]
    ).map((r) => String(r[0]));
  } catch (e) {
    throw asLibsqlError(e);
  } finally {
    db.close();
  }
}
