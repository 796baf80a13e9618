import { and, eq, or, type SQL } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import { tasks, type TaskRow } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError, notFound } from "../lib/errors.ts";
import { eqLiteral } from "../lib/sql.ts";

/** Finds a task by name or throws NOT_FOUND with a hint to create it. */
export async function taskByName(ctx: Ctx, name: string): Promise<TaskRow> {
  const [row] = await ctx.db.select().from(tasks).where(eq(tasks.name, name)).limit(1);
  if (!row) throw taskNotFound(name);
  return row;
}

/** The NOT_FOUND a missing task gets, with the command that creates it. */
export function taskNotFound(name: string) {
  return notFound("task", name, `Create it: switchyard tasks --create ${name} --goal "..."`);
}

/**
 * Finds a task a write is about to be filed under (a claim, a note, a plan), which puts a row in
 * that task's audit: a session token may do so only for a task it is bound to, as its worker or
 * its manager; the owner for any.
 */
export async function taskForWrite(ctx: Ctx, name: string, what: string): Promise<TaskRow> {
  const task = await taskByName(ctx, name);
  await assertMayFileUnder(ctx, task, what);
  return task;
}

/**
 * taskForWrite's rule for a task already in hand (a plan's or a note's task, by its id). With
 * `orFinishedWith`, also a session whose binding the task's finish ended (it may still close
 * out what it filed there, such as marking its plan done).
 */
export async function assertMayFileUnder(
  ctx: Ctx,
  task: Pick<TaskRow, "id" | "name" | "finishedAt">,
  what: string,
  opts: { orFinishedWith?: boolean } = {},
): Promise<void> {
  const auth = ctx.auth;
  if (auth.kind !== "session") return;
  const finishedWith = opts.orFinishedWith ? endedByTheFinish(task) : undefined;
  const [bound] = await ctx.db
    .select({ id: bindings.id })
    .from(bindings)
    .where(
      and(
        eq(bindings.taskId, task.id),
        finishedWith ? or(eqLiteral(bindings.state, "active"), finishedWith) : eqLiteral(bindings.state, "active"),
        or(eq(bindings.workerSessionId, auth.sessionId), eq(bindings.managerSessionId, auth.sessionId)),
      ),
    )
    .limit(1);
  if (!bound) {
    throw new ApiError("FORBIDDEN", `a session may file ${what} only under a task it is bound to, and it is not bound to '${task.name}'`, {
      hint: "Leave out task, name the task you are bound to, or ask the owner.",
    });
  }
}

/**
 * The binding a task's finish ended (finish-task marks it 'finish' at the task's finishedAt), as
 * a condition on bindings; undefined for a task that is not finished.
 */
export function endedByTheFinish(task: Pick<TaskRow, "finishedAt">): SQL | undefined {
  return task.finishedAt === null ? undefined : and(eqLiteral(bindings.endReason, "finish"), eq(bindings.endedAt, task.finishedAt));
}
