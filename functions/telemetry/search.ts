import type { z } from "@hono/zod-openapi";
import { and, desc, eq, gte, sql, type SQL } from "drizzle-orm";
import { sessions } from "../../schema/sessions.ts";
import { telemetryEvents, type TelemetryEventRow } from "../../schema/telemetry.ts";
import { tasks } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError, notFound } from "../lib/errors.ts";
import { decodeTypedCursor, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { iso, eqLiteral } from "../lib/sql.ts";
import { SummaryQuery, TelemetryList, TelemetryQuery, TelemetrySummary } from "./schema.ts";
import { catchUpTelemetry } from "./feed.ts";

export const telemetryRoute = defineRoute(
  ["owner", "daemon"],
  {
    method: "get",
    path: "/telemetry",
    tags: ["telemetry"],
    summary: "The telemetry stream, newest first, filtered and searched",
    description:
      "One stream of audit events, cycles, finished commands and attempts. `search` is full-text (SQLite FTS5) over each row's summary, which holds names, states, ids and counts and never transcript, pane, prompt or payload bodies. CLI: telemetry [--task T] [--run R] [--search Q].",
    request: { query: TelemetryQuery },
    responses: { 200: jsonResponse(TelemetryList, "One page") },
  },
  { rateLimited: true },
);

export const telemetrySummaryRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/telemetry/summary",
  tags: ["telemetry"],
  summary: "Counts of the telemetry of a task or run, by source and outcome",
  description: "CLI: telemetry --summary [--task T] [--run R].",
  request: { query: SummaryQuery },
  responses: { 200: jsonResponse(TelemetrySummary, "Counts") },
});

/** The wire form of a telemetry row. */
export function wireTelemetry(r: TelemetryEventRow) {
  return {
    id: r.id,
    source: r.source,
    kind: r.kind,
    task_id: r.taskId,
    session_id: r.sessionId,
    run_id: r.runId,
    actor: r.actor,
    ref_id: r.refId,
    outcome: r.outcome,
    summary: r.summary,
    created_at: iso(r.createdAt)!,
  };
}

/**
 * A search box's words as an FTS5 query: every word must match, each quoted as a phrase so no
 * word is read as FTS5 syntax; a trailing `*` keeps its meaning (prefix).
 */
export function ftsQuery(search: string): string {
  const words = search.split(/\s+/).filter(Boolean).slice(0, 16);
  const terms = words
    .map((w) => {
      const prefix = w.endsWith("*");
      const body = (prefix ? w.slice(0, -1) : w).replaceAll('"', '""');
      return /[\p{L}\p{N}]/u.test(body) ? `"${body}"${prefix ? "*" : ""}` : null;
    })
    .filter((t): t is string => t !== null);
  if (!terms.length) {
    throw new ApiError("VALIDATION_FAILED", "search has no word to look for", {
      hint: "Search for letters or digits, e.g. --search 'nudge failed' or --search 'dispatch*'.",
      fields: [{ field: "search", message: "no searchable word" }],
    });
  }
  return terms.join(" AND ");
}

/** A task's id by name (NOT_FOUND names it). */
export async function taskIdByName(ctx: Ctx, name: string): Promise<string> {
  const [t] = await ctx.db.select({ id: tasks.id }).from(tasks).where(eq(tasks.name, name)).limit(1);
  if (!t) throw notFound("task", name, "List tasks with `switchyard tasks`.");
  return t.id;
}

/** An active session's id by name (the unique index of live names). */
async function sessionIdByName(ctx: Ctx, name: string): Promise<string> {
  const [s] = await ctx.db
    .select({ id: sessions.id })
    .from(sessions)
    .where(and(eq(sessions.name, name), eqLiteral(sessions.state, "active")))
    .limit(1);
  if (!s) throw notFound("session", name, "Name an active session (`switchyard sessions`); for a gone one, filter by --task.");
  return s.id;
}

type RawRow = {
  id: number;
  source: TelemetryEventRow["source"];
  kind: string;
  task_id: string | null;
  session_id: string | null;
  run_id: string | null;
  actor: string | null;
  ref_id: string | null;
  outcome: TelemetryEventRow["outcome"];
  summary: string;
  created_at: number;
};

const fromRaw = (r: RawRow): TelemetryEventRow => ({
  id: Number(r.id),
  source: r.source,
  kind: r.kind,
  taskId: r.task_id,
  sessionId: r.session_id,
  runId: r.run_id,
  actor: r.actor,
  refId: r.ref_id,
  outcome: r.outcome,
  summary: r.summary,
  createdAt: Number(r.created_at),
});

