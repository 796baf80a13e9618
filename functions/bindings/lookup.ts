import { and, eq, or, type SQL } from "drizzle-orm";
import { bindings, type BindingRow } from "../../schema/bindings.ts";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import { tasks } from "../../schema/tasks.ts";
import type { TaskRow } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { taskByName } from "../tasks/lookup.ts";

/** A task with its active binding and both bound sessions. */
export interface BoundTask {
  task: TaskRow;
  binding: BindingRow;
  worker: SessionRow;
  manager: SessionRow;
}

/** Resolves a task's active binding, or NOT_FOUND with the bind command to run. */
export async function boundTask(ctx: Ctx, taskName: string): Promise<BoundTask> {
  const task = await taskByName(ctx, taskName);
  const [binding] = await ctx.db
    .select()
    .from(bindings)
    .where(and(eq(bindings.taskId, task.id), eq(bindings.state, "active")))
    .limit(1);
  if (!binding) {
    throw new ApiError("NOT_FOUND", `task '${task.name}' has no active binding`, {
      hint: `Bind a worker and a manager: switchyard bind --task ${task.name} --worker <W> --manager <M>`,
    });
  }
  const [worker] = await ctx.db.select().from(sessions).where(eq(sessions.id, binding.workerSessionId));
  const [manager] = await ctx.db.select().from(sessions).where(eq(sessions.id, binding.managerSessionId));
  return { task, binding, worker: worker!, manager: manager! };
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

/** An active binding the session takes part in, as worker or manager. */
export function involvesSession(sessionId: string): SQL {
  return and(eq(bindings.state, "active"), or(eq(bindings.workerSessionId, sessionId), eq(bindings.managerSessionId, sessionId)))!;
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
