import { and, asc, eq, isNull, sql } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import { convoys, convoyTasks, taskDeps, type ConvoyRow } from "../../schema/convoys.ts";
import { events } from "../../schema/events.ts";
import { tasks } from "../../schema/tasks.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { guardedInsert } from "../lib/guarded.ts";
import { noticeStatements } from "../patrol/notify.ts";
import { eqLiteral } from "../lib/sql.ts";

/** Tracked tasks of a convoy that are not finished. */
const unfinishedOf = (convoyId: string) =>
  sql`SELECT 1 FROM ${convoyTasks} JOIN ${tasks} ON ${tasks.id} = ${convoyTasks.taskId} WHERE ${convoyTasks.convoyId} = ${convoyId} AND ${tasks.state} <> 'finished'`;

/**
 * Closes a convoy if, at the moment of the write, it is open, tracks at least one task and all
 * of them are finished: the check is inside the one UPDATE, so no interleaving of task closes,
 * reopens or other closers can close an empty or half-done convoy, or close it twice. The
 * owner's notification is written in the same batch, guarded by the close token.
 */
export async function closeConvoyIfComplete(ctx: Ctx, convoy: Pick<ConvoyRow, "id" | "title" | "ownerSessionId" | "createdAt">): Promise<boolean> {
  const nowMs = ctx.now().getTime();
  const token = ctx.newId("cct");
  const guard = sql`EXISTS (SELECT 1 FROM ${convoys} WHERE ${convoys.id} = ${convoy.id} AND ${convoys.closeToken} = ${token})`;
  const [{ n } = { n: 0 }] = await ctx.db.select({ n: sql<number>`count(*)` }).from(convoyTasks).where(eq(convoyTasks.convoyId, convoy.id));
  const minutes = Math.round((nowMs - convoy.createdAt) / 60_000);
  const audit = auditInsert(ctx, {
    kind: "convoy_closed",
    payload: { convoy_id: convoy.id, title: convoy.title, tasks: n, reason: "all tracked tasks finished" },
  });
  await ctx.db.batch([
    ctx.db
      .update(convoys)
      .set({
        state: "closed",
        // Never stamped before its last task: that task may have committed (with a later stamp
        // of its own process's clock) between this request taking the time and this write.
        closedAt: sql`max(${nowMs}, coalesce((SELECT max(${tasks.finishedAt}) FROM ${convoyTasks} JOIN ${tasks} ON ${tasks.id} = ${convoyTasks.taskId} WHERE ${convoyTasks.convoyId} = ${convoy.id}), 0))`,
        closeReason: "All tracked tasks finished",
        closeToken: token,
      })
      .where(
        and(
          eq(convoys.id, convoy.id),
          eq(convoys.state, "open"),
          sql`EXISTS (SELECT 1 FROM ${convoyTasks} WHERE ${convoyTasks.convoyId} = ${convoy.id})`,
          sql`NOT EXISTS (${unfinishedOf(convoy.id)})`,
        ),
      ),
    guardedInsert(ctx.db, events, audit.row, guard),
    ...noticeStatements(
      ctx,
      [
        {
          to: convoy.ownerSessionId ? { sessionId: convoy.ownerSessionId } : "owner",
          kind: "convoy_complete",
          subject: `Convoy complete: ${convoy.title}`,
          body: `Convoy ${convoy.id} (${convoy.title}) has completed: all ${n} tracked task(s) are finished. Duration: ${minutes} min. See switchyard convoy show ${convoy.id}.`,
          payload: { convoy_id: convoy.id, title: convoy.title, tasks: n, duration_minutes: minutes },
          dedupKey: `convoy_complete:${convoy.id}:${token}`,
        },
      ],
      guard,
    ),
  ]);
  const [after] = await ctx.db.select({ token: convoys.closeToken }).from(convoys).where(eq(convoys.id, convoy.id));
  return after?.token === token;
}

/**
 * The check-convoy-completion step: finds open convoys whose tracked tasks are all finished
 * (a read that changes nothing) and closes each with the guarded UPDATE.
 */
export async function checkConvoyCompletion(ctx: Ctx) {
  const complete = await ctx.db
    .select()
    .from(convoys)
    .where(
      and(
        eq(convoys.state, "open"),
        sql`EXISTS (SELECT 1 FROM ${convoyTasks} WHERE ${convoyTasks.convoyId} = ${convoys.id})`,
        sql`NOT EXISTS (SELECT 1 FROM ${convoyTasks} JOIN ${tasks} ON ${tasks.id} = ${convoyTasks.taskId} WHERE ${convoyTasks.convoyId} = ${convoys.id} AND ${tasks.state} <> 'finished')`,
      ),
    )
    .orderBy(asc(convoys.createdAt))
    .limit(500);
  const closed: string[] = [];
  for (const c of complete) if (await closeConvoyIfComplete(ctx, c)) closed.push(c.id);
  return { complete: complete.length, closed: closed.length, convoys: closed };
}

/** Who is told that a dependency resolved: the dependent task's bound manager, else the owner. */
async function managerOf(ctx: Ctx, taskId: string): Promise<string | null> {
  const [b] = await ctx.db
    .select({ manager: bindings.managerSessionId })
    .from(bindings)
    .where(and(eq(bindings.taskId, taskId), eqLiteral(bindings.state, "active")))
    .limit(1);
  return b?.manager ?? null;
}

