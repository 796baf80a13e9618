import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Client } from "@libsql/client";
import { eq } from "drizzle-orm";
import { tokens } from "../schema/auth.ts";
import { liveOwnerTokenIds, tokenInsert, tokenIsLive } from "../functions/lib/auth.ts";
import type { Logger, Services } from "../functions/lib/ctx.ts";
import { openDatabase, type Database } from "../functions/lib/db.ts";
import { makeId, sha256Hex } from "../functions/lib/ids.ts";
import { isUniqueViolation, sqliteErrorOf } from "../functions/lib/sql.ts";
import { hardeningFromEnv } from "./hardening-env.ts";
import {
  databaseFileOf,
  databaseFileState,
  ensureHomeDirs,
  readOwnerTokenFile,
  replaceOwnerTokenFile,
  resolveHome,
  writeOwnerTokenFileOnce,
  type HomeConfig,
} from "./home.ts";
import { agentLaunchConfig, ensureCliShim } from "./agents.ts";
import { drafterFromEnv } from "./drafter.ts";
import { swaggerUiAssets } from "./docs-assets.ts";
import { NodeHost } from "./host.ts";
import { pinoLogger } from "./logger.ts";
import { migrateDatabase, NEWER_DATABASE, NEWER_DATABASE_HINT } from "./migrate.ts";
import { ChangeWatcher, watchableUrl } from "./change-watcher.ts";
import { InboxNotifier } from "../functions/lib/notifier.ts";

/** Services for a local process plus what the CLI and `up` need to know about home. */
export interface LocalServices extends Services {
  database: Database;
  home: HomeConfig;
  ownerToken: string;
  /** Wakes long polls on other processes' writes (file databases only); null otherwise. */
  changeWatcher?: ChangeWatcher | null;
}

export { hardeningFromEnv };

let shared: Logger | undefined;

/**
 * The stderr JSON-lines logger (pino) of long-running processes: `up` writes its access log and
 * errors there, `dispatch` and `runner` their progress. Created on first use, so a bad
 * SWITCHYARD_LOG_LEVEL fails the command that logs, not every import.
 */
export function processLogger(): Logger {
  shared ??= pinoLogger();
  return shared;
}

/** Raised when the owner token cannot be established; carries a hint for the user. */
export class OwnerTokenError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/** Raised when a remote database cannot be reached or refuses us; names the URL and what to check. */
export class DatabaseUnreachableError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/** The URL without credentials or query string (libSQL URLs may carry ?authToken=), safe to print. */
export function printableUrl(url: string): string {
  if (url.startsWith("file:")) return url.split("?")[0]!;
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === "/" ? "" : u.pathname}`;
  } catch {
    return url.split("?")[0]!;
  }
}

/**
 * A remote database that is down, unknown or refusing the token fails deep inside fetch with
 * "fetch failed"; this turns such an error into one that names the URL and what to check.
 * Null for errors that are not about reaching the database (a bad migration stays itself).
 */
export function describeDatabaseError(url: string, e: unknown, authToken?: string): DatabaseUnreachableError | null {
  if (url.startsWith("file:")) return describeFileError(printableUrl(url).slice("file:".length), e);
  const chain: string[] = [];
  for (let cur: any = e, depth = 0; cur && depth < 5; depth++, cur = cur.cause) {
    if (typeof cur.code === "string") chain.push(cur.code);
    if (typeof cur.message === "string") chain.push(cur.message);
  }
  // A server may echo what it was sent; the token never reaches a terminal or a log.
  const redact = (t: string) => (authToken ? t.split(authToken).join("<token>") : t);
  const text = redact(chain.join(" | "));
  const last = redact(chain.at(-1) ?? "");
  const where = printableUrl(url);
  if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|fetch failed|UND_ERR|bad port/i.test(text)) {
    const cause = chain.find((c) => /^E[A-Z_]+$|^UND_ERR/.test(c)) ?? (last || "no answer");
    return new DatabaseUnreachableError(
      `cannot reach the database at ${where} (${cause})`,
      "Check SWITCHYARD_DB_URL: is the libSQL/sqld server running and reachable from this machine (host, port, firewall; libsql:// means TLS unless ?tls=0)? Unset it to use the local file database in the home.",
    );
  }
  if (/\b(401|403)\b|unauthori[sz]ed|forbidden/i.test(text)) {
    return new DatabaseUnreachableError(
      `the database at ${where} refused the connection: ${last || "unauthorized"}`,
      `Check SWITCHYARD_DB_AUTH_TOKEN (${authToken ? "it is set, but this server does not accept it: is it this database's token, and not expired?" : "it is not set; a Turso or sqld database with auth needs one"}).`,
    );
  }
  const status = /(?:HTTP status|server response:?)\s*(\d{3})/i.exec(text)?.[1];
  if (status || /SERVER_ERROR|HRANA_WEBSOCKET_ERROR|HRANA_PROTO_ERROR/.test(text)) {
    return new DatabaseUnreachableError(
      `the server at ${where} did not answer as a libSQL database${status ? ` (HTTP ${status})` : ""}: ${last}`,
      "Check SWITCHYARD_DB_URL: it must name a libSQL server (sqld, Turso) — libsql://, https:// or http:// — not a web page or another service on that port.",
    );
  }
  return null;
}

/**
 * A database file SQLite cannot use, in words that name the file and what to check: not a
 * database (or damaged), not writable by this user, or not openable. Null for anything else.
 */
function describeFileError(path: string, e: unknown): DatabaseUnreachableError | null {
  const code = sqliteErrorOf(e)?.code ?? "";
  const dir = dirname(path);
  if (/^SQLITE_(NOTADB|CORRUPT)/.test(code)) {
    return new DatabaseUnreachableError(
      `the database file ${path} is not a usable SQLite database (${code})`,
      `Restore it from a backup, or move it aside (mv ${path} ${path}.bad) and run \`switchyard init\` to start an empty database.`,
    );
  }
  if (code.startsWith("SQLITE_READONLY")) {
    return new DatabaseUnreachableError(
      `cannot write the database file ${path} (${code})`,
      `Check that this user may write ${path} and its directory ${dir}, where SQLite keeps the -wal and -shm files beside it (ls -ld ${dir} ${path}).`,
    );
  }
  if (code.startsWith("SQLITE_CANTOPEN") || code.startsWith("SQLITE_IOERR")) {
    return new DatabaseUnreachableError(
      `cannot open the database file ${path} (${code})`,
      `Check that ${dir} exists and this user may read and write it, and that the disk is healthy.`,
    );
  }
  return null;
}

