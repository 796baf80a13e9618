import { and, eq, sql } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import { events } from "../../schema/events.ts";
import { sessions } from "../../schema/sessions.ts";
import { tasks } from "../../schema/tasks.ts";
import { releaseClaimsOf } from "../coordination/claims.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { guardedInsert } from "../lib/guarded.ts";
import { canReach } from "../lib/local.ts";
import type { StepInput } from "./dag.ts";
import { noticeStatements, writeNotices } from "./notify.ts";
import { eqLiteral } from "../lib/sql.ts";

type Orphan = {
  task: string;
  task_id: string;
  binding_id: string;
  worker: string;
  worker_session_id: string;
  manager_session_id: string;
  reason: "worker_gone" | "worker_dead";
  evidence: string;
};

/**
 * Tasks in progress (active, bound) whose worker is gone or whose process is dead. Death needs
 * two signals: the pid is not running (checked with its start time, so a recycled pid is not
 * taken for it) and nothing was written under its cwd for fresh_activity_seconds. A probe that
 * fails is not evidence, and a session on another host is left to that host.
 */
export async function findOrphans(ctx: Ctx, freshSeconds: number) {
  const rows = await ctx.db
    .select({ binding: bindings, task: tasks, worker: sessions })
    .from(bindings)
    .innerJoin(tasks, eq(tasks.id, bindings.taskId))
    .innerJoin(sessions, eq(sessions.id, bindings.workerSessionId))
    .where(and(eqLiteral(bindings.state, "active"), eq(tasks.state, "active")));
  const orphans: Orphan[] = [];
  const suspects: Array<{ task: string; worker: string; evidence: string }> = [];
  let unchecked = 0;
  const nowMs = ctx.now().getTime();
  for (const { binding, task, worker } of rows) {
    const base = {
      task: task.name,
      task_id: task.id,
      binding_id: binding.id,
      worker: worker.name,
      worker_session_id: worker.id,
      manager_session_id: binding.managerSessionId,
    };
    if (worker.state !== "active") {
      orphans.push({ ...base, reason: "worker_gone", evidence: `session ${worker.name} was deregistered or marked gone` });
      continue;
    }
    if (worker.pid === null) continue;
    if (!canReach(ctx, worker.host)) {
      unchecked++;
      continue;
    }
    const alive = await ctx.host!.pidAlive(worker.pid, worker.pidStartedAt).catch(() => null);
    if (alive !== false) {
      if (alive === null) unchecked++;
      continue;
    }
    const activity = worker.cwd ? await ctx.host!.newestActivity(worker.cwd, { maxEntries: 2000 }).catch(() => null) : null;
    if (activity && nowMs - activity.mtimeMs < freshSeconds * 1000) {
      suspects.push({
        task: task.name,
        worker: worker.name,
        evidence: `pid ${worker.pid} is gone but ${activity.path} was written ${Math.round((nowMs - activity.mtimeMs) / 1000)}s ago`,
      });
      continue;
    }
    orphans.push({
      ...base,
      reason: "worker_dead",
      evidence: `pid ${worker.pid} is not running and nothing under ${worker.cwd ?? "its cwd"} was written for ${freshSeconds}s`,
    });
  }
  return { bound: rows.length, orphans, suspects, unchecked };
}

/** Ends an orphan's binding and tells its manager and the owner, in one batch guarded by the audit row. */
async function releaseOrphan(ctx: Ctx, o: Orphan): Promise<{ released: boolean; claims: string[] }> {
  const nowMs = ctx.now().getTime();
  const audit = auditInsert(ctx, {
    kind: "orphan_released",
    taskId: o.task_id,
    sessionId: o.worker_session_id,
    payload: { binding_id: o.binding_id, reason: o.reason, evidence: o.evidence },
  });
  const mine = sql`EXISTS (SELECT 1 FROM ${events} WHERE ${events.id} = ${audit.id})`;
  const next = `Recover its work first: switchyard dispatch-status ${o.task}, then switchyard harvest ${o.task} --orphaned; then bind a new worker.`;
  await ctx.db.batch([
    guardedInsert(
      ctx.db,
      events,
      audit.row,
      sql`EXISTS (SELECT 1 FROM ${bindings} WHERE ${bindings.id} = ${o.binding_id} AND ${bindings.state} = 'active' AND ${bindings.workerSessionId} = ${o.worker_session_id})`,
    ),
    ctx.db
      .update(bindings)
      .set({ state: "ended", endedAt: nowMs, endReason: "orphan" })
      .where(and(eq(bindings.id, o.binding_id), eqLiteral(bindings.state, "active"), mine)),
    ...noticeStatements(
      ctx,
      [
        {
          to: { sessionId: o.manager_session_id },
          kind: "orphan_released",
          subject: `Orphaned: ${o.task} (worker ${o.worker} ${o.reason === "worker_gone" ? "gone" : "dead"})`,
          body: `${o.evidence}. The patrol ended the binding of ${o.task} and released ${o.worker}'s claims. ${next}`,
          payload: { task: o.task, worker: o.worker, reason: o.reason },
          taskId: o.task_id,
          dedupKey: `orphan_released:${o.binding_id}:manager`,
        },
      ],
      mine,
    ),
  ]);
  const [written] = await ctx.db.select({ id: events.id }).from(events).where(eq(events.id, audit.id));
  if (!written) return { released: false, claims: [] };
  return { released: true, claims: await releaseClaimsOf(ctx, o.worker_session_id, `worker of ${o.task} orphaned`) };
}

/**
 * The orphan-check step. Every orphan is reported (and the owner told once per binding); with
 * apply and orphan_policy=release (an owner's decision), its binding is ended, its manager told
 * and the dead worker's claims released. Nothing is killed, deleted or reassigned blindly.
 */
export async function orphanCheck({ ctx, config, apply }: StepInput) {
  const found = await findOrphans(ctx, config.fresh_activity_seconds);
  await writeNotices(
    ctx,
    found.orphans.map((o) => ({
      to: "owner" as const,
      kind: "orphan_detected",
      subject: `Orphaned task: ${o.task}`,
      body: `${o.task} is in progress but its worker ${o.worker} is ${o.reason === "worker_gone" ? "gone" : "dead"}: ${o.evidence}. Check it with switchyard dispatch-status ${o.task}; recover with switchyard harvest ${o.task} --orphaned.`,
      payload: { task: o.task, worker: o.worker, reason: o.reason, binding_id: o.binding_id },
      taskId: o.task_id,
      dedupKey: `orphan_detected:${o.binding_id}`,
    })),
  );
  const handled: Array<{ task: string; action: string; claims_released: number }> = [];
  if (apply && config.orphan_policy === "release") {
    for (const o of found.orphans) {
      const r = await releaseOrphan(ctx, o);
      handled.push({ task: o.task, action: r.released ? "binding ended, manager told" : "already handled", claims_released: r.claims.length });
    }
  }
  return {
    bound_tasks: found.bound,
    orphans: found.orphans.length,
    policy: config.orphan_policy,
    applied: apply && config.orphan_policy === "release",
    items: found.orphans,
    suspects: found.suspects,
    unchecked: found.unchecked,
    handled,
  };
}
