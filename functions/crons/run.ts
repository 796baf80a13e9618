import { actorOf, type Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { runCron } from "../../crons/run.ts";
import { CronNameParam, CronRunResult } from "./schema.ts";

export const runCronRoute = defineRoute(
  ["owner", "daemon"],
  {
    method: "post",
    path: "/crons/{name}",
    tags: ["crons"],
    summary: "Run one tick of a cron now",
    description: "For external schedulers (Deno.cron, a platform cron). A failed tick answers 200 with state=failed. CLI: cron run NAME.",
    request: { params: CronNameParam },
    responses: { 200: jsonResponse(CronRunResult, "Tick report") },
  },
  { rateLimited: true, deadline: "own" },
);

/** Runs a cron tick on demand on behalf of the caller. */
export function runCronNow(ctx: Ctx, name: string) {
  return runCron(ctx, name, { runner: actorOf(ctx.auth) });
}
