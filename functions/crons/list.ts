import { desc, eq } from "drizzle-orm";
import { cronRuns } from "../../schema/crons.ts";
import { CRONS } from "../../crons/index.ts";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { CronList } from "./schema.ts";

export const listCronsRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/crons",
  tags: ["crons"],
  summary: "List crons with their schedules and last runs",
  description: "CLI: cron list.",
  responses: { 200: jsonResponse(CronList, "Crons") },
});

/** Lists known crons and the most recent run of each. */
export async function listCrons(ctx: Ctx) {
  const out = [];
  for (const [name, cron] of Object.entries(CRONS)) {
    const [last] = await ctx.db.select().from(cronRuns).where(eq(cronRuns.name, name)).orderBy(desc(cronRuns.startedAt)).limit(1);
    out.push({
      name,
      schedule: cron.schedule,
      description: cron.description,
      last_run: last
        ? { run_id: last.id, state: last.state, runner: last.runner, started_at: iso(last.startedAt)!, finished_at: iso(last.finishedAt), error: last.error }
        : null,
    });
  }
  return { crons: out };
}
