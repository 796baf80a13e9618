import { join } from "node:path";
import type { Client } from "@libsql/client";
import { eq } from "drizzle-orm";
import { tokens } from "../schema/auth.ts";
import { liveOwnerTokenIds, tokenInsert } from "../functions/lib/auth.ts";
import type { Logger, Services } from "../functions/lib/ctx.ts";
import { openDatabase, type Database } from "../functions/lib/db.ts";
import { makeId, sha256Hex } from "../functions/lib/ids.ts";
import { isUniqueViolation } from "../functions/lib/sql.ts";
import { ensureHomeDirs, readOwnerTokenFile, resolveHome, writeOwnerTokenFileOnce, type HomeConfig } from "./home.ts";
import { agentLaunchConfig, ensureCliShim } from "./agents.ts";
import { drafterFromEnv } from "./drafter.ts";
import { swaggerUiAssets } from "./docs-assets.ts";
import { NodeHost } from "./host.ts";
import { migrateDatabase } from "./migrate.ts";

/** Services for a local process plus what the CLI and `up` need to know about home. */
export interface LocalServices extends Services {
  database: Database;
  home: HomeConfig;
  ownerToken: string;
}

/** Stderr JSON-lines logger for long-running processes. */
export const stderrLogger: Logger = {
  info: (msg, data) => process.stderr.write(`${JSON.stringify({ level: "info", msg, ...data })}\n`),
  warn: (msg, data) => process.stderr.write(`${JSON.stringify({ level: "warn", msg, ...data })}\n`),
  error: (msg, data) => process.stderr.write(`${JSON.stringify({ level: "error", msg, ...data })}\n`),
};

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

/** The URL without credentials or query string, safe to print. */
function printableUrl(url: string): string {
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
export function describeDatabaseError(url: string, e: unknown): DatabaseUnreachableError | null {
  if (url.startsWith("file:")) return null;
  const chain: string[] = [];
  for (let cur: any = e, depth = 0; cur && depth < 5; depth++, cur = cur.cause) {
    if (typeof cur.code === "string") chain.push(cur.code);
    if (typeof cur.message === "string") chain.push(cur.message);
  }
  const text = chain.join(" | ");
  const where = printableUrl(url);
  if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|fetch failed|UND_ERR/i.test(text)) {
    const cause = chain.find((c) => /^E[A-Z_]+$|^UND_ERR/.test(c)) ?? chain.at(-1) ?? "no answer";
    return new DatabaseUnreachableError(
      `cannot reach the database at ${where} (${cause})`,
      "Check SWITCHYARD_DB_URL: is the libSQL/sqld server running and reachable from this machine? Unset it to use the local file database in the home.",
    );
  }
  if (/\b(401|403)\b|unauthori[sz]ed|forbidden/i.test(text)) {
    return new DatabaseUnreachableError(
      `the database at ${where} refused the connection: ${chain.at(-1) ?? "unauthorized"}`,
      "Check SWITCHYARD_DB_AUTH_TOKEN (a Turso/sqld token for this database).",
    );
  }
  return null;
}

/**
 * Makes sure `<home>/owner.token` holds a live owner token for this database: created on first
 * start, adopted when the database has no owner yet, refused when it belongs to another owner.
 */
export async function ensureOwnerToken(database: Database, home: HomeConfig, nowMs: number): Promise<string> {
  const existing = readOwnerTokenFile(home);
  const live = await liveOwnerTokenIds(database.db);
  if (existing) {
    const [row] = await database.db
      .select()
      .from(tokens)
      .where(eq(tokens.secretHash, await sha256Hex(existing)))
      .limit(1);
    if (row && row.kind === "owner" && row.revokedAt === null) return existing;
    if (row || live.length) {
      throw new OwnerTokenError(
        `${home.ownerTokenFile} does not hold a live owner token for this database`,
        "Ask the owner to run `switchyard token mint --scope owner` and write the secret to that file (mode 0600).",
      );
    }
    await database.db
      .insert(tokens)
      .values({ id: makeId("tok", nowMs), kind: "owner", secretHash: await sha256Hex(existing), label: "owner.token", createdAt: nowMs });
    return existing;
  }
  if (live.length) {
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

/** Opens the database, applies migrations and establishes the owner token. */
export async function openLocalServices(
  opts: { home?: HomeConfig; log?: Logger; clock?: () => Date; wrapClient?: (client: Client) => Client } = {},
): Promise<LocalServices> {
  const home = opts.home ?? resolveHome();
  ensureHomeDirs(home);
  ensureCliShim(home.home);
  const database = await openDatabase({ url: home.dbUrl, authToken: home.dbAuthToken, wrapClient: opts.wrapClient });
  try {
    try {
      await migrateDatabase(database);
    } catch (e) {
      throw describeDatabaseError(home.dbUrl, e) ?? e;
    }
    const clock = opts.clock ?? (() => new Date());
    const ownerToken = await ensureOwnerToken(database, home, clock().getTime());
    return {
      database,
      home,
      ownerToken,
      clock,
      host: new NodeHost({ pluginDir: join(home.home, "plugins") }),
      hostName: home.hostName,
      log: opts.log,
      agents: agentLaunchConfig(process.env, home),
      drafter: drafterFromEnv(process.env),
      docsAssets: swaggerUiAssets(),
    };
  } catch (e) {
    database.close();
    throw e;
  }
}
