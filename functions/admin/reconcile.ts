import { z } from "@hono/zod-openapi";
import { queryNumber } from "../lib/names.ts";
import { and, eq, inArray, isNotNull, max, or } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import { events } from "../../schema/events.ts";
import { managerCycles } from "../../schema/observe.ts";
import { SESSION_ROLES, sessions } from "../../schema/sessions.ts";
import { tasks } from "../../schema/tasks.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { withWriteTransaction } from "../lib/db.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { iso, eqLiteral } from "../lib/sql.ts";
import { sessionAlive } from "../observe/status.ts";

/** A manager silent for longer than this (since its last ok cycle or the binding) is stuck. */
export const DEFAULT_STALE_CYCLES_SECONDS = 3600;

const StaleCycles = z
  .number()
  .int()
  .min(1)
  .max(30 * 86400);

export const ReconcileQuery = z.object({
  stale_cycles_seconds: queryNumber(
    z
      .number()
      .int()
      .min(1)
      .max(30 * 86400),
  )
    .optional()
    .default(DEFAULT_STALE_CYCLES_SECONDS)
    .openapi({ description: `Manager silence that makes a task stuck (default ${DEFAULT_STALE_CYCLES_SECONDS})` }),
});

export const ReconcileBody = z
  .object({ stale_cycles_seconds: StaleCycles.optional().openapi({ description: `Default ${DEFAULT_STALE_CYCLES_SECONDS}` }) })
  .strict()
  .openapi("ReconcileApply");

const BoundTaskRef = z.object({ task_id: z.string(), task: z.string(), binding_id: z.string(), role: z.enum(SESSION_ROLES) });

const DeadSession = z.object({
  session_id: z.string(),
  name: z.string(),
  role: z.enum(SESSION_ROLES),
  pid: z.number().int(),
  host: z.string().nullable(),
  bound_tasks: z.array(BoundTaskRef),
});

export const ReconcileReport = z
  .object({
    ok: z.boolean(),
    dead_sessions: z.array(DeadSession),
    unchecked_sessions: z.array(z.object({ session_id: z.string(), name: z.string(), pid: z.number().int(), reason: z.string() })),
    dangling_bindings: z.array(
      z.object({
        binding_id: z.string(),
        task_id: z.string(),
        task: z.string(),
        reasons: z.array(z.enum(["task_finished", "worker_gone", "manager_gone"])),
      }),
    ),
    stuck_tasks: z.array(
      z.object({
        task_id: z.string(),
        task: z.string(),
        binding_id: z.string(),
        last_ok_cycle_at: z.string().nullable(),
        silent_seconds: z.number().int(),
      }),
    ),
    counts: z.object({
      dead_sessions: z.number().int(),
      unchecked_sessions: z.number().int(),
      dangling_bindings: z.number().int(),
      stuck_tasks: z.number().int(),
    }),
  })
  .openapi("ReconcileReport");

export const ReconcileResult = z
  .object({
    applied: z.boolean(),
    checked_at: z.string(),
    stale_cycles_seconds: z.number().int(),
    before: ReconcileReport,
    actions: z.array(
      z.object({
        action: z.enum(["session_marked_gone", "binding_ended"]),
        session_id: z.string().nullable(),
        binding_id: z.string().nullable(),
        task_id: z.string().nullable(),
        reason: z.string(),
        event_id: z.string(),
      }),
    ),
    after: ReconcileReport.nullable().openapi({ description: "The report once the fixes are in; null when nothing was applied" }),
  })
  .openapi("ReconcileResult");

const DESCRIPTION =
  "Dead-pid sessions (active, with a pid on this host that is no longer running), dangling bindings (active while the task is finished or a bound session is gone) and stuck tasks (active binding, no ok cycle newer than stale_cycles_seconds since the binding began).";

export const reconcileReportRoute = defineRoute(
  ["owner", "daemon"],
  {
    method: "get",
    path: "/admin/reconcile",
    tags: ["admin"],
    summary: "Report runtime drift without changing anything",
    description: `${DESCRIPTION} CLI: reconcile [--stale-cycles-seconds N].`,
    request: { query: ReconcileQuery },
    responses: { 200: jsonResponse(ReconcileResult, "Report") },
  },
  { rateLimited: true },
);

export const reconcileApplyRoute = defineRoute(
  ["owner"],
  {
    method: "post",
    path: "/admin/reconcile",
    tags: ["admin"],
    summary: "Report runtime drift and fix what is safely fixable",
    description: `${DESCRIPTION} Marks dead-pid sessions gone and ends dangling bindings (including those of the sessions it just marked), each with an audit event; stuck tasks are only reported. Owner only. CLI: reconcile --apply.`,
    request: { body: jsonBody(ReconcileBody) },
    responses: { 200: jsonResponse(ReconcileResult, "Report, fixes and the report after them") },
  },
  { rateLimited: true },
);

