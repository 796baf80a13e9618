import {
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  type Stats,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { hostname } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { expandConfig } from "@libsql/core/config";
import { type SynchronousLevel, synchronousFromEnv } from "../functions/lib/db-sync.ts";

/** Where Switchyard keeps its state on this machine, and how to reach its database. */
export interface HomeConfig {
  home: string;
  dbUrl: string;
  dbAuthToken?: string;
  /** SWITCHYARD_DB_SYNCHRONOUS: fsync every commit (`full`) or at checkpoints (`normal`, the default). */
  dbSynchronous?: SynchronousLevel;
  ownerTokenFile: string;
  hostName: string;
}

/** The state directory the CLI looks for, the way git looks for `.git`. */
export const HOME_DIR_NAME = ".switchyard";

/** A home the CLI located, and how: --home, $SWITCHYARD_HOME, or found walking up from cwd. */
export interface LocatedHome {
  path: string;
  source: "flag" | "env" | "found";
  /** False when --home or $SWITCHYARD_HOME names a directory that does not exist (yet). */
  exists: boolean;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Finds the home: `--home`, else `$SWITCHYARD_HOME`, else the nearest `.switchyard/` directory
 * in `cwd` or one of its parents (so any subdirectory of a project uses the project's home).
 * Null when there is none; only `init` and `up` create one.
 */
export function locateHome(env: NodeJS.ProcessEnv, opts: { home?: string; cwd?: string } = {}): LocatedHome | null {
  const cwd = opts.cwd ?? process.cwd();
  // An empty variable counts as unset, like everywhere else.
  const explicit = opts.home
    ? { path: opts.home, source: "flag" as const }
    : env.SWITCHYARD_HOME
      ? { path: env.SWITCHYARD_HOME, source: "env" as const }
      : null;
  if (explicit) {
    const path = resolve(cwd, explicit.path);
    return { path, source: explicit.source, exists: isDirectory(path) };
  }
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const candidate = join(dir, HOME_DIR_NAME);
    if (isDirectory(candidate)) return { path: candidate, source: "found", exists: true };
    if (dirname(dir) === dir) return null;
  }
}

/**
 * Reads a secret from a file named by a variable (`SWITCHYARD_DB_AUTH_TOKEN_FILE`): what an
 * installed service uses, so the secret lives in a 0600 file and not in a unit file anyone can
 * read. A named file that cannot be read is an error that names it.
 */
function tokenFromFile(path: string | undefined): string | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path, "utf8").trim() || undefined;
  } catch (e) {
    throw new Error(`cannot read SWITCHYARD_DB_AUTH_TOKEN_FILE ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * Resolves configuration from the environment. A relative home or file URL is made absolute
 * here, once, because a reconnect after SQLITE_BUSY reopens the path and must land on the same file.
 */
export function resolveHome(env: NodeJS.ProcessEnv = process.env, overrides: { home?: string; dbUrl?: string } = {}): HomeConfig {
  // An empty variable counts as unset; resolve("") would silently make the current directory home.
  const home = resolve(overrides.home || env.SWITCHYARD_HOME || ".switchyard");
  let dbUrl = overrides.dbUrl || env.SWITCHYARD_DB_URL || `file:${join(home, "switchyard.db")}`;
  if (dbUrl.startsWith("file:")) {
    const path = dbUrl.slice("file:".length);
    if (path && path !== ":memory:" && !isAbsolute(path)) dbUrl = `file:${resolve(path)}`;
  }
  return {
    home,
    dbUrl,
    dbAuthToken: env.SWITCHYARD_DB_AUTH_TOKEN || tokenFromFile(env.SWITCHYARD_DB_AUTH_TOKEN_FILE) || undefined,
    dbSynchronous: synchronousFromEnv(env.SWITCHYARD_DB_SYNCHRONOUS),
    ownerTokenFile: join(home, "owner.token"),
    hostName: env.SWITCHYARD_HOST_NAME || hostname(),
  };
}

/**
 * Creates the home directory (0700) and, for a file database, its parent directory. A home it
 * creates gets a `.gitignore` of `*`: a home inside a project must never be committed with it.
 */
export function ensureHomeDirs(cfg: HomeConfig): void {
  if (existsSync(cfg.home) && !statSync(cfg.home).isDirectory()) {
    throw new HomeNotDirectoryError(cfg.home);
  }
  if (mkdirSync(cfg.home, { recursive: true, mode: 0o700 }) !== undefined) {
    writeFileSync(join(cfg.home, ".gitignore"), "# Switchyard state (database, owner token, agent shims): never commit it.\n*\n");
  }
  const path = databaseFileOf(cfg.dbUrl);
  if (path) mkdirSync(dirname(path), { recursive: true });
}

/**
 * Whether a database file holds anything: "missing", "empty" (truncated, or replaced by an empty
 * file, with no write-ahead log holding what has not reached it yet) or "present". Something at
 * the path that is not a regular file (after symlinks) throws DatabasePathNotFileError: libSQL
 * would fail on it later with a bare I/O error, a FIFO after writing a journal beside it.
 */
export function databaseFileState(path: string): "missing" | "empty" | "present" {
  if (!existsSync(path)) return "missing";
  const stat = statSync(path);
  if (!stat.isFile()) throw new DatabasePathNotFileError(path, stat);
  if (stat.size > 0) return "present";
  const wal = `${path}-wal`;
  return existsSync(wal) && statSync(wal).size > 0 ? "present" : "empty";
}

/**
 * The file a `file:` database URL names, read as libSQL reads it (percent-escapes decoded, a
 * `localhost` authority dropped), or null: a remote or in-memory database, or a URL libSQL
 * refuses (it says why when it is opened).
 */
export function databaseFileOf(dbUrl: string): string | null {
  let expanded: ReturnType<typeof expandConfig>;
  try {
    expanded = expandConfig({ url: dbUrl }, true);
  } catch {
    return null;
  }
  const host = expanded.authority?.host.toLowerCase();
  if (expanded.scheme !== "file" || (host !== undefined && host !== "" && host !== "localhost")) return null;
  return expanded.path && expanded.path !== ":memory:" ? expanded.path : null;
}

/** A database path that names a directory, FIFO, device or socket rather than a database file. */
export class DatabasePathNotFileError extends Error {
  readonly hint =
    "SWITCHYARD_DB_URL (or the home's switchyard.db) must name a database file: for a directory, a file name inside it; otherwise move what is there aside.";
  /** What is there instead: "a directory", "a FIFO", "a device", "a socket" or "not a regular file". */
  readonly what: string;
  constructor(
    readonly path: string,
    stat: Stats,
  ) {
    const what = stat.isDirectory()
      ? "a directory"
      : stat.isFIFO()
        ? "a FIFO"
        : stat.isCharacterDevice() || stat.isBlockDevice()
          ? "a device"
          : stat.isSocket()
            ? "a socket"
            : "not a regular file";
    super(`the database path ${path} is ${what}, not a database file`);
    this.what = what;
  }
}

/** A home path that names a file: said with the path and what to do, not mkdir's EEXIST. */
export class HomeNotDirectoryError extends Error {
  readonly hint = "A home is a directory: pass a path that does not exist yet (it is created) or an existing home, e.g. --home ~/.switchyard-team.";
  constructor(path: string) {
    super(`the home ${path} is a file, not a directory`);
  }
}

/** Reads the owner token file, or null when it does not exist. */
export function readOwnerTokenFile(cfg: HomeConfig): string | null {
  if (!existsSync(cfg.ownerTokenFile)) return null;
  const text = readFileSync(cfg.ownerTokenFile, "utf8").trim();
  return text || null;
}

/**
 * Writes the owner token file with mode 0600, atomically and only if it does not exist yet:
 * the secret goes to a private temp file which is then hard-linked into place, so a racing
 * process either wins or reads a complete file. Returns the secret that ended up in the file.
 */
export function writeOwnerTokenFileOnce(cfg: HomeConfig, secret: string): string {
  const tmp = `${cfg.ownerTokenFile}.${process.pid}.${Date.now()}.tmp`;
  const fd = openSync(tmp, "wx", 0o600);
  try {
    writeSync(fd, `${secret}\n`);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, cfg.ownerTokenFile);
    return secret;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    return readOwnerTokenFile(cfg) ?? secret;
  } finally {
    unlinkSync(tmp);
  }
}

/**
 * Replaces the owner token file atomically (token rotate --owner-file): the new secret goes to a
 * private temp file (mode 0600), is flushed to disk, then renamed over the old file, so a reader
 * sees the old secret or the new one, never a partial file.
 */
export function replaceOwnerTokenFile(cfg: HomeConfig, secret: string): void {
  const tmp = `${cfg.ownerTokenFile}.${process.pid}.${Date.now()}.tmp`;
  const fd = openSync(tmp, "wx", 0o600);
  try {
    writeSync(fd, `${secret}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, cfg.ownerTokenFile);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
