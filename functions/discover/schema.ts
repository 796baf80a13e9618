import { z } from "@hono/zod-openapi";
import { QueryBool, QueryLimit } from "../lib/names.ts";
import { Session } from "../sessions/schema.ts";
import { Binding, Task } from "../tasks/schema.ts";

export const DiscoverQuery = z.object({
  q: z
    .string()
    .max(200)
    // SQLite's full-text parser ends a quoted phrase at a NUL: refused here, not a 500 there.
    .regex(/^[^\x00-\x08\x0b-\x1f\x7f]*$/, "plain text: no control characters")
    .optional()
    .openapi({ description: "Matched against names, goals, summaries, cwd and event kinds" }),
  limit: QueryLimit(500, 20),
  all: QueryBool.openapi({ description: "Include gone sessions and finished tasks" }),
});

export const Suggestion = z
  .object({
    kind: z.enum(["bind", "register_worker", "register_manager", "create_task"]),
    task: z.string().nullable(),
    message: z.string(),
    command: z.string().nullable(),
  })
  .openapi("Suggestion");

export const TelemetryItem = z
  .object({ id: z.string(), kind: z.string(), task_id: z.string().nullable(), session_id: z.string().nullable(), actor: z.string(), created_at: z.string() })
  .openapi("TelemetryItem");

export const DiscoverResult = z
  .object({
    query: z.string().nullable(),
    tasks: z.array(Task),
    sessions: z.array(Session),
    bindings: z.array(Binding),
    telemetry: z.array(TelemetryItem),
    suggestions: z.array(Suggestion),
  })
  .openapi("DiscoverResult");
