import type { z } from "@hono/zod-openapi";
import { tasks, type TaskRow } from "../../schema/tasks.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { isUniqueViolation } from "../lib/sql.ts";
import { CreateTaskBody, CreateTaskResult } from "./schema.ts";
import { taskToWire } from "./wire.ts";

export const createTaskRoute = defineRoute(
  ["owner"],
  {
    method: "post",
    path: "/tasks",
    tags: ["tasks"],
    summary: "Create a task",
    description: "CLI: tasks --create NAME --goal G --summary S.",
    request: { body: jsonBody(CreateTaskBody) },
    responses: { 201: jsonResponse(CreateTaskResult, "Created") },
  },
  { idempotency: "atomic" },
);

/**
 * Creates a task; names are unique forever so audit history stays unambiguous. `respond` is the
 * route's status when this is its write (the Idempotency-Key is stored with it).
 */
export async function createTask(ctx: Ctx, input: z.infer<typeof CreateTaskBody>, respond?: number) {
  const nowMs = ctx.now().getTime();
  const row: TaskRow = {
    id: ctx.newId("tsk"),
    name: input.name,
    goal: input.goal ?? null,
    summary: input.summary ?? null,
    state: "active",
    createdAt: nowMs,
    updatedAt: nowMs,
    finishedAt: null,
  };
  const audit = auditInsert(ctx, { kind: "task_created", taskId: row.id, payload: { name: row.name, goal: row.goal, summary: row.summary } });
  const result = { task: taskToWire(row), task_id: row.id, event_id: audit.id };
  try {
    await batchWithKey(ctx, [ctx.db.insert(tasks).values(row), audit.stmt], respond ? { body: result, status: respond } : undefined);
  } catch (e) {
    if (isUniqueViolation(e)) {
      throw new ApiError("NAME_TAKEN", `a task named '${input.name}' already exists`, {
        hint: `Show it with: switchyard task show ${input.name}`,
      });
    }
    throw e;
  }
  return result;
}
