import { z } from "@hono/zod-openapi";
import { and, asc, count, desc, eq, gt, inArray, isNull, sql } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import { convoys } from "../../schema/convoys.ts";
import { fileClaims, plans, runtimeNotes } from "../../schema/coordination.ts";
import { gates } from "../../schema/gates.ts";
import { inboxItems } from "../../schema/messages.ts";
import { notifications } from "../../schema/patrol.ts";
import { sessions } from "../../schema/sessions.ts";
import { tasks } from "../../schema/tasks.ts";
import { listBlocked } from "../convoys/deps.ts";
import { detailsVisibleTo } from "../sessions/wire.ts";
import { BlockedTask } from "../convoys/schema.ts";
import type { Ctx } from "../lib/ctx.ts";
import { decodeTypedCursor, NextCursorField, PageQueryFields, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { iso, eqLiteral } from "../lib/sql.ts";
import { notesToWire } from "./notes.ts";
import { plansToWire } from "./plans.ts";
import { Note, Plan } from "./schema.ts";

/** The most claims a lane of the board shows (its worker's oldest live ones). */
const LANE_CLAIMS = 20;

const Lane = z
  .object({
    task: z.string(),
    task_id: z.string(),
    goal: z.string().nullable(),
    worker: z.string(),
    worker_state: z.string(),
    worker_cwd: z.string().nullable(),
    worker_host: z.string().nullable(),
    worker_last_heartbeat_at: z.string().nullable(),
    manager: z.string(),
    claims: z
      .array(z.object({ id: z.string(), path: z.string(), exclusive: z.boolean(), expires_at: z.string() }))
      .openapi({ description: `The worker's oldest ${LANE_CLAIMS} live claims; \`claims --session WORKER\` lists them all` }),
    claims_total: z.number().int().openapi({ description: "How many live claims the worker holds" }),
    needs_review: z.boolean().openapi({ description: "The worker finished a turn the manager has not read yet" }),
    needs_handoff: z.boolean().openapi({ description: "The worker's session is gone: the work needs a new worker" }),
  })
  .openapi("BoardLane");

export const Board = z
  .object({
    working: z.array(Lane).openapi({ description: "Who works where: one lane per active binding, by task id" }),
    unassigned: z
      .array(z.object({ task: z.string(), task_id: z.string(), goal: z.string().nullable() }))
      .openapi({ description: "Active tasks with no bound worker, oldest first, the first 50 (counts.unassigned_tasks has them all)" }),
    blocked: z.array(BlockedTask).openapi({ description: "The first 50 blocked tasks by task id; blocked_next_cursor pages on through GET /v1/blocked-tasks" }),
    blocked_next_cursor: z.string().nullable().openapi({ description: "The cursor of GET /v1/blocked-tasks for the blocked tasks after these, or null" }),
    plans: z.array(Plan).openapi({ description: "Active plans" }),
    notes: z.array(Note).openapi({ description: "The latest runtime notes" }),
    counts: z.object({
      live_claims: z.number().int(),
      open_gates: z.number().int(),
      open_convoys: z.number().int(),
      owner_notices_pending: z.number().int(),
      unassigned_tasks: z.number().int().openapi({ description: "Every active task with no active binding, not only those listed" }),
    }),
    ...NextCursorField,
  })
  .openapi("Board");

export const BoardQuery = z.object({ ...PageQueryFields });

export const boardRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/board",
  tags: ["coordination"],
  summary: "The board: who works where (with their claims), what is blocked, what needs review or a handoff, active plans, recent notes",
  description: "`working` pages by task with the cursor; the other sections show their first entries. CLI: board [--limit N] [--cursor C].",
  request: { query: BoardQuery },
  responses: { 200: jsonResponse(Board, "Board") },
});

