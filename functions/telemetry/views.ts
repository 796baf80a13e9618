import type { z } from "@hono/zod-openapi";
import { and, asc, count, desc, eq, gte, inArray, isNotNull, sql } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import { commands, dispatchers } from "../../schema/commands.ts";
import { inboxItems } from "../../schema/messages.ts";
import { ingestCursors, ingestTotals, managerCycles, transcriptEvents } from "../../schema/observe.ts";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import { acceptanceCriteria, CRITERION_STATUSES, managerDecisions } from "../../schema/supervision.ts";
import { telemetryEvents, transcriptSegments } from "../../schema/telemetry.ts";
import { tasks, type TaskRow } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { decodeTypedCursor, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { iso, eqLiteral } from "../lib/sql.ts";
import { taskByName } from "../tasks/lookup.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import {
  FailuresQuery,
  MetricsQuery,
  parseWindow,
  SnapshotQuery,
  TelemetryFailures,
  TelemetryMetrics,
  TelemetrySnapshot,
  TelemetryTaskView,
} from "./schema.ts";
import { countTelemetry, taskIdByName, wireTelemetry } from "./search.ts";
import { catchUpTelemetry } from "./feed.ts";

export const telemetryTaskRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/telemetry/tasks/{name}",
  tags: ["telemetry"],
  summary: "Triage view of one task",
  description:
    "Recent cycles and the last good one, liveness, decisions, commands, failures, ingest and pane-capture trouble, notable patterns, criteria counts, telemetry counts and retained storage. No transcript, pane, prompt, criterion, payload or result bodies. CLI: telemetry task TASK.",
  request: { params: TaskNameParam },
  responses: { 200: jsonResponse(TelemetryTaskView, "Task triage") },
});

export const telemetryFailuresRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/telemetry/failures",
  tags: ["telemetry"],
  summary: "Failure triage across tasks, newest first",
  description:
    "Failed cycles, commands and attempts, refused or failed actions within the window, plus dead letters, ingest trouble, open accepted criteria and session health. CLI: telemetry failures [--task T] [--run R] [--active-only] [--window 2h].",
  request: { query: FailuresQuery },
  responses: { 200: jsonResponse(TelemetryFailures, "Failures") },
});

export const telemetryMetricsRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/telemetry/metrics",
  tags: ["telemetry"],
  summary: "Rollups over a time window",
  description:
    "Active tasks and sessions, cycle, command and attempt successes and failures, ingest totals, criteria counts, reconcile drift, exports and retained transcript bytes. CLI: telemetry metrics [--window 24h].",
  request: { query: MetricsQuery },
  responses: { 200: jsonResponse(TelemetryMetrics, "Metrics") },
});

export const telemetrySnapshotRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/telemetry/snapshot",
  tags: ["telemetry"],
  summary: "The dashboard's overview of one task",
  description:
    "Binding, liveness, latest cycle and pane pattern, inbox counts, command states, dispatch heartbeat, criteria, recent failures. CLI: telemetry snapshot --task T.",
  request: { query: SnapshotQuery },
  responses: { 200: jsonResponse(TelemetrySnapshot, "Snapshot") },
});

/** Rows kept in the short lists of the triage views. */
const RECENT = 20;

/** Whole seconds from `ms` to the ctx clock's now (never negative), or null when there is no time. */
export const secondsSince = (ctx: Ctx, ms: number | null | undefined) => (ms ? Math.max(0, Math.round((ctx.now().getTime() - ms) / 1000)) : null);

function cycleLine(c: typeof managerCycles.$inferSelect) {
  const st = (c.status ?? {}) as Record<string, any>;
  const pane = st.pane_signal as { captured?: boolean; reason?: string | null } | undefined;
  return {
    id: c.id,
    state: c.state,
    worker_state: c.workerState,
    notable_pattern: c.notablePattern,
    new_events: st.ingest?.new_events ?? null,
    skipped_lines: st.ingest?.skipped_lines ?? null,
    pane_captured: pane?.captured ?? null,
    pane_capture_error: pane && pane.captured === false && pane.reason !== "session has no tmux pane" ? (pane.reason ?? null) : null,
    worker_alive: st.worker_alive ?? null,
    manager_alive: st.manager_alive ?? null,
    error: c.error ? c.error.slice(0, 300) : null,
    at: iso(c.createdAt),
  };
}

function sessionBrief(ctx: Ctx, s: SessionRow | undefined | null) {
  if (!s) return null;
  return {
    name: s.name,
    role: s.role,
    state: s.state,
    tmux: s.tmuxSession !== null,
    last_heartbeat_at: iso(s.lastHeartbeatAt),
    heartbeat_age_seconds: secondsSince(ctx, s.lastHeartbeatAt),
  };
}