type Report = z.infer<typeof ReconcileReport>;
type Action = z.infer<typeof ReconcileResult>["actions"][number];
type DeadSessionRef = z.infer<typeof DeadSession>;

/** Active bindings a session takes part in, with the role it plays in each. */
async function boundTasksOf(ctx: Ctx, sessionId: string): Promise<Array<z.infer<typeof BoundTaskRef>>> {
  const rows = await ctx.db
    .select({ binding: bindings, task: tasks.name })
    .from(bindings)
    .innerJoin(tasks, eq(tasks.id, bindings.taskId))
    .where(and(eqLiteral(bindings.state, "active"), or(eq(bindings.workerSessionId, sessionId), eq(bindings.managerSessionId, sessionId))));
  return rows.map((r) => ({
    task_id: r.binding.taskId,
    task: r.task,
    binding_id: r.binding.id,
    role: r.binding.workerSessionId === sessionId ? ("worker" as const) : ("manager" as const),
  }));
}

/**
 * Probes the pid of every active session that has one. Sessions on another host, or probed
 * from a process with no local runner, cannot be judged and are listed as unchecked rather
 * than guessed at; sessions without a pid are left to the heartbeat checks.
 */
export async function pidLiveness(ctx: Ctx): Promise<{ dead: DeadSessionRef[]; unchecked: Report["unchecked_sessions"] }> {
  const rows = await ctx.db
    .select()
    .from(sessions)
    .where(and(eqLiteral(sessions.state, "active"), isNotNull(sessions.pid)));
  const dead: DeadSessionRef[] = [];
  const unchecked: Report["unchecked_sessions"] = [];
  for (const s of rows) {
    let alive: boolean | null;
    try {
      alive = await sessionAlive(ctx, s);
    } catch (e) {
      unchecked.push({ session_id: s.id, name: s.name, pid: s.pid!, reason: `pid probe failed: ${(e as Error).message}` });
      continue;
    }
    if (alive === null) {
      unchecked.push({ session_id: s.id, name: s.name, pid: s.pid!, reason: ctx.host ? `lives on host ${s.host}` : "no local runner in this process" });
    } else if (!alive) {
      dead.push({ session_id: s.id, name: s.name, role: s.role, pid: s.pid!, host: s.host, bound_tasks: await boundTasksOf(ctx, s.id) });
    }
  }
  return { dead, unchecked };
}

async function danglingBindings(ctx: Ctx): Promise<Report["dangling_bindings"]> {
  const rows = await ctx.db
    .select({ binding: bindings, task: tasks })
    .from(bindings)
    .innerJoin(tasks, eq(tasks.id, bindings.taskId))
    .where(eqLiteral(bindings.state, "active"));
  if (!rows.length) return [];
  const ids = [...new Set(rows.flatMap((r) => [r.binding.workerSessionId, r.binding.managerSessionId]))];
  const states = new Map(
    (await ctx.db.select({ id: sessions.id, state: sessions.state }).from(sessions).where(inArray(sessions.id, ids))).map((s) => [s.id, s.state]),
  );
  const out: Report["dangling_bindings"] = [];
  for (const { binding, task } of rows) {
    const reasons: Report["dangling_bindings"][number]["reasons"] = [];
    if (task.state === "finished") reasons.push("task_finished");
    if (states.get(binding.workerSessionId) !== "active") reasons.push("worker_gone");
    if (states.get(binding.managerSessionId) !== "active") reasons.push("manager_gone");
    if (reasons.length) out.push({ binding_id: binding.id, task_id: task.id, task: task.name, reasons });
  }
  return out;
}

async function stuckTasks(ctx: Ctx, staleSeconds: number): Promise<Report["stuck_tasks"]> {
  const nowMs = ctx.now().getTime();
  const rows = await ctx.db
    .select({ binding: bindings, task: tasks })
    .from(bindings)
    .innerJoin(tasks, eq(tasks.id, bindings.taskId))
    .where(and(eqLiteral(bindings.state, "active"), eq(tasks.state, "active")));
  const out: Report["stuck_tasks"] = [];
  for (const { binding, task } of rows) {
    const [last] = await ctx.db
      .select({ at: max(managerCycles.createdAt) })
      .from(managerCycles)
      .where(and(eq(managerCycles.taskId, task.id), eq(managerCycles.state, "ok")));
    const lastOk = last?.at ?? null;
    // A binding younger than the threshold has not had the chance to cycle yet.
    const since = Math.max(lastOk ?? 0, binding.createdAt);
    const silent = Math.round((nowMs - since) / 1000);
    if (silent > staleSeconds) out.push({ task_id: task.id, task: task.name, binding_id: binding.id, last_ok_cycle_at: iso(lastOk), silent_seconds: silent });
  }
  return out;
}

