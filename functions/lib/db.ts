import { createClient, type Client, type InArgs, type InStatement, type ResultSet, type Transaction, type TransactionMode } from "@libsql/client";
import { ConnectionPool, Sqlite3Client } from "@libsql/client/sqlite3";
import { expandConfig, isInMemoryConfig } from "@libsql/core/config";
import { drizzle, type LibSQLDatabase } from "drizzle-orm/libsql";
import * as schema from "../../schema/index.ts";
import type { SynchronousLevel } from "./db-sync.ts";
import { batchable, CachedConnection, cachedConnectionPath, freshIntegrityCheck } from "./statement-cache.ts";

export type Schema = typeof schema;
export type Db = LibSQLDatabase<Schema>;

/**
 * `build(db)` made once per database handle and kept with it, for queries prepared through
 * drizzle on hot paths, where building the SQL cost more than running it.
 */
export function perDatabase<T>(build: (db: Db) => T): (db: Db) => T {
  const kept = new WeakMap<Db, T>();
  return (db) => {
    let value = kept.get(db);
    if (value === undefined) {
      value = build(db);
      kept.set(db, value);
    }
    return value;
  };
}

/** An open database: the drizzle handle plus the resilient client under it. */
export interface Database {
  db: Db;
  client: Client;
  url: string;
  /** Number of busy errors absorbed by reconnect-and-retry since open. */
  busyRetries(): number;
  /**
   * A number that stays the same exactly as long as nothing committed to the database file
   * (from any process), for facts worth keeping between requests; null when it cannot be known
   * cheaply (a remote or in-memory database), and then nothing may be kept.
   */
  changeStamp(): number | null;
  /**
   * `PRAGMA integrity_check`, one line per problem or `["ok"]`. A database file is checked on a
   * connection of its own (see freshIntegrityCheck); others through the client.
   */
  integrityCheck(): Promise<string[]>;
  close(): void;
}

export interface OpenDatabaseOptions {
  url: string;
  authToken?: string;
  /** Busy timeout in ms handed to every pooled connection. */
  timeoutMs?: number;
  /** Attempts for one statement or batch that keeps failing busy. */
  maxAttempts?: number;
  /**
   * Wraps the client the app talks to (outside the busy retries): tests count round trips or
   * add a simulated network latency per round trip this way (tests/helpers/db-clients.ts).
   */
  wrapClient?: (client: Client) => Client;
  /**
   * SQLite's `synchronous` level for a file database (ignored for remote and in-memory ones).
   * `normal` (the default) fsyncs the WAL at checkpoints only: a commit survives the process
   * dying (kill -9) but the newest commits can roll back on a power loss or kernel crash.
   * `full` fsyncs on every commit, which on a busy disk costs more than the commit's work.
   */
  synchronous?: SynchronousLevel;
}

const BUSY_CODES = new Set(["SQLITE_BUSY", "SQLITE_BUSY_SNAPSHOT", "SQLITE_BUSY_RECOVERY", "SQLITE_LOCKED"]);

/** True when an error (or its cause chain) is SQLite reporting a lock it could not get. */
export function isBusyError(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur && depth < 5; depth++) {
    const err = cur as { code?: unknown; extendedCode?: unknown; message?: unknown; cause?: unknown };
    if (typeof err.code === "string" && BUSY_CODES.has(err.code)) return true;
    if (typeof err.extendedCode === "string" && err.extendedCode.startsWith("SQLITE_BUSY")) return true;
    if (typeof err.message === "string" && /database is locked|SQLITE_BUSY/.test(err.message)) return true;
    cur = err.cause;
  }
  return false;
}

/** True when a statement was refused because a sibling call reconnected the pool under it. */
function isClosedUnderUs(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown };
  return err?.code === "CLIENT_CLOSED" && typeof err.message === "string" && err.message.includes("in flight");
}

