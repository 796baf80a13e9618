import { z } from "@hono/zod-openapi";
import { and, count, desc, eq, inArray, sql } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import { adviceRequests, brokerEvents } from "../../schema/broker.ts";
import { commands } from "../../schema/commands.ts";
import { convoys } from "../../schema/convoys.ts";
import { gates } from "../../schema/gates.ts";
import { inboxItems } from "../../schema/messages.ts";
import { managerCycles } from "../../schema/observe.ts";
import { sessions } from "../../schema/sessions.ts";
import { telemetryEvents } from "../../schema/telemetry.ts";
import { tasks } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { decodeTypedCursor, NextCursorField, pageOf, PageQueryFields } from "../lib/paging.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { iso, eqLiteral } from "../lib/sql.ts";
import { patrolStatus } from "../patrol/status.ts";
import { dispatchHeartbeats, secondsSince } from "../telemetry/views.ts";
import { catchUpTelemetry } from "../telemetry/feed.ts";

export const OverviewQuery = z.object({
  state: z.enum(["active", "finished"]).optional().default("active").openapi({ description: "Which tasks to list (default active)" }),
  ...PageQueryFields,
});

const Obj = z.record(z.string(), z.unknown());
export const Overview = z
  .object({
    generated_at: z.string(),
    watermark: z.string().openapi({ description: "Changes when anything the dashboard shows may have changed" }),
    tasks: z.array(Obj),
    ...NextCursorField,
    queue: Obj,
    dispatch: z.array(Obj),
    broker: z.array(Obj).openapi({ description: "Open advice by state, oldest first within each, the first 50" }),
    broker_open: z.number().int().openapi({ description: "How much advice is open in all (`broker queue` lists it)" }),
    patrol: Obj,
  })
  .openapi("DashboardOverview");

export const overviewRoute = defineRoute(["owner"], {
  method: "get",
  path: "/dashboard/overview",
  tags: ["dashboard"],
  summary: "Everything the dashboard shows at once: tasks, queue, dispatch, approvals, patrol",
  description:
    "Tasks (newest first, paged) with their bindings, each session's liveness, the latest cycle and pane pattern and inbox pending/consumed counts; the command queue with dead letters; dispatcher heartbeats; the broker approval queue; the patrol with open gates and convoys. Owner only. Served to the page at /dashboard.",
  request: { query: OverviewQuery },
  responses: { 200: jsonResponse(Overview, "Overview") },
});

/** Rows kept in the dashboard's side lists (dead letters, approvals, gates, convoys). */
const SIDE = 50;
const OPEN_ADVICE = ["owner_input_required", "draft_ready", "approved", "queued", "failed"] as const;

/** The change watermark: the newest telemetry row and broker event (two primary-key lookups). */
export async function watermark(ctx: Ctx): Promise<string> {
  await catchUpTelemetry(ctx);
  const [[t], [b]] = await ctx.db.batch([
    ctx.db.select({ id: sql<number | null>`max(${telemetryEvents.id})` }).from(telemetryEvents),
    ctx.db.select({ id: sql<number | null>`max(${brokerEvents.id})` }).from(brokerEvents),
  ]);
  return `${t?.id ?? 0}.${b?.id ?? 0}`;
}

