import type { z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { patrolState } from "../../schema/patrol.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { PatrolConfigBody, PatrolConfigResult } from "./schema.ts";
import { configOf, PATROL_ID, PatrolConfig, patrolRow } from "./state.ts";

export const getPatrolConfigRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/patrol/config",
  tags: ["patrol"],
  summary: "The patrol's thresholds and policies in force, and their defaults",
  description: "CLI: patrol config.",
  responses: { 200: jsonResponse(PatrolConfigResult, "Configuration") },
});

export const setPatrolConfigRoute = defineRoute(
  ["owner"],
  {
    method: "post",
    path: "/patrol/config",
    tags: ["patrol"],
    summary: "Change patrol thresholds or policies (owner only)",
    description: "Only the given keys change. CLI: patrol config --set KEY=VALUE.",
    request: { body: jsonBody(PatrolConfigBody) },
    responses: { 200: jsonResponse(PatrolConfigResult, "Configuration after the change") },
  },
  { idempotency: "atomic" },
);

/** The configuration in force and the defaults. */
export async function getPatrolConfig(ctx: Ctx) {
  return { config: configOf(await patrolRow(ctx)), defaults: PatrolConfig.parse({}) };
}

/** Merges the given keys into the stored configuration, with an audit row. */
export async function setPatrolConfig(ctx: Ctx, input: z.output<typeof PatrolConfigBody>, respond?: number) {
  const row = await patrolRow(ctx);
  const next = PatrolConfig.parse({ ...configOf(row), ...input });
  const audit = auditInsert(ctx, { kind: "patrol_config_changed", payload: { changed: input } });
  const result = { config: next, defaults: PatrolConfig.parse({}) };
  await batchWithKey(
    ctx,
    [ctx.db.update(patrolState).set({ config: next, updatedAt: ctx.now().getTime() }).where(eq(patrolState.id, PATROL_ID)), audit.stmt],
    respond ? { body: result, status: respond } : undefined,
  );
  return result;
}
