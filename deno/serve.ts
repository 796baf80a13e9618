// The Deno host of the API: the same createApp(services) that `switchyard up` serves on Node,
// served with Deno.serve, with the crons scheduled by Deno.cron. There is no local runner here
// (no tmux, no agent CLIs, no Swagger UI files): routes that need one answer HOST_UNAVAILABLE,
// /docs points at the OpenAPI document, and panes are driven by `switchyard runner` processes on
// the machines that hold them. Everything is configured through the environment, the way
// platforms hand settings to a process; see docs/deno.md.
import { and, eq } from "drizzle-orm";
import { tokens } from "../schema/auth.ts";
import { CRONS } from "../crons/index.ts";
import { claimCronSlot, runCron } from "../crons/run.ts";
import { createApp } from "../functions/app.ts";
import { liveOwnerTokenIds } from "../functions/lib/auth.ts";
import { type Logger, makeCtx, type Services } from "../functions/lib/ctx.ts";
import { type Database, openDatabase } from "../functions/lib/db.ts";
import { type SynchronousLevel, synchronousFromEnv } from "../functions/lib/db-sync.ts";
import { makeId, sha256Hex } from "../functions/lib/ids.ts";
import { hardeningFromEnv } from "../local-runner/hardening-env.ts";
import { DatabasePathNotFileError, databaseFileOf, databaseFileState } from "../local-runner/home.ts";
import { isLoopbackHost } from "../local-runner/loopback.ts";
import { pinoLogger } from "../local-runner/logger.ts";
import { migrateDatabase, NEWER_DATABASE, NEWER_DATABASE_HINT } from "../local-runner/migrate.ts";

/** What the Deno entry reads from its environment. */
export interface DenoConfig {
  /** SWITCHYARD_DB_URL: `file:…`, `libsql://…` or `https://…` (default `file:switchyard.db` in the working directory). */
  dbUrl: string;
  /** SWITCHYARD_DB_AUTH_TOKEN, for a remote database. */
  dbAuthToken?: string;
  /** SWITCHYARD_DB_SYNCHRONOUS for a file database: `normal` (default) or `full`. */
  dbSynchronous?: SynchronousLevel;
  /**
   * SWITCHYARD_OWNER_TOKEN: adopted as the owner token when the database has none yet (a fresh
   * database on a platform with no home directory). Never logged.
   */
  ownerToken?: string;
  /**
   * PORT (default 8787) and SWITCHYARD_LISTEN (default 127.0.0.1). A non-loopback address (a
   * platform's 0.0.0.0) also needs SWITCHYARD_I_KNOW_THIS_IS_EXPOSED=1, as `up --host` needs
   * --i-know-this-is-exposed.
   */
  port: number;
  hostname: string;
  /** SWITCHYARD_HOST_NAME: the name recorded on sessions registered through this server (default "deno"). */
  hostName: string;
  /** SWITCHYARD_CRONS: `on` (default) schedules every cron with Deno.cron, `off` leaves them to HTTP calls. */
  crons: boolean;
  /** SWITCHYARD_MAX_BODY_BYTES (default 1 MiB). */
  maxBodyBytes?: number;
  /**
   * SWITCHYARD_DB_CREATE=1: a file database that does not exist yet (or is an empty file) may be
   * created. Without it such a start is refused: a volume that was not mounted or a mistyped
   * path would otherwise start a new empty database that adopts the same owner secret.
   */
  createDatabase: boolean;
}

