import { and, eq, or, type Column, type SQL } from "drizzle-orm";
import { bindings, type BindingRow } from "../../schema/bindings.ts";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import { tasks } from "../../schema/tasks.ts";
import type { TaskRow } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { taskNotFound } from "../tasks/lookup.ts";
import { eqLiteral } from "../lib/sql.ts";

/** A task with its active binding and both bound sessions. */
export interface BoundTask {
  task: TaskRow;
  binding: BindingRow;
  worker: SessionRow;
  manager: SessionRow;
}

/**
 * The reads behind `boundTask`, keyed by the task's name alone so that they, and reads keyed by
 * `taskId`, `workerId` or `managerId` (scalar subqueries off the same indexes), can share one
 * `db.batch` with no round trip in between.
 */
export function boundTaskReads(ctx: Ctx, taskName: string) {
  const db = ctx.db;
  const taskId = db.select({ id: tasks.id }).from(tasks).where(eq(tasks.name, taskName)).limit(1);
  const active = and(eq(bindings.taskId, taskId), eqLiteral(bindings.state, "active"));
  const workerId = db.select({ id: bindings.workerSessionId }).from(bindings).where(active).limit(1);
  const managerId = db.select({ id: bindings.managerSessionId }).from(bindings).where(active).limit(1);
  return {
    taskId,
    workerId,
    managerId,
    reads: [
      db.select().from(tasks).where(eq(tasks.name, taskName)).limit(1),
      db.select().from(bindings).where(active).limit(1),
      db.select().from(sessions).where(eq(sessions.id, workerId)).limit(1),
      db.select().from(sessions).where(eq(sessions.id, managerId)).limit(1),
    ] as const,
  };
}

/** The bound task `boundTaskReads` found, or NOT_FOUND with the command to run. */
export function boundTaskFrom(taskName: string, [t, b, w, m]: readonly [TaskRow[], BindingRow[], SessionRow[], SessionRow[]]): BoundTask {
  const task = t[0];
  if (!task) throw taskNotFound(taskName);
  const binding = b[0];
  if (!binding) {
    throw new ApiError("NOT_FOUND", `task '${task.name}' has no active binding`, {
      hint: `Bind a worker and a manager: switchyard bind --task ${task.name} --worker <W> --manager <M>`,
    });
  }
  return { task, binding, worker: w[0]!, manager: m[0]! };
}

/** Resolves a task's active binding in one round trip, or NOT_FOUND with the bind command to run. */
export async function boundTask(ctx: Ctx, taskName: string): Promise<BoundTask> {
  return boundTaskFrom(taskName, await ctx.db.batch(boundTaskReads(ctx, taskName).reads));
}

/** Refuses a session principal that is neither of the task's bound sessions. */
export function assertBoundSessionOrPrivileged(ctx: Ctx, bt: BoundTask, allow: Array<"worker" | "manager"> = ["manager"]): void {
  if (ctx.auth.kind !== "session") return;
  const ids = allow.map((r) => (r === "worker" ? bt.worker.id : bt.manager.id));
  if (!ids.includes(ctx.auth.sessionId)) {
    throw new ApiError("FORBIDDEN", `this session is not the bound ${allow.join(" or ")} of task '${bt.task.name}'`, {
      hint: "Use the token of a session bound to the task, or the owner token.",
    });
  }
}

/** An active binding the session takes part in, as worker or manager (a session id, or a column holding one). */
export function involvesSession(sessionId: string | Column): SQL {
  return and(eqLiteral(bindings.state, "active"), or(eq(bindings.workerSessionId, sessionId), eq(bindings.managerSessionId, sessionId)))!;
}

/**
 * An active binding of the session, with its task's id and name, or null. A worker has at most
 * one; a manager may supervise several tasks, and then this is one of them.
 */
export async function activeBindingOf(ctx: Ctx, sessionId: string): Promise<{ taskId: string; task: string } | null> {
  const [b] = await ctx.db
    .select({ taskId: bindings.taskId, task: tasks.name })
    .from(bindings)
    .innerJoin(tasks, eq(tasks.id, bindings.taskId))
    .where(involvesSession(sessionId))
    .limit(1);
  return b ?? null;
}
