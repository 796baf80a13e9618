import { and, eq, or } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import type { Ctx } from "../lib/ctx.ts";

/** The task a session is actively bound to (as worker or manager), for audit rows. */
export async function activeTaskIdOf(ctx: Ctx, sessionId: string): Promise<string | null> {
  const [b] = await ctx.db
    .select({ taskId: bindings.taskId })
    .from(bindings)
    .where(and(eq(bindings.state, "active"), or(eq(bindings.workerSessionId, sessionId), eq(bindings.managerSessionId, sessionId))))
    .limit(1);
  return b?.taskId ?? null;
}