/** Builds the board in a fixed number of index-served queries whatever the page size. */
export async function board(ctx: Ctx, q: z.output<typeof BoardQuery>) {
  const nowMs = ctx.now().getTime();
  const after = decodeTypedCursor(q.cursor, ["text"], "coordination/board");
  const lanes = await ctx.db
    .select({ binding: bindings, task: tasks })
    .from(bindings)
    .innerJoin(tasks, eq(tasks.id, bindings.taskId))
    .where(and(eqLiteral(bindings.state, "active"), after ? gt(bindings.taskId, after[0]) : undefined))
    .orderBy(asc(bindings.taskId))
    .limit(q.limit + 1);
  const page = pageOf(lanes, q.limit, (r) => [r.binding.taskId], "coordination/board");
  const sIds = [...new Set(page.items.flatMap((l) => [l.binding.workerSessionId, l.binding.managerSessionId]))];
  const people = new Map(sIds.length ? (await ctx.db.select().from(sessions).where(inArray(sessions.id, sIds))).map((s) => [s.id, s]) : []);
  const workerIds = page.items.map((l) => l.binding.workerSessionId);
  // At most LANE_CLAIMS per worker, with each worker's total: any session may claim without
  // limit, and a lane must not grow with it. Each worker's claims are read in order off the
  // live-by-session index (never the ones it released), oldest first.
  const claims = workerIds.length
    ? (
        await ctx.db.all<{ session_id: string; id: string; path: string; exclusive: number; expires_at: number; created_at: number; total: number }>(sql`
        SELECT w.value AS session_id, c.id, c.path, c.exclusive, c.expires_at, c.created_at,
          (SELECT count(*) FROM ${fileClaims} x WHERE x.session_id = w.value AND x.released_at IS NULL AND x.expires_at > ${nowMs}) AS total
        FROM json_each(${JSON.stringify(workerIds)}) w
        JOIN ${fileClaims} c ON c.id IN (SELECT y.id FROM ${fileClaims} y WHERE y.session_id = w.value AND y.released_at IS NULL AND y.expires_at > ${nowMs}
          ORDER BY y.created_at, y.id LIMIT ${LANE_CLAIMS})`)
      ).sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1))
    : [];
  const taskIds = page.items.map((l) => l.task.id);
  const review = new Set(
    taskIds.length
      ? (
          await ctx.db
            .select({ taskId: inboxItems.taskId })
            .from(inboxItems)
            .where(and(inArray(inboxItems.taskId, taskIds), eq(inboxItems.signalType, "worker_task_complete"), isNull(inboxItems.consumedAt)))
        ).map((r) => r.taskId)
      : [],
  );
  // A worker's cwd locates it on its machine: shown only to whom session show shows it.
  const visible = await detailsVisibleTo(ctx);
  const working = page.items.map(({ binding, task }) => {
    const w = people.get(binding.workerSessionId);
    const m = people.get(binding.managerSessionId);
    return {
      task: task.name,
      task_id: task.id,
      goal: task.goal,
      worker: w?.name ?? binding.workerSessionId,
      worker_state: w?.state ?? "unknown",
      worker_cwd: w && visible(w) ? w.cwd : null,
      worker_host: w?.host ?? null,
      worker_last_heartbeat_at: iso(w?.lastHeartbeatAt),
      manager: m?.name ?? binding.managerSessionId,
      claims: claims
        .filter((c) => c.session_id === binding.workerSessionId)
        .map((c) => ({ id: c.id, path: c.path, exclusive: Boolean(c.exclusive), expires_at: iso(c.expires_at)! })),
      claims_total: claims.find((c) => c.session_id === binding.workerSessionId)?.total ?? 0,
      needs_review: review.has(task.id),
      needs_handoff: w?.state !== "active",
    };
  });
  // Oldest first off the (state, created_at, id) index: the tasks that have waited longest.
  const unboundWhere = and(
    eq(tasks.state, "active"),
    sql`NOT EXISTS (SELECT 1 FROM ${bindings} WHERE ${bindings.taskId} = ${tasks.id} AND ${bindings.state} = 'active')`,
  );
  const unassigned = await ctx.db
    .select({ task: tasks.name, task_id: tasks.id, goal: tasks.goal })
    .from(tasks)
    .where(unboundWhere)
    .orderBy(asc(tasks.createdAt), asc(tasks.id))
    .limit(50);
  const blocked = await listBlocked(ctx, { limit: 50 });
  const activePlans = await ctx.db.select().from(plans).where(eq(plans.status, "active")).orderBy(desc(plans.updatedAt), desc(plans.id)).limit(20);
  const notes = await ctx.db.select().from(runtimeNotes).orderBy(desc(runtimeNotes.createdAt), desc(runtimeNotes.id)).limit(10);
  const n = async (q2: Promise<Array<{ n: number }>>) => (await q2)[0]?.n ?? 0;
  return {
    working,
    unassigned,
    blocked: blocked.blocked,
    blocked_next_cursor: blocked.next_cursor,
    plans: await plansToWire(ctx, activePlans),
    notes: await notesToWire(ctx, notes),
    counts: {
      live_claims: await n(
        ctx.db
          .select({ n: count() })
          .from(fileClaims)
          .where(and(isNull(fileClaims.releasedAt), gt(fileClaims.expiresAt, nowMs))),
      ),
      open_gates: await n(ctx.db.select({ n: count() }).from(gates).where(eq(gates.state, "open"))),
      // Bounded by the active tasks (the live work), not by history.
      unassigned_tasks: await n(ctx.db.select({ n: count() }).from(tasks).where(unboundWhere)),
      open_convoys: await n(ctx.db.select({ n: count() }).from(convoys).where(eq(convoys.state, "open"))),
      owner_notices_pending: await n(
        ctx.db
          .select({ n: count() })
          .from(notifications)
          .where(and(eq(notifications.recipient, "owner"), isNull(notifications.ackedAt))),
      ),
    },
    next_cursor: page.next_cursor,
  };
}
