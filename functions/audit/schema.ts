import { z } from "@hono/zod-openapi";
import { QueryBool, QueryLimit } from "../lib/names.ts";

export const AuditQuery = z.object({
  include_content: QueryBool.openapi({ description: "Show message, prompt and pane content instead of redacting it" }),
  limit: QueryLimit(10000, 1000),
});

export const AuditEvent = z
  .object({
    id: z.string(),
    kind: z.string(),
    task_id: z.string().nullable(),
    session_id: z.string().nullable(),
    actor: z.string(),
    payload: z.record(z.string(), z.unknown()),
    created_at: z.string(),
  })
  .openapi("AuditEvent");

export const AuditResult = z
  .object({ task: z.string(), task_id: z.string(), events: z.array(AuditEvent), count: z.number().int(), content_redacted: z.boolean() })
  .openapi("AuditResult");