/** URL schemes @libsql/client opens. */
const DATABASE_SCHEMES = new Set(["file:", "libsql:", "http:", "https:", "ws:", "wss:"]);

/**
 * Refuses a database URL that cannot work before anything tries it, in words that name the
 * setting: an unknown scheme, or credentials in the URL (fetch refuses those, and its error would
 * print them).
 */
export function checkDatabaseUrl(url: string): void {
  const hint =
    "Set SWITCHYARD_DB_URL to libsql://HOST, https://HOST[:PORT] (Turso, sqld) or file:PATH, and the token in SWITCHYARD_DB_AUTH_TOKEN; unset it for the home's file database.";
  if (url.startsWith("file:")) return;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new DatabaseUnreachableError(`SWITCHYARD_DB_URL is not a URL: ${printableUrl(url)}`, hint);
  }
  if (!DATABASE_SCHEMES.has(u.protocol)) {
    throw new DatabaseUnreachableError(`SWITCHYARD_DB_URL has the scheme ${u.protocol} which is not a libSQL database: ${printableUrl(url)}`, hint);
  }
  if (u.username || u.password) {
    throw new DatabaseUnreachableError(`SWITCHYARD_DB_URL carries credentials (user:password@), which are not sent: ${printableUrl(url)}`, hint);
  }
}

/** The token row a secret belongs to (looked up by its hash), if any. */
async function tokenRowOf(database: Database, secret: string) {
  const [row] = await database.db
    .select()
    .from(tokens)
    .where(eq(tokens.secretHash, await sha256Hex(secret)))
    .limit(1);
  return row;
}

/**
 * Makes sure `<home>/owner.token` holds a live owner token for this database: created on first
 * start, adopted when the database has no owner yet, refused when it belongs to another owner.
 */
