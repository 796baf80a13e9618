import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Ctx } from "../lib/ctx.ts";
import type { AppEnv } from "../lib/env.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";

const Health = z.object({ ok: z.boolean(), db: z.enum(["ok", "error"]), time: z.string() }).openapi("Health");

export const healthRoute = defineRoute(["anonymous"], {
  method: "get",
  path: "/healthz",
  tags: ["health"],
  summary: "Liveness and database reachability",
  responses: { 200: jsonResponse(Health, "Healthy"), 503: jsonResponse(Health, "Database unreachable") },
});

/** Checks that the database answers a trivial query. */
export async function health(ctx: Ctx) {
  try {
    await ctx.database.client.execute("SELECT 1");
    return { ok: true, db: "ok" as const, time: ctx.now().toISOString() };
  } catch {
    return { ok: false, db: "error" as const, time: ctx.now().toISOString() };
  }
}

/** Health: public liveness probe. */
export const healthApp = new OpenAPIHono<AppEnv>().openapi(healthRoute, async (c) => {
  const h = await health(c.get("ctx"));
  return c.json(h, h.ok ? 200 : 503);
});