/** Reads the entry's settings; a value that cannot be used names the variable. */
export function denoConfigFromEnv(env: Record<string, string | undefined>): DenoConfig {
  const port = env.PORT ?? "8787";
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65_535) throw new Error(`PORT must be a port number (0-65535), got '${port}'`);
  const crons = env.SWITCHYARD_CRONS ?? "on";
  if (crons !== "on" && crons !== "off") throw new Error(`SWITCHYARD_CRONS must be 'on' or 'off', got '${crons}'`);
  const maxBody = env.SWITCHYARD_MAX_BODY_BYTES;
  if (maxBody !== undefined && !/^[1-9]\d*$/.test(maxBody)) throw new Error(`SWITCHYARD_MAX_BODY_BYTES must be a positive whole number, got '${maxBody}'`);
  const create = env.SWITCHYARD_DB_CREATE;
  if (create !== undefined && create !== "" && create !== "0" && create !== "1") {
    throw new Error(`SWITCHYARD_DB_CREATE must be '1' (create a missing database file) or '0', got '${create}'`);
  }
  const hostname = env.SWITCHYARD_LISTEN || "127.0.0.1";
  if (!isLoopbackHost(hostname) && env.SWITCHYARD_I_KNOW_THIS_IS_EXPOSED !== "1") {
    throw new Error(
      `refusing to listen on SWITCHYARD_LISTEN=${hostname}: it is not a loopback address, so anyone who can reach it on the network can reach the API (plain HTTP). ` +
        "Put TLS and a firewall in front (the platform's router usually does both), then set SWITCHYARD_I_KNOW_THIS_IS_EXPOSED=1.",
    );
  }
  return {
    dbUrl: env.SWITCHYARD_DB_URL || "file:switchyard.db",
    dbAuthToken: env.SWITCHYARD_DB_AUTH_TOKEN || undefined,
    dbSynchronous: synchronousFromEnv(env.SWITCHYARD_DB_SYNCHRONOUS),
    ownerToken: env.SWITCHYARD_OWNER_TOKEN || undefined,
    port: Number(port),
    hostname,
    hostName: env.SWITCHYARD_HOST_NAME || "deno",
    crons: crons === "on",
    maxBodyBytes: maxBody === undefined ? undefined : Number(maxBody),
    createDatabase: create === "1",
  };
}

/** databaseFileState, with a path that is not a file named as the setting that points there. */
function databaseFileStateNamed(file: string): ReturnType<typeof databaseFileState> {
  try {
    return databaseFileState(file);
  } catch (e) {
    if (!(e instanceof DatabasePathNotFileError)) throw e;
    throw new Error(
      `SWITCHYARD_DB_URL names ${e.what}, ${file}, not a database file. Point it at a database file (a name inside that directory, for a directory).`,
    );
  }
}

/**
 * Refuses a file database that is not there (or is an empty file) unless creating one was asked
 * for: the Deno entry has no home whose owner.token would say the database was used before.
 */
export function assertDatabaseFileThere(dbUrl: string, create: boolean): void {
  const file = databaseFileOf(dbUrl);
  if (!file) return;
  // Checked even when creating: a directory, FIFO or device there is refused either way.
  const state = databaseFileStateNamed(file);
  if (create || state === "present") return;
  const hint =
    "If this is the first start of a new deployment, set SWITCHYARD_DB_CREATE=1 for that start; otherwise point SWITCHYARD_DB_URL at the existing file (is its volume mounted?).";
  throw new Error(state === "missing" ? `no database file at ${file}. ${hint}` : `the database file ${file} is empty. ${hint}`);
}

/**
 * Makes sure the database has a live owner token. A database that already has one is served as
 * it is (the owner keeps the token they have); SWITCHYARD_OWNER_TOKEN, when set, must be one of
 * them. A database with none adopts SWITCHYARD_OWNER_TOKEN, and without it the entry refuses to
 * start rather than serve an API nobody can administer.
 */
export async function ensureDenoOwner(database: Database, secret: string | undefined, nowMs: number): Promise<"existing" | "adopted"> {
  const live = await liveOwnerTokenIds(database.db, nowMs);
  if (secret !== undefined && !/^sy_owner_[A-Za-z0-9_-]{16,}$/.test(secret)) {
    throw new Error("SWITCHYARD_OWNER_TOKEN is not an owner token (sy_owner_…); mint one with `switchyard token mint --scope owner`");
  }
  if (live.length) {
    if (secret === undefined) return "existing";
    const [row] = await database.db
      .select({ id: tokens.id })
      .from(tokens)
      .where(and(eq(tokens.secretHash, await sha256Hex(secret)), eq(tokens.kind, "owner")))
      .limit(1);
    if (!row || !live.includes(row.id)) {
      throw new Error("SWITCHYARD_OWNER_TOKEN is not a live owner token of this database; unset it, or set it to one the owner minted");
    }
    return "existing";
  }
  if (secret === undefined) {
    throw new Error(
      "this database has no owner token yet: set SWITCHYARD_OWNER_TOKEN to a secret of the form sy_owner_<32+ letters> (keep it in the platform's secret store)",
    );
  }
  await database.db
    .insert(tokens)
    .values({ id: makeId("tok", nowMs), kind: "owner", secretHash: await sha256Hex(secret), label: "SWITCHYARD_OWNER_TOKEN", createdAt: nowMs });
  return "adopted";
}

/**
 * A node-cron schedule in the five fields Deno.cron takes. Deno.cron's finest grain is a minute,
 * so a schedule with a seconds field runs once a minute (the sub-minute crons — dispatch pass,
 * lease expiry — are the ones a Deno deployment hands to a runner or a platform scheduler anyway).
 */