/** One page of tasks with what the dashboard shows of each, in a few batched reads. */
async function taskRows(ctx: Ctx, q: z.output<typeof OverviewQuery>) {
  const after = decodeTypedCursor(q.cursor, ["int"], "dashboard/overview");
  // rowid order is creation order, and the (state) index carries it: newest first with no sort.
  const rows = await ctx.db
    .select({ rowid: sql<number>`"tasks".rowid`, id: tasks.id, name: tasks.name, state: tasks.state, createdAt: tasks.createdAt, finishedAt: tasks.finishedAt })
    .from(tasks)
    .where(and(eq(tasks.state, q.state), after ? sql`"tasks".rowid < ${after[0]}` : undefined))
    .orderBy(sql`"tasks".rowid DESC`)
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.rowid], "dashboard/overview");
  const ids = page.items.map((t) => t.id);
  if (!ids.length) return { items: [], next_cursor: page.next_cursor };
  const db = ctx.db;
  const binds = await db
    .select()
    .from(bindings)
    .where(and(inArray(bindings.taskId, ids), eqLiteral(bindings.state, "active")));
  const sessionIds = [...new Set(binds.flatMap((b) => [b.workerSessionId, b.managerSessionId]))];
  // `as any`: db.batch wants a non-empty tuple, and this is one batch of per-task selects of two shapes.
  const batch = (await db.batch([
    ...ids.map((id) =>
      db
        .select({
          id: managerCycles.id,
          state: managerCycles.state,
          workerState: managerCycles.workerState,
          pattern: managerCycles.notablePattern,
          at: managerCycles.createdAt,
        })
        .from(managerCycles)
        .where(eq(managerCycles.taskId, id))
        .orderBy(desc(managerCycles.taskId), desc(managerCycles.id))
        .limit(1),
    ),
    ...ids.map((id) =>
      db
        .select({ total: count(), pending: sql<number>`coalesce(sum(${inboxItems.consumedAt} IS NULL), 0)` })
        .from(inboxItems)
        .where(eq(inboxItems.taskId, id)),
    ),
    db
      .select()
      .from(sessions)
      .where(inArray(sessions.id, sessionIds.length ? sessionIds : ["-"])),
  ] as any)) as unknown[];
  const cycles = batch.slice(0, ids.length) as Array<Array<{ id: number; state: string; workerState: string | null; pattern: string | null; at: number }>>;
  const inbox = batch.slice(ids.length, 2 * ids.length) as Array<Array<{ total: number; pending: number }>>;
  const ss = batch[2 * ids.length] as Array<typeof sessions.$inferSelect>;
  const session = (id: string | undefined) => {
    const s = ss.find((x) => x.id === id);
    return s ? { name: s.name, state: s.state, tmux: s.tmuxSession !== null, heartbeat_age_seconds: secondsSince(ctx, s.lastHeartbeatAt) } : null;
  };
  const items = page.items.map((t, i) => {
    const b = binds.find((x) => x.taskId === t.id);
    const c = cycles[i]?.[0];
    const ib = inbox[i]?.[0];
    const pending = Number(ib?.pending ?? 0);
    return {
      name: t.name,
      state: t.state,
      created_at: iso(t.createdAt),
      worker: b ? session(b.workerSessionId) : null,
      manager: b ? session(b.managerSessionId) : null,
      last_cycle: c
        ? { id: c.id, state: c.state, worker_state: c.workerState, pane_pattern: c.pattern, at: iso(c.at), age_seconds: secondsSince(ctx, c.at) }
        : null,
      inbox: { pending, consumed: Number(ib?.total ?? 0) - pending },
    };
  });
  return { items, next_cursor: page.next_cursor };
}

/** The command queue: counts of live states and the newest dead letters. */
async function queue(ctx: Ctx) {
  const c = commands;
  const [[pending], [running], [deadCount], dead] = await ctx.db.batch([
    ctx.db.select({ n: count() }).from(c).where(eq(c.state, "pending")),
    ctx.db.select({ n: count() }).from(c).where(eq(c.state, "running")),
    ctx.db.select({ n: count() }).from(c).where(eq(c.state, "dead")),
    ctx.db
      .select({ id: c.id, type: c.type, taskId: c.taskId, error: c.error, attempts: c.attempts, updatedAt: c.updatedAt, host: c.host })
      .from(c)
      .where(eq(c.state, "dead"))
      .orderBy(desc(c.state), desc(c.host), desc(c.createdAt))
      .limit(SIDE),
  ]);
  const taskNames = dead.length
    ? await ctx.db
        .select({ id: tasks.id, name: tasks.name })
        .from(tasks)
        .where(
          inArray(
            tasks.id,
            dead.map((d) => d.taskId ?? "-"),
          ),
        )
    : [];
  return {
    pending: Number(pending?.n ?? 0),
    running: Number(running?.n ?? 0),
    dead: Number(deadCount?.n ?? 0),
    dead_letters: dead.map((d) => ({
      id: d.id,
      type: d.type,
      task: taskNames.find((t) => t.id === d.taskId)?.name ?? null,
      attempts: d.attempts,
      error: d.error ? d.error.slice(0, 300) : null,
      updated_at: iso(d.updatedAt),
    })),
  };
}

