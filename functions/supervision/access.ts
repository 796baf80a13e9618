import { and, eq } from "drizzle-orm";
import { bindings, type BindingRow } from "../../schema/bindings.ts";
import type { TaskRow } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { taskByName } from "../tasks/lookup.ts";
import { eqLiteral } from "../lib/sql.ts";

/** Who is acting on a supervised task: the owner or a daemon, or one of its bound sessions. */
export type SupervisionRole = "owner" | "daemon" | "worker" | "manager";

/** A task, its active binding (if any) and the caller's role in it. */
export interface SupervisedTask {
  task: TaskRow;
  binding: BindingRow | null;
  role: SupervisionRole;
  /** The calling session's id, when a session calls. */
  sessionId: string | null;
}

/**
 * Resolves a task for a supervision route and checks the caller: the owner and daemons pass
 * (routes list which of them they admit); a session must be bound to the task in one of
 * `roles` (FORBIDDEN when bound in another role, NOT_FOUND when not bound at all, so a session
 * cannot probe which tasks exist).
 */
export async function supervisedTask(ctx: Ctx, name: string, roles: ReadonlyArray<"worker" | "manager">): Promise<SupervisedTask> {
  const task = await taskByName(ctx, name);
  const [binding] = await ctx.db
    .select()
    .from(bindings)
    .where(and(eq(bindings.taskId, task.id), eqLiteral(bindings.state, "active")))
    .limit(1);
  if (ctx.auth.kind === "owner" || ctx.auth.kind === "daemon") return { task, binding: binding ?? null, role: ctx.auth.kind, sessionId: null };
  if (ctx.auth.kind !== "session") {
    throw new ApiError("FORBIDDEN", "this route needs an owner, daemon or session token", {
      hint: "Call it with the owner token, a daemon token, or the token of a session bound to the task.",
    });
  }
  const me = ctx.auth.sessionId;
  const role = binding?.workerSessionId === me ? "worker" : binding?.managerSessionId === me ? "manager" : null;
  // A session sees only the tasks it is bound to; to any other session a task does not exist.
  if (!role) {
    throw new ApiError("NOT_FOUND", `task '${task.name}' not found among the tasks this session is bound to`, {
      hint: "Use the token of a session bound to the task, or the owner token.",
    });
  }
  if (!roles.includes(role)) {
    throw new ApiError("FORBIDDEN", `this session is not the bound ${roles.join(" or ")} of task '${task.name}'`, {
      hint: "Use the token of a session bound to the task in that role, or the owner token.",
    });
  }
  return { task, binding: binding!, role, sessionId: me };
}