export function denoSchedule(expression: string): string {
  const fields = expression.trim().split(/\s+/);
  if (fields.length === 5) return fields.join(" ");
  if (fields.length !== 6) throw new Error(`cannot schedule '${expression}' with Deno.cron: expected 5 or 6 fields`);
  const [, minute, ...rest] = fields;
  return [minute, ...rest].join(" ");
}

/** The signature of Deno.cron used here (handler with an abort signal). */
export type CronRegister = (name: string, schedule: string, options: { signal: AbortSignal }, handler: () => Promise<void>) => Promise<void>;

/**
 * Runs one slot of a cron: claims `<name>:<minute ISO>` in cron_slots and ticks only if this
 * process won it. The key is the minute the slot belongs to, the same key `switchyard up`
 * computes for a minute schedule, so Deno instances and Node servers on one database run each
 * slot once between them.
 */
export async function runDenoCronSlot(services: Services, name: string, owner: string): Promise<"ran" | "skipped"> {
  const ctx = makeCtx(services, { kind: "daemon", tokenId: owner });
  const minute = Math.floor(ctx.now().getTime() / 60_000) * 60_000;
  const slotKey = `${name}:${new Date(minute).toISOString()}`;
  if (!(await claimCronSlot(ctx, slotKey, owner))) return "skipped";
  await runCron(ctx, name, { runner: owner, slotKey });
  return "ran";
}

/** A running Deno server. */
export interface DenoServer {
  url: string;
  services: Services;
  /** The crons registered with Deno.cron, with the schedule each was given. */
  crons: { name: string; schedule: string }[];
  /** Where the owner token came from. */
  owner: "existing" | "adopted";
  stop(): Promise<void>;
}

/**
 * Opens and migrates the database, establishes the owner, serves the app with Deno.serve and
 * registers every cron with `cron` (Deno.cron by default). `log` defaults to pino on stderr.
 */
export async function startDeno(
  config: DenoConfig,
  opts: { log?: Logger; cron?: CronRegister; env?: Record<string, string | undefined> } = {},
): Promise<DenoServer> {
  const env = opts.env ?? Deno.env.toObject();
  const hardening = hardeningFromEnv(env);
  const log = opts.log ?? pinoLogger({ level: env.SWITCHYARD_LOG_LEVEL });
  assertDatabaseFileThere(config.dbUrl, config.createDatabase);
  const database = await openDatabase({ url: config.dbUrl, authToken: config.dbAuthToken, synchronous: config.dbSynchronous });
  const abort = new AbortController();
  try {
    const { newer } = await migrateDatabase(database);
    if (newer) {
      log.warn(NEWER_DATABASE, { newer_migrations: newer, hint: NEWER_DATABASE_HINT });
    }
    const owner = await ensureDenoOwner(database, config.ownerToken, Date.now());
    const services: Services = { database, hostName: config.hostName, log, maxBodyBytes: config.maxBodyBytes, ...hardening };
    const app = createApp(services);
    const server = Deno.serve({ port: config.port, hostname: config.hostname, signal: abort.signal, onListen: () => {} }, app.fetch);
    const cronOwner = `deno:${config.hostName}:${crypto.randomUUID().slice(0, 8)}`;
    const register: CronRegister = opts.cron ?? ((name, schedule, options, handler) => Deno.cron(name, schedule, options, handler));
    const crons: { name: string; schedule: string }[] = [];
    const inFlight = new Set<Promise<unknown>>();
    if (config.crons) {
      for (const [name, c] of Object.entries(CRONS)) {
        const schedule = denoSchedule(c.schedule);
        // Deno.cron resolves when its signal aborts; the server's stop() awaits nothing from it.
        void register(name, schedule, { signal: abort.signal }, async () => {
          const run = runDenoCronSlot(services, name, cronOwner).catch((e) => log.error("cron slot failed", { name, error: (e as Error).message }));
          inFlight.add(run);
          await run.finally(() => inFlight.delete(run));
        });
        crons.push({ name, schedule });
      }
    }
    const host = config.hostname.includes(":") ? `[${config.hostname}]` : config.hostname;
    const url = `http://${host}:${server.addr.port}`;
    log.info("listening", { url, crons: crons.map((c) => c.name), owner });
    return {
      url,
      services,
      crons,
      owner,
      async stop() {
        abort.abort();
        await server.finished;
        // A tick that is still writing finishes before the database closes under it.
        await Promise.allSettled([...inFlight]);
        database.close();
      },
    };
  } catch (e) {
    abort.abort();
    database.close();
    throw e;
  }
}
