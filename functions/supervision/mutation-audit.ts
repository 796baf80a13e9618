import { z } from "@hono/zod-openapi";
import { and, eq, getTableColumns, inArray, sql } from "drizzle-orm";
import { events } from "../../schema/events.ts";
import { redactContent } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { decodeTypedCursor, NextCursorField, PageQueryFields, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { QueryBool } from "../lib/names.ts";
import { iso } from "../lib/sql.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { supervisedTask } from "./access.ts";

/**
 * The audit kinds that make up a task's supervision chain: what the manager decided and changed,
 * and what followed (nudges, compaction, finish). Observation-only rows (inbox consumption,
 * cycles) are left out; `audit` shows everything.
 */
export const MUTATION_KINDS = [
  "manager_config_recorded",
  "manager_permission_checked",
  "criterion_added",
  "criterion_accepted",
  "criterion_deferred",
  "criterion_rejected",
  "criterion_satisfied",
  "handoff_recorded",
  "ack_recorded",
  "decision_recorded",
  "worker_compact_requested",
  "worker_compact_sent",
  "worker_compact_failed",
  "worker_compact_refused",
  "session_nudged",
  "session_interrupted",
  "session_stopped",
  "dispatch_policy_refused",
  "finish_refused",
  "transcript_captured",
  "transcript_capture_failed",
  "task_finished",
  "task_stopped",
  "epilogue_run_recorded",
  "continuation_submitted",
  "continuation_reviewed",
  "loop_run_created",
  "loop_evidence_recorded",
  "loop_iteration_requested",
  "loop_iteration_delivered",
] as const;

export const MutationAuditQuery = z.object({ include_content: QueryBool, ...PageQueryFields });

const Entry = z.object({
  id: z.string(),
  kind: z.string(),
  actor: z.string(),
  session_id: z.string().nullable(),
  decision_id: z.number().int().nullable().openapi({ description: "The manager decision this row acted on, when it cites one" }),
  payload: z.record(z.string(), z.unknown()),
  created_at: z.string(),
});

export const MutationAudit = z
  .object({ task: z.string(), task_id: z.string(), entries: z.array(Entry), content_redacted: z.boolean(), ...NextCursorField })
  .openapi("MutationAudit");

export const mutationAuditRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/tasks/{name}/mutation-audit",
  tags: ["supervision"],
  summary: "A task's supervision chain: manager decisions, ledger and config changes, and their consequences, oldest first",
  description: "Paged by cursor; content fields redacted unless include_content. CLI: mutation-audit TASK.",
  request: { params: TaskNameParam, query: MutationAuditQuery },
  responses: { 200: jsonResponse(MutationAudit, "Chain") },
});

/**
 * Pages the supervision chain of a task, oldest first. rowid breaks created_at ties: it is the
 * implicit last column of the (task_id, created_at) index, so the order is read off the index.
 */
export async function mutationAudit(ctx: Ctx, name: string, q: z.output<typeof MutationAuditQuery>) {
  const st = await supervisedTask(ctx, name, ["worker", "manager"]);
  const after = decodeTypedCursor(q.cursor, ["int", "int"], "supervision/mutation-audit");
  const rows = await ctx.db
    .select({ ...getTableColumns(events), rowid: sql<number>`${events}.rowid` })
    .from(events)
    .where(
      and(
        eq(events.taskId, st.task.id),
        inArray(events.kind, [...MUTATION_KINDS]),
        after ? sql`(${events.createdAt}, ${events}.rowid) > (${after[0]}, ${after[1]})` : undefined,
      ),
    )
    .orderBy(events.createdAt, sql`${events}.rowid`)
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.createdAt, r.rowid], "supervision/mutation-audit");
  return {
    task: st.task.name,
    task_id: st.task.id,
    entries: page.items.map((e) => ({
      id: e.id,
      kind: e.kind,
      actor: e.actor,
      session_id: e.sessionId,
      decision_id: typeof e.payload.decision_id === "number" ? e.payload.decision_id : null,
      payload: (q.include_content ? e.payload : redactContent(e.payload)) as Record<string, unknown>,
      created_at: iso(e.createdAt)!,
    })),
    content_redacted: !q.include_content,
    next_cursor: page.next_cursor,
  };
}