/** Criteria counts by status for one task (index: task_id, status). */
async function criteriaCounts(ctx: Ctx, taskId: string) {
  const c = acceptanceCriteria;
  const cols = Object.fromEntries(CRITERION_STATUSES.map((s) => [s, sql<number>`coalesce(sum(${c.status} = ${s}), 0)`]));
  const [r] = await ctx.db.select(cols).from(c).where(eq(c.taskId, taskId));
  return Object.fromEntries(CRITERION_STATUSES.map((s) => [s, Number((r as Record<string, number>)[s] ?? 0)])) as Record<string, number>;
}

/** The sessions a task is bound to now (active binding), or null. */
async function activeBindingOf(ctx: Ctx, taskId: string) {
  const [b] = await ctx.db
    .select()
    .from(bindings)
    .where(and(eq(bindings.taskId, taskId), eqLiteral(bindings.state, "active")))
    .limit(1);
  if (!b) return null;
  const ss = await ctx.db
    .select()
    .from(sessions)
    .where(inArray(sessions.id, [b.workerSessionId, b.managerSessionId]));
  return { binding: b, worker: ss.find((s) => s.id === b.workerSessionId) ?? null, manager: ss.find((s) => s.id === b.managerSessionId) ?? null };
}

/** Inbox items of a task: pending (not consumed) and consumed. */
async function inboxCounts(ctx: Ctx, taskId: string) {
  const [r] = await ctx.db
    .select({ total: count(), pending: sql<number>`coalesce(sum(${inboxItems.consumedAt} IS NULL), 0)` })
    .from(inboxItems)
    .where(eq(inboxItems.taskId, taskId));
  const total = Number(r?.total ?? 0);
  const pending = Number(r?.pending ?? 0);
  return { pending, consumed: total - pending };
}

/** Commands of a task by state. */
async function commandCounts(ctx: Ctx, taskId: string) {
  const states = ["pending", "running", "succeeded", "failed", "dead", "ambiguous", "dry_run"] as const;
  const cols = Object.fromEntries(states.map((s) => [s, sql<number>`coalesce(sum(${commands.state} = ${s}), 0)`]));
  const [r] = await ctx.db.select(cols).from(commands).where(eq(commands.taskId, taskId));
  return Object.fromEntries(states.map((s) => [s, Number((r as Record<string, number>)[s] ?? 0)]));
}

/** What one task looks like for triage: recent history, health and counts, never content. */
export async function telemetryTask(ctx: Ctx, name: string) {
  const task = await taskByName(ctx, name);
  await catchUpTelemetry(ctx);
  const bound = await activeBindingOf(ctx, task.id);
  const db = ctx.db;
  const [cycles, lastOk, decisions, cmds, failures] = await db.batch([
    db.select().from(managerCycles).where(eq(managerCycles.taskId, task.id)).orderBy(desc(managerCycles.taskId), desc(managerCycles.id)).limit(RECENT),
    db
      .select()
      .from(managerCycles)
      .where(and(eq(managerCycles.taskId, task.id), eq(managerCycles.state, "ok")))
      .orderBy(desc(managerCycles.taskId), desc(managerCycles.id))
      .limit(1),
    db
      .select()
      .from(managerDecisions)
      .where(eq(managerDecisions.taskId, task.id))
      .orderBy(desc(managerDecisions.taskId), desc(managerDecisions.id))
      .limit(RECENT),
    db.select().from(commands).where(eq(commands.taskId, task.id)).orderBy(desc(commands.taskId), desc(commands.createdAt)).limit(RECENT),
    db
      .select()
      .from(telemetryEvents)
      .where(and(eq(telemetryEvents.taskId, task.id), eqLiteral(telemetryEvents.outcome, "failed")))
      .orderBy(desc(telemetryEvents.taskId), desc(telemetryEvents.createdAt), desc(telemetryEvents.id))
      .limit(RECENT),
  ]);
  const worker = bound?.worker ?? null;
  const [cursor] = worker ? await db.select().from(ingestCursors).where(eq(ingestCursors.sessionId, worker.id)) : [];
  const sessionIds = [bound?.worker?.id, bound?.manager?.id].filter((x): x is string => !!x);
  const [criteria, counts, storage] = await Promise.all([
    criteriaCounts(ctx, task.id),
    countTelemetry(ctx, eq(telemetryEvents.taskId, task.id)),
    retainedStorage(ctx, task.id, sessionIds),
  ]);
  const cycleLines = cycles.map(cycleLine);
  return {
    task: task.name,
    task_id: task.id,
    state: task.state,
    binding: bound ? { id: bound.binding.id, worker: bound.worker?.name ?? null, manager: bound.manager?.name ?? null } : null,
    liveness: {
      worker: sessionBrief(ctx, bound?.worker),
      manager: sessionBrief(ctx, bound?.manager),
      worker_alive: cycleLines[0]?.worker_alive ?? null,
      manager_alive: cycleLines[0]?.manager_alive ?? null,
    },
    recent_cycles: cycleLines,
    last_successful_cycle: lastOk[0] ? cycleLine(lastOk[0]) : null,
    failed_cycles: cycleLines.filter((c) => c.state === "failed"),
    notable_patterns: cycleLines.filter((c) => c.notable_pattern).map((c) => ({ cycle_id: c.id, pattern: c.notable_pattern, at: c.at })),
    pane_capture_failures: cycleLines.filter((c) => c.pane_capture_error).map((c) => ({ cycle_id: c.id, error: c.pane_capture_error, at: c.at })),
    ingest: cursor
      ? {
          offset: cursor.offset,
          generation: cursor.generation,
          lines_total: cursor.linesTotal,
          skipped_total: cursor.skippedTotal,
          updated_at: iso(cursor.updatedAt),
        }
      : null,
    decisions: decisions.map((d) => ({ id: d.id, decision: d.decision, cycle_id: d.cycleId, created_by: d.createdBy, at: iso(d.createdAt) })),
    commands: cmds.map((c) => ({
      id: c.id,
      type: c.type,
      state: c.state,
      attempts: c.attempts,
      error: c.error ? c.error.slice(0, 300) : null,
      at: iso(c.createdAt),
    })),
    failed_commands: cmds.filter((c) => ["failed", "dead", "ambiguous"].includes(c.state)).map((c) => ({ id: c.id, type: c.type, state: c.state })),
    recent_failures: failures.map(wireTelemetry),
    criteria,
    open_criteria: criteria.proposed! + criteria.accepted!,
    telemetry: counts,
    storage,
  };
}

