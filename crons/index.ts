import type { Ctx } from "../functions/lib/ctx.ts";
import { heartbeatSweep } from "./heartbeat-sweep.ts";

/** A cron tick: one pass of periodic work that returns a JSON report. */
export type Tick = (ctx: Ctx) => Promise<Record<string, unknown>>;

/** Every cron Switchyard knows, with its default schedule (node-cron syntax, seconds optional). */
export const CRONS: Record<string, { schedule: string; description: string; tick: Tick }> = {
  "heartbeat-sweep": {
    schedule: "*/1 * * * *",
    description: "Report active sessions whose last heartbeat is older than 10 minutes.",
    tick: (ctx) => heartbeatSweep(ctx),
  },
};

export const CRON_NAMES = Object.keys(CRONS);
