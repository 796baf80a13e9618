import { eq } from "drizzle-orm";
import { tasks, type TaskRow } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { notFound } from "../lib/errors.ts";

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