/** What a task keeps: transcript events of its sessions and captured segment bytes. */
async function retainedStorage(ctx: Ctx, taskId: string, sessionIds: string[]) {
  const [ev] = sessionIds.length
    ? await ctx.db.select({ n: count() }).from(transcriptEvents).where(inArray(transcriptEvents.sessionId, sessionIds))
    : [{ n: 0 }];
  const [seg] = await ctx.db
    .select({
      segments: count(),
      with_content: sql<number>`coalesce(sum(${transcriptSegments.content} IS NOT NULL), 0)`,
      bytes: sql<number>`coalesce(sum(CASE WHEN ${transcriptSegments.content} IS NOT NULL THEN ${transcriptSegments.bytes} ELSE 0 END), 0)`,
    })
    .from(transcriptSegments)
    .where(eq(transcriptSegments.taskId, taskId));
  return {
    transcript_events: Number(ev?.n ?? 0),
    transcript_segments: Number(seg?.segments ?? 0),
    segments_with_content: Number(seg?.with_content ?? 0),
    segment_bytes_retained: Number(seg?.bytes ?? 0),
  };
}

/** Failures within a window, newest first, with the standing trouble beside them. */
export async function telemetryFailures(ctx: Ctx, q: z.output<typeof FailuresQuery>) {
  const since = ctx.now().getTime() - parseWindow(q.window) * 1000;
  const taskId = q.task ? await taskIdByName(ctx, q.task) : null;
  const after = decodeTypedCursor(q.cursor, ["int", "int"], "telemetry/views");
  // After everything that can refuse the request: a refused read changes nothing.
  await catchUpTelemetry(ctx);
  const t = telemetryEvents;
  const conds = [
    eqLiteral(t.outcome, "failed"),
    gte(t.createdAt, since),
    taskId ? eq(t.taskId, taskId) : undefined,
    q.run ? eq(t.runId, q.run) : undefined,
    q.active_only ? inArray(t.taskId, ctx.db.select({ id: tasks.id }).from(tasks).where(eq(tasks.state, "active"))) : undefined,
    after ? sql`(${t.createdAt}, ${t.id}) < (${after[0]}, ${after[1]})` : undefined,
  ];
  const order = taskId ? [desc(t.taskId), desc(t.createdAt), desc(t.id)] : [desc(t.createdAt), desc(t.id)];
  const rows = await ctx.db
    .select()
    .from(t)
    .where(and(...conds))
    .orderBy(...order)
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.createdAt, r.id], "telemetry/views");

  const [windowCounts, dead, ingest, openAccepted, health] = await Promise.all([
    ctx.db
      .select({
        cycles: sql<number>`coalesce(sum(${t.source} = 'cycle'), 0)`,
        commands: sql<number>`coalesce(sum(${t.source} = 'command'), 0)`,
        attempts: sql<number>`coalesce(sum(${t.source} = 'attempt'), 0)`,
        actions: sql<number>`coalesce(sum(${t.source} = 'audit'), 0)`,
      })
      .from(t)
      .where(and(eqLiteral(t.outcome, "failed"), gte(t.createdAt, since), taskId ? eq(t.taskId, taskId) : undefined)),
    ctx.db
      .select({ n: count() })
      .from(commands)
      .where(and(eq(commands.state, "dead"), taskId ? eq(commands.taskId, taskId) : undefined)),
    // Kept by triggers (migration 0027): one row, not a sum over every session ever ingested.
    ctx.db.select({ sessions: ingestTotals.sessionsSkipping, skipped: ingestTotals.skipped }).from(ingestTotals).where(eq(ingestTotals.id, 1)),
    ctx.db
      .select({ n: count() })
      .from(acceptanceCriteria)
      .where(
        and(
          taskId
            ? eq(acceptanceCriteria.taskId, taskId)
            : inArray(acceptanceCriteria.taskId, ctx.db.select({ id: tasks.id }).from(tasks).where(eq(tasks.state, "active"))),
          eq(acceptanceCriteria.status, "accepted"),
        ),
      ),
    sessionHealth(ctx),
  ]);
  const wc = windowCounts[0] as Record<string, number>;
  return {
    window: q.window,
    since: iso(since),
    task: q.task ?? null,
    run: q.run ?? null,
    active_only: q.active_only,
    failures: page.items.map(wireTelemetry),
    count: page.items.length,
    next_cursor: page.next_cursor,
    counts: {
      failed_cycles: Number(wc.cycles ?? 0),
      failed_commands: Number(wc.commands ?? 0),
      failed_attempts: Number(wc.attempts ?? 0),
      failed_actions: Number(wc.actions ?? 0),
      dead_letters: Number(dead[0]?.n ?? 0),
      ingest_sessions_with_skipped_lines: Number(ingest[0]?.sessions ?? 0),
      ingest_skipped_lines: Number(ingest[0]?.skipped ?? 0),
      open_accepted_criteria: Number(openAccepted[0]?.n ?? 0),
    },
    health,
  };
}