/** One page of telemetry, newest first; with `search`, the newest rows that match. */
export async function listTelemetry(ctx: Ctx, q: z.output<typeof TelemetryQuery>) {
  const after = decodeTypedCursor(q.cursor, ["int"], "telemetry/search");
  const before = after ? after[0] : null;
  const taskId = q.task ? await taskIdByName(ctx, q.task) : null;
  const sessionId = q.session ? await sessionIdByName(ctx, q.session) : null;
  const match = q.search ? ftsQuery(q.search) : null;
  // After everything that can refuse the request: a refused read changes nothing.
  await catchUpTelemetry(ctx);
  const t = telemetryEvents;
  let rows: TelemetryEventRow[];
  if (match !== null) {
    // Newest matches first straight off the full-text index (rowid order), filters applied as they stream.
    const conds: SQL[] = [sql`telemetry_fts MATCH ${match}`];
    if (before !== null) conds.push(sql`f.rowid < ${before}`);
    if (taskId) conds.push(sql`e.task_id = ${taskId}`);
    if (sessionId) conds.push(sql`e.session_id = ${sessionId}`);
    if (q.run) conds.push(sql`e.run_id = ${q.run}`);
    if (q.outcome) conds.push(sql`e.outcome = ${q.outcome}`);
    const raw = await ctx.db.all<RawRow>(
      sql`SELECT e.* FROM telemetry_fts AS f JOIN telemetry_events AS e ON e.id = f.rowid WHERE ${sql.join(conds, sql` AND `)} ORDER BY f.rowid DESC LIMIT ${q.limit + 1}`,
    );
    rows = raw.map(fromRaw);
  } else {
    const conds: Array<SQL | undefined> = [
      before !== null ? sql`${t.id} < ${before}` : undefined,
      taskId ? eq(t.taskId, taskId) : undefined,
      sessionId ? eq(t.sessionId, sessionId) : undefined,
      q.run ? eq(t.runId, q.run) : undefined,
      q.outcome ? eqLiteral(t.outcome, q.outcome) : undefined,
    ];
    // The order names the index the filter uses, so SQLite walks it backwards with no sort.
    const order = taskId ? [desc(t.taskId), desc(t.id)] : sessionId ? [desc(t.sessionId), desc(t.id)] : q.run ? [desc(t.runId), desc(t.id)] : [desc(t.id)];
    rows = await ctx.db
      .select()
      .from(t)
      .where(and(...conds))
      .orderBy(...order)
      .limit(q.limit + 1);
  }
  const page = pageOf(rows, q.limit, (r) => [r.id], "telemetry/search");
  return { events: page.items.map(wireTelemetry), count: page.items.length, search: q.search ?? null, next_cursor: page.next_cursor };
}

/** Counts over an index range: total and failed, by source, first and last time. */
export async function countTelemetry(ctx: Ctx, where: SQL | undefined) {
  const t = telemetryEvents;
  const bySource = Object.fromEntries(
    (["audit", "cycle", "command", "attempt", "inbox"] as const).flatMap((s) => [
      [`${s}_total`, sql<number>`coalesce(sum(${t.source} = ${s}), 0)`],
      [`${s}_failed`, sql<number>`coalesce(sum(${t.source} = ${s} AND ${t.outcome} = 'failed'), 0)`],
    ]),
  );
  const [r] = await ctx.db
    .select({
      total: sql<number>`count(*)`,
      failed: sql<number>`coalesce(sum(${t.outcome} = 'failed'), 0)`,
      first: sql<number | null>`min(${t.createdAt})`,
      last: sql<number | null>`max(${t.createdAt})`,
      ...bySource,
    })
    .from(t)
    .where(where);
  const row = r as Record<string, number | null>;
  const by_source: Record<string, { total: number; failed: number }> = {};
  for (const s of ["audit", "cycle", "command", "attempt", "inbox"]) {
    const total = Number(row[`${s}_total`] ?? 0);
    if (total) by_source[s] = { total, failed: Number(row[`${s}_failed`] ?? 0) };
  }
  return { total: Number(row.total ?? 0), failed: Number(row.failed ?? 0), by_source, first_at: iso(row.first), last_at: iso(row.last) };
}

/** Counts of a task's or a run's telemetry (or of everything). */
export async function telemetrySummary(ctx: Ctx, q: z.output<typeof SummaryQuery>) {
  const taskId = q.task ? await taskIdByName(ctx, q.task) : null;
  await catchUpTelemetry(ctx);
  // Without a task or run, the last day: a summary never counts the whole history.
  const since = taskId || q.run ? null : ctx.now().getTime() - 86_400_000;
  const where = and(
    taskId ? eq(telemetryEvents.taskId, taskId) : undefined,
    q.run ? eq(telemetryEvents.runId, q.run) : undefined,
    since !== null ? gte(telemetryEvents.createdAt, since) : undefined,
  );
  return { task: q.task ?? null, run: q.run ?? null, since: iso(since), counts: await countTelemetry(ctx, where) };
}