/** True when `url` names a database that lives inside one connection and must never be reopened. */
function isPrivateDatabase(url: string): boolean {
  return url === "file:" || url === ":memory:" || url.includes(":memory:") || url === "file::memory:";
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Jittered exponential backoff (5 ms doubling to 250 ms) so processes that collided do not collide again in lockstep. */
function backoffMs(attempt: number): number {
  return Math.min(250, 5 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random());
}

/** Longest a statement waits for this process's own open transaction to end. */
const GATE_TIMEOUT_MS = 30_000;

/** True for a plain SELECT, which the kept connection may run. */
function isSelect(sql: string): boolean {
  return /^\s*select\b/i.test(sql);
}

/** True for statements that only read (which WAL lets run beside a writer). */
function isRead(sql: string): boolean {
  return /^\s*(?:select|pragma\s+(?:integrity_check|journal_mode\s*$|table_info))/i.test(sql);
}

/**
 * Wraps a libSQL client so a busy failure reconnects the pool and retries.
 *
 * After SQLITE_BUSY a pooled file connection can keep an unfinalized statement that
 * later makes COMMITs fail or vanish (libsql-client-ts#352), so every busy error
 * replaces the connections before the retry. Only whole units are retried — a
 * single autocommit statement, a batch, or BEGIN — because a busy error means SQLite
 * committed none of it. Statements inside an open interactive transaction are not
 * retried here; `withWriteTransaction` retries the whole transaction instead.
 */
class ResilientClient implements Client {
  #retries = 0;
  #reconnecting: Promise<void> | null = null;
  /**
   * Settles when no interactive transaction of this process is open. BEGIN and every write wait
   * synchronously for SQLite's lock, so a statement issued while this process's own transaction
   * awaits would freeze the event loop until the busy timeout (and the busy reconnect would
   * then close that transaction). Everything else queues here, asynchronously, instead.
   */
  #gate: Promise<void> = Promise.resolve();
  /** Interactive transactions of this process open or waiting for the gate. */
  #transactions = 0;
  /** Interactive transactions of this process holding a client connection right now. */
  #lent = 0;
  /** A busy error left a client connection to replace once no transaction holds one. */
  #reconnectDue = false;
  /** Settles when close() is called, so work queued behind a transaction fails promptly. */
  #closing: Promise<void>;
  #signalClosed!: () => void;
  /** Writes waiting in #idle, and a promise that settles when none is left. */
  #writersWaiting = 0;
  #writersDrained: Promise<void> = Promise.resolve();
  #drainWriters: () => void = () => {};

  /**
   * Waits until no interactive transaction of this process is open. Bounded, because code that
   * writes through the client instead of `tx` while its own transaction is open would otherwise
   * wait forever; that is a bug, and the error says where to look.
   */
  async #idle(): Promise<void> {
    // The common case, no transaction of this process open or queued: no timer to arm.
    if (this.#transactions === 0) return;
    if (this.#writersWaiting++ === 0) this.#writersDrained = new Promise<void>((r) => (this.#drainWriters = r));
    try {
      await this.#gateStable();
    } finally {
      if (--this.#writersWaiting === 0) this.#drainWriters();
    }
  }

  /** Waits until the gate stops moving: every transaction open or queued when it was called ended. */
  async #gateStable(): Promise<void> {
    const deadline = Date.now() + GATE_TIMEOUT_MS;
    for (let gate = this.#gate; ; gate = this.#gate) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<true>((r) => (timer = setTimeout(() => r(true), Math.max(0, deadline - Date.now()))));
      // The timer is cleared as soon as the gate opens, so it never keeps a process alive.
      // A closed client stops waiting: the caller then meets CLIENT_CLOSED.
      const timedOut = await Promise.race([gate.then(() => false), this.#closing.then(() => false), timeout]).finally(() => clearTimeout(timer));
      if (this.inner.closed) return;
      if (timedOut) {
        throw new Error(`waited ${GATE_TIMEOUT_MS} ms for this process's open transaction; is code inside a transaction writing through db instead of tx?`);
      }
      if (gate === this.#gate) return;
    }
  }

  /** The connection with kept statements that reads outside a transaction use (database files only). */
  readonly #fast: CachedConnection | null;
  /** The database file's path when this process may open it itself, else null. */
  readonly #path: string | null;
  readonly #timeoutMs: number;

  constructor(
    private readonly inner: Client,
    private readonly url: string,
    private readonly maxAttempts: number,
    timeoutMs: number,
    level: SynchronousLevel,
  ) {
    const path = isPrivateDatabase(url) ? null : cachedConnectionPath(url);
    this.#path = path;
    this.#timeoutMs = timeoutMs;
    this.#fast = path === null ? null : new CachedConnection(path, timeoutMs, level);
    this.#closing = new Promise<void>((r) => (this.#signalClosed = r));
  }

  get closed() {
    return this.inner.closed;
  }
  get protocol() {
    return this.inner.protocol;
  }
  busyRetries() {
    return this.#retries;
  }

  async #reconnect(): Promise<void> {
    if (isPrivateDatabase(this.url) || !this.url.startsWith("file:")) return;
    // Concurrent callers that all saw busy share one reconnect.
    if (!this.#reconnecting) {
      this.#fast?.reset();
      // Replacing the client's connections would close the one an open transaction of this
      // process holds, and lose its work: then only the kept connection is replaced now, and
      // the client's connections when the last transaction ends (see #release).
      if (this.#lent > 0) {
        this.#reconnectDue = true;
        return;
      }
      this.#reconnectDue = false;
      this.#reconnecting = Promise.resolve(this.inner.reconnect()).finally(() => {
        this.#reconnecting = null;
      });
    }
    await this.#reconnecting;
  }

  async #retry<T>(op: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await op();
      } catch (e) {
        const busy = isBusyError(e);
        if (!busy && !isClosedUnderUs(e)) throw e;
        // Also before giving up: a connection whose statement failed busy can acknowledge a
        // later autocommit write it never commits (libsql-client-ts#352), so none is reused.
        if (busy) await this.#reconnect();
        if (attempt >= this.maxAttempts) throw e;
        this.#retries++;
        await sleep(backoffMs(attempt));
      }
    }
  }

  execute(stmt: InStatement): Promise<ResultSet>;
  execute(sql: string, args?: InArgs): Promise<ResultSet>;
  async execute(stmtOrSql: InStatement | string, args?: InArgs): Promise<ResultSet> {
    const sql = typeof stmtOrSql === "string" ? stmtOrSql : stmtOrSql.sql;
    const fast = this.#fast;
    if (fast && isSelect(sql)) {
      const stmt = typeof stmtOrSql === "string" ? { sql, args: args ?? [] } : stmtOrSql;
      // Asked on every attempt: a closed client stays closed (the client answers CLIENT_CLOSED),
      // where the kept connection would quietly reopen the file.
      return this.#retry(async () => (this.inner.closed ? this.inner.execute(stmt) : fast.execute(stmt)));
    }
    // Reads never wait for the write lock under WAL, so they need not queue behind a transaction.
    const write = !isRead(sql);
    // Every attempt waits again: a transaction this process opened during a retry's backoff
    // would otherwise meet the retry's synchronous wait for the lock it holds.
    return this.#retry(async () => {
      if (write) await this.#idle();
      return typeof stmtOrSql === "string" ? this.inner.execute(stmtOrSql, args) : this.inner.execute(stmtOrSql);
    });
  }

  async batch(stmts: Array<InStatement | [string, InArgs?]>, mode?: TransactionMode): Promise<ResultSet[]> {
    // A batch that writes takes the write lock up front, so the busy timeout applies instead of
    // failing later on a read-to-write upgrade. One of reads only (discover's searches) needs no
    // lock: deferred, it reads its snapshot beside another process's writer instead of waiting
    // out that writer's transaction, and it holds up no writer while it runs.
    const m = mode ?? (stmts.every((st) => isRead(typeof st === "string" ? st : Array.isArray(st) ? st[0] : st.sql)) ? "deferred" : "write");
    const fast = this.#fast;
    // Plain DML and reads run on the kept connection, whose statements are prepared once: an
    // insert into a table with triggers (the audit chain) cost more to prepare than to run.
    // Anything else (DDL, pragmas, attach) goes to the client.
    const kept = fast !== null && m !== "read" && batchable(stmts);
    // Each attempt waits for this process's open transaction and asks whether the client was
    // closed meanwhile (as execute does).
    return this.#retry(async () => {
      await this.#idle();
      return kept && !this.inner.closed ? fast.batch(stmts, m) : this.inner.batch(stmts, m);
    });
  }

  /** See Database.integrityCheck. */
  async integrityCheck(): Promise<string[]> {
    if (this.#path !== null && !this.inner.closed) {
      const path = this.#path;
      return this.#retry(async () => freshIntegrityCheck(path, this.#timeoutMs));
    }
    return (await this.execute("PRAGMA integrity_check")).rows.map((r) => String(r[0]));
  }

  /** See Database.changeStamp; null where there is no kept connection (remote, in-memory). */
  changeStamp(): number | null {
    if (!this.#fast || this.inner.closed) return null;
    return this.#fast.changeStamp();
  }

  migrate(stmts: InStatement[]): Promise<ResultSet[]> {
    return this.#retry(() => this.inner.migrate(stmts));
  }

  async transaction(mode?: TransactionMode): Promise<Transaction> {
    // Writes already waiting for this process's transactions go first: transactions opened back
    // to back would otherwise keep them waiting until the gate's timeout.
    while (this.#writersWaiting > 0 && !this.inner.closed) await Promise.race([this.#writersDrained, this.#closing]);
    let open!: () => void;
    const held = new Promise<void>((r) => (open = r));
    this.#transactions++;
    const release = () => {
      this.#transactions--;
      open();
    };
    const prev = this.#gate;
    this.#gate = prev.then(() => held);
    try {
      // A closed client answers at once (CLIENT_CLOSED) instead of waiting for the gate.
      await Promise.race([prev, this.#closing]);
      const tx = await this.#retry(() => this.inner.transaction(mode));
      this.#lent++;
      return releasingOnEnd(
        tx,
        () => {
          this.#lent--;
          release();
          // A busy error inside this transaction (or outside it while it held its connection)
          // left a connection that must not serve another statement.
          if (this.#lent === 0 && this.#reconnectDue) void this.#reconnect();
        },
        (e) => {
          if (isBusyError(e)) this.#reconnectDue = true;
        },
      );
    } catch (e) {
      release();
      throw e;
    }
  }

  executeMultiple(sql: string): Promise<void> {
    return this.#retry(() => this.inner.executeMultiple(sql));
  }

  sync() {
    return this.inner.sync();
  }

  reconnect() {
    this.#fast?.reset();
    return this.inner.reconnect();
  }

  close() {
    this.#fast?.reset();
    this.inner.close();
    this.#signalClosed();
  }
}

/**
 * A transaction that calls `release` once, when it commits, rolls back or closes, and shows
 * `failed` every error its statements throw.
 */
function releasingOnEnd(tx: Transaction, release: () => void, failed: (e: unknown) => void): Transaction {
  let released = false;
  const once = () => {
    if (!released) {
      released = true;
      release();
    }
  };
  return new Proxy(tx, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      if (prop === "close") {
        return () => {
          try {
            return value.call(target);
          } finally {
            once();
          }
        };
      }
      if (prop === "commit" || prop === "rollback") {
        return async () => {
          try {
            return await value.call(target);
          } catch (e) {
            failed(e);
            throw e;
          } finally {
            once();
          }
        };
      }
      if (prop === "execute" || prop === "batch" || prop === "executeMultiple") {
        return async (...args: unknown[]) => {
          try {
            return await value.apply(target, args);
          } catch (e) {
            failed(e);
            throw e;
          }
        };
      }
      return value.bind(target);
    },
  });
}

/**
 * A connection pool that sets `synchronous` on each connection as it opens. The level is per
 * connection (not stored in the file) and may not change inside a transaction, and libSQL's
 * client opens connections on demand (a transaction borrows one, a busy reconnect replaces
 * them all), so the pool is the one place that sees every connection before it is used.
 */
class SynchronousPool extends ConnectionPool {
  readonly #prepared = new WeakSet<object>();
  constructor(
    path: string,
    options: ConstructorParameters<typeof ConnectionPool>[1],
    maxConnections: number,
    private readonly level: SynchronousLevel,
  ) {
    super(path, options, maxConnections);
  }
  override acquireSync(forTransaction = false) {
    const conn = super.acquireSync(forTransaction);
    if (!this.#prepared.has(conn)) {
      conn.exec(`PRAGMA synchronous = ${this.level === "full" ? "FULL" : "NORMAL"}`);
      this.#prepared.add(conn);
    }
    return conn;
  }
}

/**
 * Creates the libSQL client: for a file database, the local client over a pool that applies
 * `synchronous` to every connection; anything else (remote, in-memory, an embedded replica,
 * a URL the client will refuse) goes through `createClient` unchanged.
 */
function createDatabaseClient(url: string, authToken: string | undefined, timeout: number, level: SynchronousLevel): Client {
  const config = { url, authToken, timeout };
  let expanded: ReturnType<typeof expandConfig>;
  try {
    expanded = expandConfig(config, true);
  } catch {
    return createClient(config);
  }
  const authority = expanded.authority;
  const plainAuthority =
    authority === undefined ||
    ((authority.host === "" || authority.host.toLowerCase() === "localhost") && authority.port === undefined && authority.userinfo === undefined);
  if (expanded.scheme !== "file" || !plainAuthority || expanded.syncUrl || isInMemoryConfig(expanded) || isPrivateDatabase(url)) {
    return createClient(config);
  }
  const pool = new SynchronousPool(expanded.path, { timeout: expanded.timeout }, Math.max(1, expanded.concurrency), level);
  // Opening one connection up front reports a bad path here, as createClient does.
  try {
    pool.release(pool.acquireSync());
  } catch (e) {
    pool.close();
    throw e;
  }
  return new Sqlite3Client(pool, expanded.intMode);
}

/** Opens a database with WAL (file URLs), a busy timeout and reconnect-on-busy retries. */
export async function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  const level = opts.synchronous ?? "normal";
  const inner = createDatabaseClient(opts.url, opts.authToken, opts.timeoutMs ?? 5000, level);
  const resilient = new ResilientClient(inner, opts.url, opts.maxAttempts ?? 50, opts.timeoutMs ?? 5000, level);
  if (opts.url.startsWith("file:") && !isPrivateDatabase(opts.url)) {
    // journal_mode is persistent in the file, so setting it through one pooled connection is enough.
    await resilient.execute("PRAGMA journal_mode = WAL");
  }
  const client = opts.wrapClient ? opts.wrapClient(resilient) : resilient;
  const db = drizzle(client, { schema });
  return {
    db,
    client,
    url: opts.url,
    busyRetries: () => resilient.busyRetries(),
    changeStamp: () => resilient.changeStamp(),
    integrityCheck: () => resilient.integrityCheck(),
    close: () => client.close(),
  };
}

/**
 * Runs `fn` in one write transaction (BEGIN IMMEDIATE), retrying the whole function when
 * SQLite reports busy part-way. `fn` must only touch the database so a retry is safe.
 */
export async function withWriteTransaction<T>(db: Db, fn: (tx: Parameters<Parameters<Db["transaction"]>[0]>[0]) => Promise<T>, maxAttempts = 20): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      // @libsql/client opens "write" transactions (BEGIN IMMEDIATE) by default; drizzle's
      // behavior option does not reach it, so none is passed.
      return await db.transaction(fn);
    } catch (e) {
      if (!isBusyError(e) || attempt >= maxAttempts) throw e;
      await sleep(backoffMs(attempt));
    }
  }
}

/**
 * Runs `fn` in a raw client write transaction, retrying the whole function on busy. For hot
 * paths (ingest) where building statements through drizzle would dominate the cost.
 */
export async function withClientWriteTransaction<T>(client: Client, fn: (tx: Transaction) => Promise<T>, maxAttempts = 20): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const tx = await client.transaction("write");
    try {
      const out = await fn(tx);
      await tx.commit();
      return out;
    } catch (e) {
      await tx.rollback().catch(() => {});
      if (!isBusyError(e) || attempt >= maxAttempts) throw e;
      await sleep(backoffMs(attempt));
    } finally {
      tx.close();
    }
  }
}
