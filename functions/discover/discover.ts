import type { z } from "@hono/zod-openapi";
import { and, asc, desc, eq, gte, inArray, lt, type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { bindings } from "../../schema/bindings.ts";
import { type EventRow, events } from "../../schema/events.ts";
import { type SessionRow, sessions } from "../../schema/sessions.ts";
import { type TaskRow, tasks } from "../../schema/tasks.ts";
import { bindingsWithNames } from "../bindings/list.ts";
import { MAX_PAGE_LIMIT } from "../lib/paging.ts";
import { ftsQuery } from "../telemetry/search.ts";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { iso, rowFromRaw, eqLiteral } from "../lib/sql.ts";
import { type DetailsScope, detailsScope, sessionToWire, visibleIn } from "../sessions/wire.ts";
import { bindingToWire, taskToWire } from "../tasks/wire.ts";
import { DiscoverQuery, DiscoverResult, type Suggestion } from "./schema.ts";
import { containsNeedle, planTrigramMatch, type TrigramMatch } from "./substring.ts";
import { catchUpTelemetry } from "../telemetry/feed.ts";

export const discoverRoute = defineRoute(
  ["owner", "daemon", "session"],
  {
    method: "get",
    path: "/discover",
    tags: ["discover"],
    summary: "Search tasks, sessions, bindings and recent events, with ready-to-run suggestions",
    description:
      "`bindings` are the active bindings of the tasks and sessions found (the found managers' together up to 500), so a task shown unbound has no active binding however large the fleet. A session caller matches another session only on what it may see of it (name, role, state, thread title unless bound together) and gets no audit events (`telemetry` is empty). CLI: discover [QUERY] / search [QUERY].",
    request: { query: DiscoverQuery },
    responses: { 200: jsonResponse(DiscoverResult, "Matches") },
  },
  { rateLimited: true },
);

/** Shortest query the trigram index can serve; shorter ones match names by prefix. */
const TRIGRAM_MIN = 3;

/** Every word of `text` as a prefix term of the telemetry index; null when no word is searchable. */
function wordPrefixes(text: string): string | null {
  try {
    return ftsQuery(
      text
        .split(/\s+/)
        .filter(Boolean)
        .map((w) => (w.endsWith("*") ? w : `${w}*`))
        .join(" "),
    );
  } catch {
    return null;
  }
}

/** One read of a batch and how its answer becomes typed rows. */
/** A read for the batch: one query, or two (`more`) whose answers `rows` merges. */
type Read<T> = { query: BatchItem<"sqlite">; more?: BatchItem<"sqlite">; rows: (answer: unknown, more?: unknown) => T[] };

/** A query built with drizzle's builder: its answer is already typed. */
function typed<T>(query: BatchItem<"sqlite">): Read<T> {
  return { query, rows: (answer) => answer as T[] };
}

/** A hand-written query over `table`: its answer is raw rows. */
function raw<T extends typeof tasks | typeof sessions>(ctx: Ctx, table: T, query: SQL): Read<T["$inferSelect"]> {
  return { query: ctx.db.all<Record<string, unknown>>(query), rows: (answer) => (answer as Array<Record<string, unknown>>).map((r) => rowFromRaw(table, r)) };
}

/**
 * Tasks matching `text` (a substring of name, goal or summary via the trigram index, searched as
 * `plan` says; a one- or two-character query has no plan and is a name prefix, read from the
 * name index), newest first.
 */
function matchTasks(ctx: Ctx, text: string | null, plan: TrigramMatch | undefined, all: boolean, limit: number): Read<TaskRow> {
  const live = all ? undefined : eq(tasks.state, "active");
  if (!text) return typed(ctx.db.select().from(tasks).where(live).orderBy(desc(tasks.createdAt), desc(tasks.id)).limit(limit));
  if (!plan) {
    return typed(
      ctx.db
        .select()
        .from(tasks)
        // Unary + keeps the planner on the name index (a state index would sort the range).
        .where(and(gte(tasks.name, text), lt(tasks.name, `${text}\uffff`), all ? undefined : sql`+${tasks.state} = 'active'`))
        .orderBy(asc(tasks.name))
        .limit(limit),
    );
  }
  const confirm = plan.kind === "driven" ? sql` AND ${containsNeedle("tasks", "t", plan.needle)}` : sql``;
  return raw(
    ctx,
    tasks,
    sql`SELECT t.* FROM tasks_fts AS f JOIN ${tasks} AS t ON t.rowid = f.rowid WHERE tasks_fts MATCH ${plan.match}${confirm}${all ? sql`` : sql` AND t.state = 'active'`} ORDER BY f.rowid DESC LIMIT ${limit}`,
  );
}

/** Sessions matching `text` in name, cwd, tmux session or thread title, newest first; as for tasks. */
function matchSessions(ctx: Ctx, text: string | null, plan: TrigramMatch | undefined, all: boolean, limit: number, scope: DetailsScope): Read<SessionRow> {
  const live = all ? undefined : eqLiteral(sessions.state, "active");
  if (!text) return typed(ctx.db.select().from(sessions).where(live).orderBy(desc(sessions.createdAt), desc(sessions.id)).limit(limit));
  if (!plan) {
    return typed(
      ctx.db
        .select()
        .from(sessions)
        .where(and(gte(sessions.name, text), lt(sessions.name, `${text}\uffff`), all ? undefined : sql`+${sessions.state} = 'active'`))
        .orderBy(asc(sessions.name))
        .limit(limit),
    );
  }
  const liveOnly = all ? sql`` : sql` AND s.state = 'active'`;
  const everywhere = (confirmColumns: readonly string[] | null) =>
    plan.kind === "driven" ? sql` AND ${containsNeedle("sessions", "s", plan.needle, confirmColumns ?? undefined)}` : sql``;
  if (scope.kind === "all") {
    return raw(
      ctx,
      sessions,
      sql`SELECT s.* FROM sessions_fts AS f JOIN ${sessions} AS s ON s.rowid = f.rowid WHERE sessions_fts MATCH ${plan.match}${everywhere(null)}${liveOnly} ORDER BY f.rowid DESC LIMIT ${limit}`,
    );
  }
  // A caller who may not see every session's cwd and tmux session matches those fields only on
  // the sessions it may see; on the rest only what they show (name, thread title). Filtered after
  // the limit instead, hidden matches used up the page: whether a visible name was listed told
  // whether some hidden cwd held the query. Each side is read newest first and limited on its
  // own (FTS5's rowid order, no sort) and the two are merged here.
  const mine =
    scope.kind === "host"
      ? sql`s.host = ${scope.host}`
      : scope.ids.length
        ? sql`s.id IN (${sql.join(
            scope.ids.map((id) => sql`${id}`),
            sql`, `,
          )})`
        : sql`0`;
  const side = (match: string, confirm: SQL, extra: SQL, ordered: boolean) =>
    ctx.db.all<Record<string, unknown>>(
      sql`SELECT s.*, s.rowid AS match_order FROM sessions_fts AS f JOIN ${sessions} AS s ON s.rowid = f.rowid WHERE sessions_fts MATCH ${match}${confirm}${liveOnly}${extra}${ordered ? sql` ORDER BY f.rowid DESC LIMIT ${limit}` : sql``}`,
    );
  return {
    query: side(`{${SHOWN_COLUMNS.join(" ")}} : (${plan.match})`, everywhere(SHOWN_COLUMNS), sql``, true),
    // A session's own and its partners' are a handful, read by id and merged below unsorted.
    more: side(plan.match, everywhere(null), sql` AND ${mine}`, scope.kind === "host"),
    rows: (answer, more) => {
      const byId = new Map<unknown, Record<string, unknown>>();
      for (const r of [...(answer as Array<Record<string, unknown>>), ...((more ?? []) as Array<Record<string, unknown>>)]) byId.set(r.id, r);
      return [...byId.values()]
        .sort((a, b) => Number(b.match_order) - Number(a.match_order))
        .slice(0, limit)
        .map((r) => rowFromRaw(sessions, r));
    },
  };
}

/** The indexed session columns every caller sees (the others locate a session on its machine). */
const SHOWN_COLUMNS = ["name", "thread_title"] as const;

/**
 * Recent audit events; with `text`, those whose telemetry summary (kind, actor, task and session
 * names, ids) has words starting with each query word, read from the telemetry full-text index.
 */
async function matchEvents(ctx: Ctx, text: string | null, limit: number): Promise<EventRow[]> {
  if (!text) return ctx.db.select().from(events).orderBy(sql`${events}.rowid DESC`).limit(limit);
  const match = wordPrefixes(text);
  if (!match) return [];
  await catchUpTelemetry(ctx);
  const rows = await ctx.db.all<Record<string, unknown>>(
    sql`SELECT ev.* FROM telemetry_fts AS f JOIN telemetry_events AS te ON te.id = f.rowid JOIN ${events} AS ev ON ev.id = te.ref_id WHERE telemetry_fts MATCH ${match} AND te.source = 'audit' ORDER BY f.rowid DESC LIMIT ${limit}`,
  );
  return rows.map((r) => rowFromRaw(events, r));
}

/** Whether `text` is in what a session shows with its details hidden (name, role, state, thread title). */
function matchesShown(s: SessionRow, text: string): boolean {
  const needle = text.toLowerCase();
  return [s.name, s.role, s.state, s.threadTitle].some((f) => !!f && f.toLowerCase().includes(needle));
}

/** Finds what matches `q` and suggests the next command for tasks that lack a binding. */
export async function discover(ctx: Ctx, q: z.output<typeof DiscoverQuery>) {
  const text = q.q?.trim() || null;
  // One plan for both indexes (one round trip), then both searches in one batch; a query too
  // short for trigrams has no plan.
  const plans = text && text.length >= TRIGRAM_MIN ? await planTrigramMatch(ctx, text, ["tasks", "sessions"]) : undefined;
  const scope = await detailsScope(ctx);
  const reads = [matchTasks(ctx, text, plans?.tasks, q.all, q.limit), matchSessions(ctx, text, plans?.sessions, q.all, q.limit, scope)] as const;
  const [taskAnswer, sessionAnswer, sessionMore] = await ctx.db.batch([reads[0].query, reads[1].query, ...(reads[1].more ? [reads[1].more] : [])]);
  const taskRows = reads[0].rows(taskAnswer);
  const visible = visibleIn(scope);
  // The index also matches cwd and tmux session, which a caller may not be allowed to see: a
  // session whose details are hidden from it counts only when the match is in what it shows.
  const sessionRows = reads[1].rows(sessionAnswer, sessionMore).filter((s) => !text || visible(s) || matchesShown(s, text));
  // The active bindings of what was found, read by the found ids (not a page of every active
  // binding, which a large fleet outgrows): whether a task is bound must be exact, or it would be
  // called unbound and get a wrong suggestion.
  const active = await activeBindingsOf(
    ctx,
    taskRows.map((t) => t.id),
    sessionRows.map((s) => s.id),
  );
  // The audit trail is not a session's to read (every /v1/telemetry and audit route refuses it).
  const telemetry = ctx.auth.kind === "session" ? [] : await matchEvents(ctx, text, q.limit);

  const suggestions = await suggest(
    ctx,
    taskRows.filter((t) => t.state === "active").map((t) => t.name),
    active,
  );
  return {
    query: text,
    tasks: taskRows.map(taskToWire),
    sessions: sessionRows.map((s) => sessionToWire(s, { redactToken: ctx.auth.kind !== "owner", hideDetails: !visible(s) })),
    bindings: active,
    telemetry: telemetry.map((e) => ({ id: e.id, kind: e.kind, task_id: e.taskId, session_id: e.sessionId, actor: e.actor, created_at: iso(e.createdAt)! })),
    suggestions,
  };
}

/**
 * The active bindings of the given tasks and of the given sessions as worker or manager, oldest
 * first, in one batch. A task or a worker has at most one active binding, so those are read in
 * full; a manager may hold many, so the found managers' are cut at one page together (in
 * index order, then sorted here: sorting them in SQL would need a temp B-tree over the
 * managers' bindings).
 */
async function activeBindingsOf(ctx: Ctx, taskIds: string[], sessionIds: string[]) {
  const read = (where: SQL, limit: number) => bindingsWithNames(ctx, and(eqLiteral(bindings.state, "active"), where)).limit(limit);
  const reads = [
    ...(taskIds.length ? [read(inArray(bindings.taskId, taskIds), taskIds.length)] : []),
    ...(sessionIds.length
      ? [read(inArray(bindings.workerSessionId, sessionIds), sessionIds.length), read(inArray(bindings.managerSessionId, sessionIds), MAX_PAGE_LIMIT)]
      : []),
  ];
  if (!reads.length) return [];
  const answers = await ctx.db.batch(reads as [(typeof reads)[number], ...(typeof reads)[number][]]);
  const seen = new Set<string>();
  return answers
    .flat()
    .filter((r) => !seen.has(r.b.id) && seen.add(r.b.id))
    .sort((a, b) => a.b.createdAt - b.b.createdAt || (a.b.id < b.b.id ? -1 : a.b.id > b.b.id ? 1 : 0))
    .map((r) => bindingToWire(r.b, r));
}

/** For each unbound task: a bind command when free sessions exist, else what to register. */
async function suggest(ctx: Ctx, taskNames: string[], active: Array<{ task: string; worker: string; manager: string }>) {
  const out: z.infer<typeof Suggestion>[] = [];
  const boundTasks = new Set(active.map((b) => b.task));
  const busyWorkers = new Set(active.map((b) => b.worker));
  const unbound = taskNames.filter((t) => !boundTasks.has(t));
  // Only as many free workers as there are unbound tasks, and one manager: newest first off the
  // (role, state, created_at) index, so the cost follows the answer, not the fleet.
  const freeWorkers = unbound.length
    ? (
        await ctx.db
          .select({ name: sessions.name })
          .from(sessions)
          .where(
            and(
              eq(sessions.role, "worker"),
              eqLiteral(sessions.state, "active"),
              sql`NOT EXISTS (SELECT 1 FROM ${bindings} WHERE ${bindings.workerSessionId} = ${sessions.id} AND ${bindings.state} = 'active')`,
            ),
          )
          .orderBy(desc(sessions.createdAt), desc(sessions.id))
          .limit(unbound.length)
      )
        .map((s) => s.name)
        .filter((n) => !busyWorkers.has(n))
    : [];
  const managers = (
    await ctx.db
      .select({ name: sessions.name })
      .from(sessions)
      .where(and(eq(sessions.role, "manager"), eqLiteral(sessions.state, "active")))
      .orderBy(desc(sessions.createdAt), desc(sessions.id))
      .limit(1)
  ).map((s) => s.name);
  for (const task of unbound) {
    // A worker serves one task, so each suggestion takes its own; managers may be shared.
    const worker = managers.length ? freeWorkers.shift() : undefined;
    if (worker) {
      out.push({
        kind: "bind",
        task,
        message: `task '${task}' has no binding; '${worker}' is a free worker and '${managers[0]}' a manager`,
        command: `switchyard bind --task ${task} --worker ${worker} --manager ${managers[0]}`,
      });
    } else {
      if (!freeWorkers.length) {
        out.push({
          kind: "register_worker",
          task,
          message: `task '${task}' needs a worker and none is free`,
          command: `switchyard register-worker --name ${task}-worker --pid <PID> --cwd <DIR>`,
        });
      }
      if (!managers.length) {
        out.push({
          kind: "register_manager",
          task,
          message: `task '${task}' needs a manager and none is registered`,
          command: `switchyard register-manager --name ${task}-manager --pid <PID>`,
        });
      }
    }
  }
  if (!taskNames.length && !active.length) {
    out.push({ kind: "create_task", task: null, message: "no active task matches", command: `switchyard tasks --create <NAME> --goal "<GOAL>"` });
  }
  return out;
}
