import { desc, eq, inArray } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import { sessions } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { detailsVisibleTo, sessionToWire } from "../sessions/wire.ts";
import { taskByName } from "./lookup.ts";
import { TaskDetail, TaskNameParam } from "./schema.ts";
import { bindingToWire, taskToWire } from "./wire.ts";

export const showTaskRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/tasks/{name}",
  tags: ["tasks"],
  summary: "Show a task with its active binding and binding history",
  description: "CLI: task show NAME.",
  request: { params: TaskNameParam },
  responses: { 200: jsonResponse(TaskDetail, "Task") },
});

/** Shows a task, its active binding (with both sessions) and every earlier binding. */
export async function showTask(ctx: Ctx, name: string) {
  const task = await taskByName(ctx, name);
  const history = await ctx.db.select().from(bindings).where(eq(bindings.taskId, task.id)).orderBy(desc(bindings.createdAt));
  const ids = [...new Set(history.flatMap((b) => [b.workerSessionId, b.managerSessionId]))];
  const rows = ids.length ? await ctx.db.select().from(sessions).where(inArray(sessions.id, ids)) : [];
  const byId = new Map(rows.map((s) => [s.id, s]));
  const wire = (b: (typeof history)[number]) =>
    bindingToWire(b, { task: task.name, worker: byId.get(b.workerSessionId)?.name ?? "?", manager: byId.get(b.managerSessionId)?.name ?? "?" });
  const active = history.find((b) => b.state === "active") ?? null;
  const worker = active ? byId.get(active.workerSessionId) : undefined;
  const manager = active ? byId.get(active.managerSessionId) : undefined;
  const visible = await detailsVisibleTo(ctx);
  return {
    task: taskToWire(task),
    binding: active ? wire(active) : null,
    worker: worker ? sessionToWire(worker, { hideDetails: !visible(worker) }) : null,
    manager: manager ? sessionToWire(manager, { hideDetails: !visible(manager) }) : null,
    bindings_history: history.map(wire),
  };
}