export async function ensureOwnerToken(database: Database, home: HomeConfig, nowMs: number): Promise<string> {
  const existing = readOwnerTokenFile(home);
  const live = await liveOwnerTokenIds(database.db, nowMs);
  if (existing) {
    const row = await tokenRowOf(database, existing);
    if (row && row.kind === "owner" && tokenIsLive(row, nowMs)) return existing;
    if (row || live.length) {
      throw new OwnerTokenError(
        `${home.ownerTokenFile} does not hold a live owner token for this database`,
        `${live.length ? "Whoever can write this database is its owner: " : "No owner token of this database is live any more; "}run \`switchyard init --reset-owner-token\` to mint a new owner token straight into the database and write it to ${home.ownerTokenFile}${live.length ? " (or, with another live owner token, `switchyard token mint --scope owner --url URL --token SECRET` and write the secret there, mode 0600)" : ""}.`,
      );
    }
    try {
      await database.db
        .insert(tokens)
        .values({ id: makeId("tok", nowMs), kind: "owner", secretHash: await sha256Hex(existing), label: "owner.token", createdAt: nowMs });
    } catch (e) {
      // Two processes starting on a fresh home: the one that wrote the file inserted its row
      // between our read and our insert. That row holds this very secret, so we are done.
      if (!isUniqueViolation(e)) throw e;
    }
    return existing;
  }
  if (live.length) {
    // A process starting beside us writes the file before it inserts its row, so a live row we
    // see may be one whose file appeared after our first look: look again before refusing.
    if (readOwnerTokenFile(home)) return ensureOwnerToken(database, home, nowMs);
    throw new OwnerTokenError(
      `this database already has an owner, but ${home.ownerTokenFile} is missing`,
      "Ask the owner to run `switchyard token mint --scope owner` and save the secret there, or use --url with --token.",
    );
  }
  const token = await tokenInsert(database.db, { id: makeId("tok", nowMs), kind: "owner", nowMs, label: "owner.token" });
  const inFile = writeOwnerTokenFileOnce(home, token.secret);
  if (inFile !== token.secret) return ensureOwnerToken(database, home, nowMs);
  try {
    await token.stmt;
  } catch (e) {
    // A racing process may have adopted our freshly written file first; that row is ours too.
    if (!isUniqueViolation(e)) throw e;
  }
  return token.secret;
}

/** What `init --reset-owner-token` did: the new token in owner.token, and the other live owner tokens. */
export interface OwnerTokenReset {
  tokenId: string;
  otherLive: string[];
}

/**
 * Mints a new owner token straight into the database and writes it to `<home>/owner.token`, for
 * a home whose file no longer holds a live one (a rotation cut short between its commit and the
 * file, a revoked token). Only for whoever can reach the database itself, who owns it anyway. The
 * row goes in before the file is replaced, so a crash leaves the old file and a spare token, and
 * the reset can run again. Refused while the file still works (rotate that one instead).
 */
export async function resetOwnerToken(database: Database, home: HomeConfig, nowMs: number): Promise<OwnerTokenReset> {
  const existing = readOwnerTokenFile(home);
  if (existing) {
    const row = await tokenRowOf(database, existing);
    if (row && row.kind === "owner" && tokenIsLive(row, nowMs)) {
      throw new OwnerTokenError(
        `${home.ownerTokenFile} still holds a live owner token (${row.id}); there is nothing to reset`,
        "To replace a working owner token, run `switchyard token rotate --owner-file`.",
      );
    }
  }
  const token = await tokenInsert(database.db, { id: makeId("tok", nowMs), kind: "owner", nowMs, label: "owner.token" });
  await token.stmt;
  replaceOwnerTokenFile(home, token.secret);
  const otherLive = (await liveOwnerTokenIds(database.db, nowMs)).filter((id) => id !== token.row.id);
  return { tokenId: token.row.id, otherLive };
}

/** Shortest and longest server-wide long-poll re-check interval an operator may set, in ms. */
export const WAKE_INTERVAL_RANGE_MS = { min: 100, max: 60_000 } as const;

/**
 * Reads `SWITCHYARD_WAKE_INTERVAL_MS`: the server's default long-poll re-check interval, or
 * undefined when unset. Bad values are refused by name rather than silently ignored.
 */
export function wakeIntervalFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.SWITCHYARD_WAKE_INTERVAL_MS;
  if (raw === undefined || raw === "") return undefined;
  return checkWakeInterval(Number(raw), `SWITCHYARD_WAKE_INTERVAL_MS='${raw}'`);
}

/** Validates a wake interval in ms; `what` names where it came from in the error. */
export function checkWakeInterval(ms: number, what: string): number {
  if (!Number.isInteger(ms) || ms < WAKE_INTERVAL_RANGE_MS.min || ms > WAKE_INTERVAL_RANGE_MS.max) {
    throw new Error(`${what}: the wake interval must be a whole number of ms from ${WAKE_INTERVAL_RANGE_MS.min} to ${WAKE_INTERVAL_RANGE_MS.max}`);
  }
  return ms;
}

/**
 * The file database a used home points at is gone: an owner token was made for a database that is
 * no longer there (moved, deleted, or SWITCHYARD_DB_URL changed). Recreating it quietly would show
 * an empty fleet as if nothing had ever run; only `switchyard init` starts an empty one. A path
 * that names a directory, FIFO or device is refused in any home (DatabasePathNotFileError).
 */
