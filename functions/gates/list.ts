import type { z } from "@hono/zod-openapi";
import { and, desc, eq } from "drizzle-orm";
import { gates } from "../../schema/gates.ts";
import type { Ctx } from "../lib/ctx.ts";
import { notFound } from "../lib/errors.ts";
import { decodeCursor, keysetAfter, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { Gate, GateIdParam, GateList, GateListQuery } from "./schema.ts";
import { gateToWire, waiterNames } from "./wire.ts";

export const listGatesRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/gates",
  tags: ["gates"],
  summary: "List gates, newest first (open by default)",
  description: "CLI: gate list [--state open|closed|all] [--json] [--limit N] [--cursor C].",
  request: { query: GateListQuery },
  responses: { 200: jsonResponse(GateList, "Gates") },
});

export const showGateRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/gates/{id}",
  tags: ["gates"],
  summary: "Show one gate",
  description: "CLI: gate show ID.",
  request: { params: GateIdParam },
  responses: { 200: jsonResponse(Gate, "Gate") },
});

/** Lists gates newest first, a page at a time. */
export async function listGates(ctx: Ctx, q: z.output<typeof GateListQuery>) {
  const after = decodeCursor(q.cursor, 2, "gates/list");
  const rows = await ctx.db
    .select()
    .from(gates)
    .where(and(q.state === "all" ? undefined : eq(gates.state, q.state), keysetAfter([gates.createdAt, gates.id], after, "desc")))
    .orderBy(desc(gates.createdAt), desc(gates.id))
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.createdAt, r.id], "gates/list");
  const names = await waiterNames(
    ctx,
    page.items.map((g) => g.id),
  );
  return { gates: page.items.map((g) => gateToWire(g, names.get(g.id) ?? [])), count: page.items.length, next_cursor: page.next_cursor };
}

/** One gate by id. */
export async function showGate(ctx: Ctx, id: string) {
  const [g] = await ctx.db.select().from(gates).where(eq(gates.id, id)).limit(1);
  if (!g) throw notFound("gate", id, "List gates with: switchyard gate list --state all");
  return gateToWire(g, (await waiterNames(ctx, [id])).get(id) ?? []);
}