async function report(ctx: Ctx, staleSeconds: number): Promise<{ report: Report; dead: DeadSessionRef[] }> {
  const { dead, unchecked } = await pidLiveness(ctx);
  const dangling = await danglingBindings(ctx);
  const stuck = await stuckTasks(ctx, staleSeconds);
  return {
    dead,
    report: {
      ok: dead.length === 0 && dangling.length === 0 && stuck.length === 0,
      dead_sessions: dead,
      unchecked_sessions: unchecked,
      dangling_bindings: dangling,
      stuck_tasks: stuck,
      counts: { dead_sessions: dead.length, unchecked_sessions: unchecked.length, dangling_bindings: dangling.length, stuck_tasks: stuck.length },
    },
  };
}

/** Marks one dead-pid session gone with its audit event; null when it changed meanwhile. */
async function markGone(ctx: Ctx, d: DeadSessionRef): Promise<Action | null> {
  const nowMs = ctx.now().getTime();
  const audit = auditInsert(ctx, { kind: "session_reconciled_gone", sessionId: d.session_id, payload: { name: d.name, pid: d.pid, reason: "pid_dead" } });
  return withWriteTransaction(ctx.db, async (tx) => {
    const done = await tx
      .update(sessions)
      .set({ state: "gone", goneAt: nowMs, updatedAt: nowMs })
      // The pid guard: a session re-registered with a new pid since the probe is not the dead one.
      .where(and(eq(sessions.id, d.session_id), eqLiteral(sessions.state, "active"), eq(sessions.pid, d.pid)))
      .returning({ id: sessions.id });
    if (!done.length) return null;
    await tx.insert(events).values(audit.row);
    return {
      action: "session_marked_gone" as const,
      session_id: d.session_id,
      binding_id: null,
      task_id: null,
      reason: `pid ${d.pid} is not running`,
      event_id: audit.id,
    };
  });
}

/** Ends one dangling binding with its audit event; null when it was ended meanwhile. */
async function endBinding(ctx: Ctx, b: Report["dangling_bindings"][number]): Promise<Action | null> {
  const nowMs = ctx.now().getTime();
  const audit = auditInsert(ctx, { kind: "binding_reconciled_ended", taskId: b.task_id, payload: { binding_id: b.binding_id, reasons: b.reasons } });
  return withWriteTransaction(ctx.db, async (tx) => {
    const done = await tx
      .update(bindings)
      .set({ state: "ended", endedAt: nowMs, endReason: "reconcile" })
      .where(and(eq(bindings.id, b.binding_id), eqLiteral(bindings.state, "active")))
      .returning({ id: bindings.id });
    if (!done.length) return null;
    await tx.insert(events).values(audit.row);
    return {
      action: "binding_ended" as const,
      session_id: null,
      binding_id: b.binding_id,
      task_id: b.task_id,
      reason: b.reasons.join(", "),
      event_id: audit.id,
    };
  });
}

/**
 * reconcile: reports drift between the database and the running processes and, with `apply`,
 * fixes what needs no judgement. Each fix is guarded by the state it expects, so a session or
 * binding that changed under us is left alone rather than overwritten.
 */
export async function reconcile(ctx: Ctx, input: { apply: boolean; stale_cycles_seconds?: number }) {
  const staleSeconds = input.stale_cycles_seconds ?? DEFAULT_STALE_CYCLES_SECONDS;
  const checkedAt = iso(ctx.now().getTime())!;
  const before = await report(ctx, staleSeconds);
  if (!input.apply) return { applied: false, checked_at: checkedAt, stale_cycles_seconds: staleSeconds, before: before.report, actions: [], after: null };
  const actions: Action[] = [];
  for (const d of before.dead) {
    const a = await markGone(ctx, d);
    if (a) actions.push(a);
  }
  // Ending bindings after marking sessions gone also releases the tasks those sessions held.
  for (const b of await danglingBindings(ctx)) {
    const a = await endBinding(ctx, b);
    if (a) actions.push(a);
  }
  const after = await report(ctx, staleSeconds);
  return { applied: true, checked_at: checkedAt, stale_cycles_seconds: staleSeconds, before: before.report, actions, after: after.report };
}