function assertDatabaseFilePresent(home: HomeConfig, create: boolean): void {
  const path = databaseFileOf(home.dbUrl);
  if (path === null) return;
  // Checked even when creating or in a new home: a directory, FIFO or device throws here.
  const state = databaseFileState(path);
  if (create || state === "present" || !existsSync(home.ownerTokenFile)) return;
  throw new DatabaseUnreachableError(
    `the database file ${path} is ${state}, but this home (${home.home}) has been used: its owner.token was made for a database that is no longer there`,
    `Put the file back (or set SWITCHYARD_DB_URL to where it is now). To start over with an empty database in this home, run \`switchyard init --home ${home.home}\`; owner.token carries over to it.`,
  );
}

/**
 * Opens the database, applies migrations and establishes the owner token. For a file database
 * it also attaches a ChangeWatcher, so long polls here wake when another process on the same
 * file writes to their inbox (stopped by `database.close()`); `watchChanges: false` leaves it out.
 * A database migrated by a newer Switchyard is opened with a warning (the logger's, else stderr).
 */
export async function openLocalServices(
  opts: {
    home?: HomeConfig;
    log?: Logger;
    clock?: () => Date;
    wakeIntervalMs?: number;
    watchChanges?: boolean;
    /** Wraps the database client (tests count round trips or add latency with it). */
    wrapClient?: (client: Client) => Client;
    /** "reset": mint a new owner token into owner.token first (`init --reset-owner-token`). */
    ownerToken?: "ensure" | "reset";
    /** Receives what the reset did. */
    onReset?: (r: OwnerTokenReset) => void;
    /**
     * Create the database file even in a home that was used before (`init`); otherwise a used
     * home whose file database is missing is refused rather than silently started empty.
     */
    createDatabase?: boolean;
  } = {},
): Promise<LocalServices> {
  const home = opts.home ?? resolveHome();
  // Read first: a bad value fails before anything is opened.
  const hardening = hardeningFromEnv();
  ensureHomeDirs(home);
  ensureCliShim(home.home);
  checkDatabaseUrl(home.dbUrl);
  assertDatabaseFilePresent(home, opts.createDatabase === true);
  const opened = await openDatabase({ url: home.dbUrl, authToken: home.dbAuthToken, synchronous: home.dbSynchronous, wrapClient: opts.wrapClient }).catch(
    (e: unknown) => {
      throw describeDatabaseError(home.dbUrl, e, home.dbAuthToken) ?? e;
    },
  );
  const notifier = new InboxNotifier();
  const watcher = opts.watchChanges !== false && watchableUrl(home.dbUrl) ? new ChangeWatcher({ url: home.dbUrl, notifier, log: opts.log }) : null;
  const database: Database = {
    ...opened,
    close() {
      watcher?.stop();
      opened.close();
    },
  };
  try {
    let newer = 0;
    try {
      ({ newer } = await migrateDatabase(database));
    } catch (e) {
      throw describeDatabaseError(home.dbUrl, e, home.dbAuthToken) ?? e;
    }
    if (newer) {
      if (opts.log) opts.log.warn(NEWER_DATABASE, { newer_migrations: newer, hint: NEWER_DATABASE_HINT });
      // A CLI command has no logger: say it where a person running it will see it.
      else
        process.stderr.write(`switchyard: warning: ${NEWER_DATABASE} (${newer} migration${newer === 1 ? "" : "s"} it does not know). ${NEWER_DATABASE_HINT}\n`);
    }
    const clock = opts.clock ?? (() => new Date());
    let ownerToken: string;
    try {
      if (opts.ownerToken === "reset") opts.onReset?.(await resetOwnerToken(database, home, clock().getTime()));
      ownerToken = await ensureOwnerToken(database, home, clock().getTime());
    } catch (e) {
      // Its first write can be where a database file turns out read-only.
      throw describeDatabaseError(home.dbUrl, e, home.dbAuthToken) ?? e;
    }
    return {
      database,
      home,
      ownerToken,
      clock,
      host: new NodeHost({ pluginDir: join(home.home, "plugins"), bootClockFile: join(home.home, "boot-clock.json") }),
      hostName: home.hostName,
      log: opts.log,
      agents: agentLaunchConfig(process.env, home),
      drafter: drafterFromEnv(process.env),
      docsAssets: swaggerUiAssets(),
      notifier,
      changeWatcher: watcher,
      wakeIntervalMs: opts.wakeIntervalMs ?? wakeIntervalFromEnv(),
      ...hardening,
    };
  } catch (e) {
    database.close();
    throw e;
  }
}