/** Active tasks and sessions, and the sessions whose heartbeat is older than 10 minutes. */
async function sessionHealth(ctx: Ctx) {
  const stale = ctx.now().getTime() - 10 * 60_000;
  const [[tk], [ss]] = await Promise.all([
    ctx.db.select({ n: count() }).from(tasks).where(eq(tasks.state, "active")),
    ctx.db
      .select({
        n: count(),
        stale: sql<number>`coalesce(sum(${sessions.lastHeartbeatAt} IS NOT NULL AND ${sessions.lastHeartbeatAt} < ${stale}), 0)`,
      })
      .from(sessions)
      .where(and(inArray(sessions.role, ["worker", "manager"]), eqLiteral(sessions.state, "active"))),
  ]);
  return { active_tasks: Number(tk?.n ?? 0), active_sessions: Number(ss?.n ?? 0), sessions_with_stale_heartbeat: Number(ss?.stale ?? 0) };
}

/** Bounded rollups of the window: one pass over the telemetry index range, plus standing counts. */
export async function telemetryMetrics(ctx: Ctx, q: z.output<typeof MetricsQuery>) {
  const since = ctx.now().getTime() - parseWindow(q.window) * 1000;
  await catchUpTelemetry(ctx);
  const t = telemetryEvents;
  const sum = (cond: ReturnType<typeof sql>) => sql<number>`coalesce(sum(${cond}), 0)`;
  const [[w], health, [ingest], [retained]] = await Promise.all([
    ctx.db
      .select({
        events: count(),
        failed: sum(sql`${t.outcome} = 'failed'`),
        cycles_ok: sum(sql`${t.source} = 'cycle' AND ${t.outcome} = 'ok'`),
        cycles_failed: sum(sql`${t.source} = 'cycle' AND ${t.outcome} = 'failed'`),
        commands_succeeded: sum(sql`${t.source} = 'command' AND ${t.outcome} = 'ok'`),
        commands_failed: sum(sql`${t.source} = 'command' AND ${t.outcome} = 'failed'`),
        attempts_ok: sum(sql`${t.source} = 'attempt' AND ${t.outcome} = 'ok'`),
        attempts_failed: sum(sql`${t.source} = 'attempt' AND ${t.outcome} = 'failed'`),
        audit_events: sum(sql`${t.source} = 'audit'`),
        actions_failed: sum(sql`${t.source} = 'audit' AND ${t.outcome} = 'failed'`),
        exports: sum(sql`${t.kind} = 'task_exported'`),
        prunes: sum(sql`${t.kind} = 'transcript_pruned'`),
        drift: sum(sql`${t.kind} IN ('session_reconciled_gone', 'binding_reconciled_ended', 'task_reconciled_finished')`),
      })
      .from(t)
      .where(gte(t.createdAt, since)),
    sessionHealth(ctx),
    ctx.db
      .select({ sessions: ingestTotals.sessions, lines: ingestTotals.lines, skipped: ingestTotals.skipped })
      .from(ingestTotals)
      .where(eq(ingestTotals.id, 1)),
    ctx.db
      .select({ segments: count(), bytes: sql<number>`coalesce(sum(${transcriptSegments.bytes}), 0)` })
      .from(transcriptSegments)
      .where(isNotNull(transcriptSegments.content)),
  ]);
  const n = (x: unknown) => Number(x ?? 0);
  const row = w as Record<string, number>;
  return {
    window: q.window,
    since: iso(since),
    ...health,
    telemetry_events: n(row.events),
    failed_events: n(row.failed),
    cycles: { ok: n(row.cycles_ok), failed: n(row.cycles_failed) },
    commands: { succeeded: n(row.commands_succeeded), failed: n(row.commands_failed) },
    attempts: { ok: n(row.attempts_ok), failed: n(row.attempts_failed) },
    audit_events: n(row.audit_events),
    failed_actions: n(row.actions_failed),
    ingest: { sessions: n(ingest?.sessions), lines_total: n(ingest?.lines), skipped_lines: n(ingest?.skipped) },
    reconcile_drift: n(row.drift),
    exports: n(row.exports),
    transcript_prunes: n(row.prunes),
    retained: { segments_with_content: n(retained?.segments), segment_bytes: n(retained?.bytes) },
  };
}

