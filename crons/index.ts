import type { Ctx } from "../functions/lib/ctx.ts";
import { reconcile } from "../functions/admin/reconcile.ts";
import { heartbeatSweep } from "./heartbeat-sweep.ts";

/** A cron tick: one pass of periodic work that returns a JSON report. */
export type Tick = (ctx: Ctx) => Promise<Record<string, unknown>>;

/** Every cron Switchyard knows, with its default schedule (node-cron syntax, seconds optional). */
export const CRONS: Record<string, { schedule: string; description: string; tick: Tick }> = {
  "heartbeat-sweep": {
    schedule: "*/1 * * * *",
    description: "Report sessions whose last heartbeat is older than 10 minutes, and flag (once) sessions on this host whose pid is dead, with their tasks.",
    tick: (ctx) => heartbeatSweep(ctx),
  },
  reconcile: {
    schedule: "*/15 * * * *",
    // Report only: applying fixes is an owner decision (reconcile --apply), never a daemon's.
    description: "Report dead-pid sessions, dangling bindings and tasks whose manager has not cycled for an hour; changes nothing.",
    tick: (ctx) => reconcile(ctx, { apply: false }),
  },
};

export const CRON_NAMES = Object.keys(CRONS);
