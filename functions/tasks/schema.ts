import { z } from "@hono/zod-openapi";
import { NextCursorField, PageQueryFields } from "../lib/paging.ts";
import { TASK_STATES } from "../../schema/tasks.ts";
import { NameSchema } from "../lib/names.ts";
import { Session } from "../sessions/schema.ts";

export const Task = z
  .object({
    id: z.string(),
    name: z.string(),
    goal: z.string().nullable(),
    summary: z.string().nullable(),
    state: z.enum(TASK_STATES),
    created_at: z.string(),
    updated_at: z.string(),
    finished_at: z.string().nullable(),
  })
  .openapi("Task");

export const CreateTaskBody = z
  .object({
    name: NameSchema,
    goal: z.string().min(1).max(4000).optional(),
    summary: z.string().min(1).max(4000).optional(),
  })
  .strict()
  .openapi("CreateTask");

export const CreateTaskResult = z.object({ task: Task, task_id: z.string(), event_id: z.string() }).openapi("CreateTaskResult");

export const TaskListQuery = z.object({
  state: z
    .enum([...TASK_STATES, "all"])
    .optional()
    .default("all"),
  ...PageQueryFields,
});

export const TaskList = z.object({ tasks: z.array(Task), count: z.number().int(), ...NextCursorField }).openapi("TaskList");

export const TaskNameParam = z.object({ name: NameSchema.openapi({ param: { name: "name", in: "path" } }) });

export const Binding = z
  .object({
    id: z.string(),
    task: z.string(),
    worker: z.string(),
    manager: z.string(),
    state: z.enum(["active", "ended"]),
    created_at: z.string(),
    ended_at: z.string().nullable(),
  })
  .openapi("Binding");

export const TaskDetail = z
  .object({
    task: Task,
    binding: Binding.nullable(),
    worker: Session.nullable(),
    manager: Session.nullable(),
    bindings_history: z.array(Binding).openapi({ description: "The newest bindings, newest first (at most 20)" }),
    bindings_total: z.number().int().openapi({ description: "How many bindings the task ever had" }),
    bindings_history_next_cursor: z
      .string()
      .nullable()
      .openapi({ description: "Pass as cursor to GET /tasks/{name}/bindings for the older bindings; null when the history above is whole" }),
  })
  .openapi("TaskDetail");

export const TaskBindingsQuery = z.object({ ...PageQueryFields });

export const TaskBindingList = z
  .object({ task: z.string(), bindings: z.array(Binding), count: z.number().int(), ...NextCursorField })
  .openapi("TaskBindingList");