/** The freshest dispatcher heartbeat: the dispatch banner of the dashboard and the doctor. */
export async function dispatchHeartbeats(ctx: Ctx) {
  const rows = await ctx.db.select().from(dispatchers).where(eq(dispatchers.state, "running")).orderBy(asc(dispatchers.id)).limit(20);
  return rows.map((d) => ({
    id: d.id,
    host: d.host,
    pid: d.pid,
    dry_run: d.dryRun,
    iteration: d.iteration,
    processed: d.processed,
    heartbeat_at: iso(d.heartbeatAt),
    heartbeat_age_seconds: secondsSince(ctx, d.heartbeatAt),
  }));
}

/** One task's overview, as the dashboard shows it. */
export async function taskSnapshot(ctx: Ctx, task: TaskRow) {
  await catchUpTelemetry(ctx);
  const bound = await activeBindingOf(ctx, task.id);
  const [[cycle], inbox, cmds, criteria, [failed]] = await Promise.all([
    ctx.db.select().from(managerCycles).where(eq(managerCycles.taskId, task.id)).orderBy(desc(managerCycles.taskId), desc(managerCycles.id)).limit(1),
    inboxCounts(ctx, task.id),
    commandCounts(ctx, task.id),
    criteriaCounts(ctx, task.id),
    ctx.db
      .select({ n: count() })
      .from(telemetryEvents)
      .where(
        and(
          eq(telemetryEvents.taskId, task.id),
          eqLiteral(telemetryEvents.outcome, "failed"),
          gte(telemetryEvents.createdAt, ctx.now().getTime() - 86_400_000),
        ),
      ),
  ]);
  const last = cycle ? cycleLine(cycle) : null;
  return {
    task: task.name,
    task_id: task.id,
    state: task.state,
    created_at: iso(task.createdAt),
    binding: bound ? { id: bound.binding.id, worker: sessionBrief(ctx, bound.worker), manager: sessionBrief(ctx, bound.manager) } : null,
    last_cycle: last,
    latest_pane_pattern: last?.notable_pattern ?? null,
    worker_state: last?.worker_state ?? null,
    inbox,
    commands: cmds,
    criteria,
    failures_24h: Number(failed?.n ?? 0),
  };
}

/** The snapshot route: one named task, plus the dispatch heartbeats. */
export async function telemetrySnapshot(ctx: Ctx, q: z.output<typeof SnapshotQuery>) {
  const task = await taskByName(ctx, q.task);
  return { ...(await taskSnapshot(ctx, task)), dispatchers: await dispatchHeartbeats(ctx), generated_at: iso(ctx.now().getTime()) };
}
