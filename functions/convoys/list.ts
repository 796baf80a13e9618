import type { z } from "@hono/zod-openapi";
import { and, asc, desc, eq } from "drizzle-orm";
import { convoys, convoyTasks } from "../../schema/convoys.ts";
import { tasks } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { notFound } from "../lib/errors.ts";
import { decodeCursor, keysetAfter, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { ConvoyDetail, ConvoyIdParam, ConvoyList, ConvoyListQuery } from "./schema.ts";
import { convoyFacts, convoyToWire } from "./wire.ts";

export const listConvoysRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/convoys",
  tags: ["convoys"],
  summary: "List convoys, newest first (open by default)",
  description: "CLI: convoy list [--status open|closed|all] [--limit N] [--cursor C].",
  request: { query: ConvoyListQuery },
  responses: { 200: jsonResponse(ConvoyList, "Convoys") },
});

export const showConvoyRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/convoys/{id}",
  tags: ["convoys"],
  summary: "Show a convoy and the state of each tracked task",
  description: "CLI: convoy show ID.",
  request: { params: ConvoyIdParam },
  responses: { 200: jsonResponse(ConvoyDetail, "Convoy") },
});

/** Lists convoys newest first, a page at a time. */
export async function listConvoys(ctx: Ctx, q: z.output<typeof ConvoyListQuery>) {
  const after = decodeCursor(q.cursor, 2, "convoys/list");
  const rows = await ctx.db
    .select()
    .from(convoys)
    .where(and(q.status === "all" ? undefined : eq(convoys.state, q.status), keysetAfter([convoys.createdAt, convoys.id], after, "desc")))
    .orderBy(desc(convoys.createdAt), desc(convoys.id))
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.createdAt, r.id], "convoys/list");
  const facts = await convoyFacts(ctx, page.items);
  return { convoys: page.items.map((c) => convoyToWire(c, facts)), count: page.items.length, next_cursor: page.next_cursor };
}

/** One convoy with its tracked tasks. */
export async function showConvoy(ctx: Ctx, id: string) {
  const [c] = await ctx.db.select().from(convoys).where(eq(convoys.id, id)).limit(1);
  if (!c) throw notFound("convoy", id, "List convoys with: switchyard convoy list --status all");
  const tracked = await ctx.db
    .select({ task: tasks.name, taskId: tasks.id, state: tasks.state })
    .from(convoyTasks)
    .innerJoin(tasks, eq(tasks.id, convoyTasks.taskId))
    .where(eq(convoyTasks.convoyId, id))
    .orderBy(asc(tasks.name));
  return { convoy: convoyToWire(c, await convoyFacts(ctx, [c])), tasks: tracked.map((t) => ({ task: t.task, task_id: t.taskId, state: t.state })) };
}
