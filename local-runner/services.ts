import { join } from "node:path";
import { eq } from "drizzle-orm";
import { tokens } from "../schema/auth.ts";
import { liveOwnerTokenIds, tokenInsert } from "../functions/lib/auth.ts";
import type { Logger, Services } from "../functions/lib/ctx.ts";
import { openDatabase, type Database } from "../functions/lib/db.ts";
import { makeId, sha256Hex } from "../functions/lib/ids.ts";
import { isUniqueViolation } from "../functions/lib/sql.ts";
import { ensureHomeDirs, readOwnerTokenFile, resolveHome, writeOwnerTokenFileOnce, type HomeConfig } from "./home.ts";
import { agentLaunchConfig } from "./agents.ts";
import { drafterFromEnv } from "./drafter.ts";
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
export async function openLocalServices(opts: { home?: HomeConfig; log?: Logger; clock?: () => Date } = {}): Promise<LocalServices> {
  const home = opts.home ?? resolveHome();
  ensureHomeDirs(home);
  const database = await openDatabase({ url: home.dbUrl, authToken: home.dbAuthToken });
  try {
    await migrateDatabase(database);
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
    };
  } catch (e) {
    database.close();
    throw e;
  }
}
