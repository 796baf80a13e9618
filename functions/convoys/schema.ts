import { z } from "@hono/zod-openapi";
import { CONVOY_STATES } from "../../schema/convoys.ts";
import { NameSchema } from "../lib/names.ts";
import { NextCursorField, PageQueryFields } from "../lib/paging.ts";
import { Task } from "../tasks/schema.ts";

export const ConvoyTask = z.object({ task: z.string(), task_id: z.string(), state: z.string() }).openapi("ConvoyTask");

export const Convoy = z
  .object({
    id: z.string(),
    title: z.string(),
    state: z.enum(CONVOY_STATES),
    owner: z.string().nullable().openapi({ description: "Session told on completion; null means the owner" }),
    tracked: z.number().int(),
    finished: z.number().int(),
    created_by: z.string(),
    created_at: z.string(),
    closed_at: z.string().nullable(),
    close_reason: z.string().nullable(),
    reopened_at: z.string().nullable(),
  })
  .openapi("Convoy");

export const ConvoyDetail = z
  .object({
    convoy: Convoy,
    tasks: z.array(ConvoyTask).openapi({ description: "The first tracked tasks (at most 20), in task creation order" }),
    tasks_next_cursor: z
      .string()
      .nullable()
      .openapi({ description: "Pass as cursor to GET /convoys/{id}/tasks for the rest; null when tasks above is every tracked task" }),
  })
  .openapi("ConvoyDetail");

export const ConvoyTasksQuery = z.object({ ...PageQueryFields });

export const ConvoyTaskList = z
  .object({ convoy_id: z.string(), tasks: z.array(ConvoyTask), count: z.number().int(), ...NextCursorField })
  .openapi("ConvoyTaskList");

export const CreateConvoyBody = z
  .object({
    title: z.string().min(1).max(500),
    tracks: z.array(NameSchema).min(1).max(1000).openapi({ description: "Task names to track (at least one: a convoy is never empty)" }),
    owner: NameSchema.optional().openapi({ description: "Session to tell when it completes (default: the owner; a session creating it: itself)" }),
  })
  .strict()
  .openapi("CreateConvoy");

export const CreateConvoyResult = z.object({ convoy: Convoy, convoy_id: z.string(), event_id: z.string() }).openapi("CreateConvoyResult");

export const ConvoyListQuery = z.object({
  status: z
    .enum([...CONVOY_STATES, "all"])
    .optional()
    .default("open"),
  ...PageQueryFields,
});

export const ConvoyList = z.object({ convoys: z.array(Convoy), count: z.number().int(), ...NextCursorField }).openapi("ConvoyList");

export const ConvoyIdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: "id", in: "path" } }),
});

export const DependBody = z
  .object({ on: NameSchema.openapi({ description: "The task this one waits for" }) })
  .strict()
  .openapi("DependOn");

export const DependResult = z.object({ task: z.string(), depends_on: z.string(), resolved: z.boolean(), event_id: z.string() }).openapi("DependResult");

export const BlockedTask = z
  .object({ task: Task, waiting_for: z.array(z.object({ task: z.string(), task_id: z.string(), state: z.string() })) })
  .openapi("BlockedTask");

export const BlockedList = z.object({ blocked: z.array(BlockedTask), count: z.number().int(), ...NextCursorField }).openapi("BlockedList");

export const BlockedQuery = z.object({ ...PageQueryFields });

export const ReopenTaskBody = z
  .object({ reason: z.string().min(1).max(2000).optional() })
  .strict()
  .openapi("ReopenTask");

export const ReopenTaskResult = z
  .object({ task: Task, reopened_convoys: z.array(z.string()), reblocked: z.array(z.string()), event_id: z.string() })
  .openapi("ReopenTaskResult");
