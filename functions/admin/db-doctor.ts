import { getTableName, is, sql } from "drizzle-orm";
import { SQLiteTable } from "drizzle-orm/sqlite-core";
import * as schema from "../../schema/index.ts";
import journal from "../../schema/migrations/meta/_journal.json" with { type: "json" };
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { DbDoctorResult } from "./schema.ts";

export const dbDoctorRoute = defineRoute(
  ["owner"],
  {
    method: "get",
    path: "/admin/db-doctor",
    tags: ["admin"],
    summary: "Schema version, pending migrations and PRAGMA integrity_check",
    description: "CLI: db-doctor.",
    responses: { 200: jsonResponse(DbDoctorResult, "Report") },
  },
  { rateLimited: true },
);

/** The migrations this build knows about, in order. */
export const KNOWN_MIGRATIONS = journal.entries.map((e) => ({ tag: e.tag, created_at: e.when }));

/** Every table this build's schema declares (schema/), by name. */
export const SCHEMA_TABLES = [
  ...new Set(
    Object.values(schema)
      .filter((v) => is(v, SQLiteTable))
      .map((t) => getTableName(t as SQLiteTable)),
  ),
].sort();

/**
 * Reports which migrations are applied or pending, any table of the schema missing from the
 * file (dropped by hand while the migration ledger says it exists), and whether SQLite finds
 * the file sound.
 */
export async function dbDoctor(ctx: Ctx) {
  const client = ctx.database.client;
  const tables = new Set((await client.execute("SELECT name FROM sqlite_master WHERE type = 'table'")).rows.map((r) => String(r[0])));
  const appliedAt = new Set<number>();
  if (tables.has("__drizzle_migrations")) {
    const rows = await client.execute("SELECT created_at FROM __drizzle_migrations");
    for (const r of rows.rows) appliedAt.add(Number(r.created_at));
  }
  const known = new Set(KNOWN_MIGRATIONS.map((m) => m.created_at));
  const applied = KNOWN_MIGRATIONS.filter((m) => appliedAt.has(m.created_at));
  const pending = KNOWN_MIGRATIONS.filter((m) => !appliedAt.has(m.created_at));
  const unknown = [...appliedAt].filter((t) => !known.has(t)).map((t) => ({ tag: "(unknown to this build)", created_at: t }));
  // Only meaningful once every migration ran: a pending one may be what creates a table.
  const missingTables = pending.length ? [] : SCHEMA_TABLES.filter((t) => !tables.has(t));
  const integrityText = (await ctx.database.integrityCheck()).join("; ");
  let journalMode: string | null = null;
  try {
    const jm = await ctx.db.all<{ journal_mode: string }>(sql`PRAGMA journal_mode`);
    journalMode = jm[0]?.journal_mode ?? null;
  } catch {
    // Remote libSQL servers may refuse PRAGMA journal_mode; the report just leaves it out.
  }
  return {
    ok: integrityText === "ok" && pending.length === 0 && unknown.length === 0 && missingTables.length === 0,
    url: ctx.database.url.replace(/authToken=[^&]+/, "authToken=***"),
    schema_version: applied.at(-1)?.tag ?? null,
    applied_migrations: applied,
    pending_migrations: pending,
    unknown_migrations: unknown,
    missing_tables: missingTables,
    integrity_check: integrityText,
    journal_mode: journalMode,
    busy_retries: ctx.database.busyRetries(),
  };
}
