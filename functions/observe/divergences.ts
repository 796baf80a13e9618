import type { z } from "@hono/zod-openapi";
import { and, desc, eq, isNotNull, lt, or } from "drizzle-orm";
import { managerCycles } from "../../schema/observe.ts";
import type { Ctx } from "../lib/ctx.ts";
import { decodeTypedCursor, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { assertBoundSessionOrPrivileged, boundTask } from "../bindings/lookup.ts";
import { taskByName } from "../tasks/lookup.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { DivergencesQuery, DivergencesResult } from "./schema.ts";

export const divergencesRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/tasks/{name}/divergences",
  tags: ["observe"],
  summary: "Cycles whose pane signal flagged a notable pattern, or whose hooks disagreed with transcript and pane, newest first",
  description: "For auditing the pane shadow signal against the event-stream state. CLI: divergences TASK.",
  request: { params: TaskNameParam, query: DivergencesQuery },
  responses: { 200: jsonResponse(DivergencesResult, "Divergences") },
});

/** Lists the cycles of a task where the pane classifier flagged something. */
export async function divergences(ctx: Ctx, name: string, q: z.output<typeof DivergencesQuery>) {
  const task = await taskByName(ctx, name);
  // Evidence is captured pane text: a session sees it only for a task it manages.
  if (ctx.auth.kind === "session") assertBoundSessionOrPrivileged(ctx, await boundTask(ctx, name), ["manager"]);
  const before = decodeTypedCursor(q.cursor, ["int"], "observe/divergences");
  const page = pageOf(
    await ctx.db
      .select()
      .from(managerCycles)
      .where(
        and(
          eq(managerCycles.taskId, task.id),
          or(isNotNull(managerCycles.notablePattern), isNotNull(managerCycles.divergence)),
          before ? lt(managerCycles.id, before[0]) : undefined,
        ),
      )
      .orderBy(desc(managerCycles.id))
      .limit(q.limit + 1),
    q.limit,
    (r) => [r.id],
    "observe/divergences",
  );
  const rows = page.items;
  return {
    task: task.name,
    divergences: rows.map((r) => {
      const status = (r.status ?? {}) as { staleness_seconds?: number | null; pane_signal?: { classifier?: { evidence?: string | null } | null } };
      return {
        cycle_id: r.id,
        observed_at: iso(r.createdAt)!,
        worker_state: r.workerState,
        notable_pane_pattern: r.notablePattern,
        hook_divergence: r.divergence,
        evidence: status.pane_signal?.classifier?.evidence ?? null,
        staleness_seconds: status.staleness_seconds ?? null,
      };
    }),
    count: rows.length,
    next_cursor: page.next_cursor,
  };
}