/** The owner's approval queue: open advice, by state, oldest first within each state. */
async function approvals(ctx: Ctx) {
  const a = adviceRequests;
  // The per-state lists, then the total of open advice (the state index's ranges), in one batch.
  const results = (await ctx.db.batch([
    ...OPEN_ADVICE.map((state) =>
      ctx.db
        .select({
          id: a.id,
          state: a.state,
          requester: a.requesterSessionId,
          to: a.toSessionId,
          request: a.requestText,
          draft: a.draftText,
          approved: a.approvedText,
          policy: a.policyReason,
          createdAt: a.createdAt,
        })
        .from(a)
        .where(eq(a.state, state))
        .orderBy(a.state, a.createdAt)
        .limit(SIDE),
    ),
    ctx.db
      .select({ n: count() })
      .from(a)
      .where(inArray(a.state, [...OPEN_ADVICE])),
    // `as any`: db.batch wants a non-empty tuple, not a mapped array of identical selects.
  ] as any)) as unknown[];
  const [counted] = results.pop() as Array<{ n: number }>;
  const per = results as Array<
    Array<{
      id: string;
      state: string;
      requester: string | null;
      to: string;
      request: string;
      draft: string | null;
      approved: string | null;
      policy: string | null;
      createdAt: number;
    }>
  >;
  const rows = per.flat().slice(0, SIDE);
  const ids = [...new Set(rows.flatMap((r) => [r.requester, r.to]).filter((x): x is string => !!x))];
  const names = ids.length ? await ctx.db.select({ id: sessions.id, name: sessions.name }).from(sessions).where(inArray(sessions.id, ids)) : [];
  const name = (id: string | null) => (id ? (names.find((n) => n.id === id)?.name ?? id) : null);
  // The owner reviews the request and the draft here: this page is the owner's, so content is shown.
  const wire = rows.map((r) => ({
    id: r.id,
    state: r.state,
    requester: name(r.requester),
    to: name(r.to),
    request_text: r.request,
    draft_text: r.draft,
    approved_text: r.approved,
    policy_reason: r.policy,
    created_at: iso(r.createdAt),
  }));
  return { rows: wire, open: counted?.n ?? 0 };
}

/** The patrol's status, with open gates and convoys. */
async function patrol(ctx: Ctx) {
  const status = await patrolStatus(ctx);
  // The lists are capped; the counts say how many are open in all, so a flood of gates or convoys
  // (any session may open its own) cannot hide the rest from the owner without a trace.
  const [openGates, openConvoys, [gateCount], [convoyCount]] = await ctx.db.batch([
    ctx.db
      .select({ id: gates.id, type: gates.type, title: gates.title, dueAt: gates.dueAt, createdAt: gates.createdAt })
      .from(gates)
      .where(eq(gates.state, "open"))
      .orderBy(desc(gates.state), desc(gates.createdAt), desc(gates.id))
      .limit(SIDE),
    ctx.db
      .select({ id: convoys.id, title: convoys.title, createdAt: convoys.createdAt })
      .from(convoys)
      .where(eq(convoys.state, "open"))
      .orderBy(desc(convoys.state), desc(convoys.createdAt), desc(convoys.id))
      .limit(SIDE),
    ctx.db.select({ n: count() }).from(gates).where(eq(gates.state, "open")),
    ctx.db.select({ n: count() }).from(convoys).where(eq(convoys.state, "open")),
  ]);
  return {
    running: status.running,
    heartbeat_age_seconds: status.heartbeat_age_seconds,
    problem: status.problem,
    last_run: status.last_run ? { state: status.last_run.state, started_at: status.last_run.started_at } : null,
    unhealthy: status.unhealthy_total,
    owner_notices_pending: status.owner_notices_pending,
    gates: openGates.map((g) => ({ id: g.id, type: g.type, title: g.title, due_at: iso(g.dueAt), created_at: iso(g.createdAt) })),
    convoys: openConvoys.map((c) => ({ id: c.id, title: c.title, created_at: iso(c.createdAt) })),
    gates_open: gateCount?.n ?? 0,
    convoys_open: convoyCount?.n ?? 0,
  };
}

/** The whole dashboard in one answer. */
export async function dashboardOverview(ctx: Ctx, q: z.output<typeof OverviewQuery>) {
  // A bad cursor is refused before the watermark catches telemetry up (a refused read changes nothing).
  decodeTypedCursor(q.cursor, ["int"], "dashboard/overview");
  const [mark, t, qu, dispatch, broker, pat] = await Promise.all([
    watermark(ctx),
    taskRows(ctx, q),
    queue(ctx),
    dispatchHeartbeats(ctx),
    approvals(ctx),
    patrol(ctx),
  ]);
  return {
    generated_at: iso(ctx.now().getTime())!,
    watermark: mark,
    tasks: t.items,
    next_cursor: t.next_cursor,
    queue: qu,
    dispatch,
    broker: broker.rows,
    broker_open: broker.open,
    patrol: pat,
  };
}