/**
 * Resolves one dependency whose blocker is finished: stamps it and tells the dependent task's
 * manager, in one guarded batch (a reopened blocker makes the guard false, so nothing is said).
 */
export async function resolveDependency(ctx: Ctx, dep: { taskId: string; dependsOnTaskId: string }): Promise<boolean> {
  const nowMs = ctx.now().getTime();
  const token = ctx.newId("dpt");
  const [dependent] = await ctx.db.select().from(tasks).where(eq(tasks.id, dep.taskId)).limit(1);
  const [blocker] = await ctx.db.select().from(tasks).where(eq(tasks.id, dep.dependsOnTaskId)).limit(1);
  if (!dependent || !blocker) return false;
  const remaining = await ctx.db
    .select({ on: taskDeps.dependsOnTaskId })
    .from(taskDeps)
    .innerJoin(tasks, eq(tasks.id, taskDeps.dependsOnTaskId))
    .where(and(eq(taskDeps.taskId, dep.taskId), isNull(taskDeps.resolvedAt), sql`${tasks.state} <> 'finished'`));
  const unblocked = remaining.length === 0;
  const manager = await managerOf(ctx, dep.taskId);
  const guard = sql`EXISTS (SELECT 1 FROM ${taskDeps} WHERE ${taskDeps.taskId} = ${dep.taskId} AND ${taskDeps.dependsOnTaskId} = ${dep.dependsOnTaskId} AND ${taskDeps.resolveToken} = ${token})`;
  const audit = auditInsert(ctx, { kind: "dependency_resolved", taskId: dep.taskId, payload: { task: dependent.name, depends_on: blocker.name, unblocked } });
  await ctx.db.batch([
    ctx.db
      .update(taskDeps)
      .set({ resolvedAt: nowMs, resolveToken: token })
      .where(
        and(
          eq(taskDeps.taskId, dep.taskId),
          eq(taskDeps.dependsOnTaskId, dep.dependsOnTaskId),
          isNull(taskDeps.resolvedAt),
          sql`EXISTS (SELECT 1 FROM ${tasks} WHERE ${tasks.id} = ${dep.dependsOnTaskId} AND ${tasks.state} = 'finished')`,
        ),
      ),
    guardedInsert(ctx.db, events, audit.row, guard),
    ...noticeStatements(
      ctx,
      [
        {
          to: manager ? { sessionId: manager } : "owner",
          kind: "dependency_resolved",
          subject: `Dependency resolved: ${blocker.name}`,
          body: `Task ${blocker.name} has finished. ${unblocked ? `Unblocked: ${dependent.name} may now proceed.` : `${dependent.name} still waits for ${remaining.length} other task(s).`}`,
          payload: { task: dependent.name, depends_on: blocker.name, unblocked },
          taskId: dep.taskId,
          dedupKey: `dependency_resolved:${dep.taskId}:${dep.dependsOnTaskId}:${token}`,
        },
      ],
      guard,
    ),
  ]);
  const [after] = await ctx.db
    .select({ token: taskDeps.resolveToken })
    .from(taskDeps)
    .where(and(eq(taskDeps.taskId, dep.taskId), eq(taskDeps.dependsOnTaskId, dep.dependsOnTaskId)));
  return after?.token === token;
}

/**
 * The resolve-external-deps step: open dependencies (the partial index of unresolved ones)
 * whose blocker has finished, each resolved and announced once.
 */
export async function resolveExternalDeps(ctx: Ctx) {
  const due = await ctx.db
    .select({ taskId: taskDeps.taskId, dependsOnTaskId: taskDeps.dependsOnTaskId })
    .from(taskDeps)
    .innerJoin(tasks, eq(tasks.id, taskDeps.dependsOnTaskId))
    .where(and(isNull(taskDeps.resolvedAt), eq(tasks.state, "finished")))
    .limit(1000);
  let resolved = 0;
  for (const d of due) if (await resolveDependency(ctx, d)) resolved++;
  return { due: due.length, resolved };
}

/**
 * What a task's closure sets off at once (the patrol steps are the safety net if this process
 * dies first): convoys tracking it close if complete, and dependencies on it resolve.
 */
export async function afterTaskClosed(ctx: Ctx, taskId: string) {
  const tracking = await ctx.db
    .select({ convoy: convoys })
    .from(convoyTasks)
    .innerJoin(convoys, eq(convoys.id, convoyTasks.convoyId))
    .where(and(eq(convoyTasks.taskId, taskId), eq(convoys.state, "open")));
  const closed: string[] = [];
  for (const { convoy } of tracking) if (await closeConvoyIfComplete(ctx, convoy)) closed.push(convoy.id);
  const deps = await ctx.db
    .select({ taskId: taskDeps.taskId, dependsOnTaskId: taskDeps.dependsOnTaskId })
    .from(taskDeps)
    .where(and(eq(taskDeps.dependsOnTaskId, taskId), isNull(taskDeps.resolvedAt)));
  let resolved = 0;
  for (const d of deps) if (await resolveDependency(ctx, d)) resolved++;
  return { convoys_closed: closed, dependencies_resolved: resolved };
}
