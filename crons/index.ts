import type { Ctx } from "../functions/lib/ctx.ts";
import { reconcile } from "../functions/admin/reconcile.ts";
import { DEFAULT_DISPATCHER_ID } from "../functions/app-loop/schema.ts";
import { expireLeases } from "../functions/queue/claim.ts";
import { DISPATCH_PLUGINS } from "../functions/executors.ts";
import { dispatchPass } from "../functions/queue/dispatch-pass.ts";
import { brokerOvernight } from "./broker-overnight.ts";
import { prunePatrolHistory } from "../functions/patrol/prune.ts";
import { heartbeatSweep } from "./heartbeat-sweep.ts";
import { patrolTick, patrolWatchTick } from "./patrol.ts";
import { pruneCronHistory } from "./prune-history.ts";
import { feedTelemetry } from "../functions/telemetry/feed.ts";

/** A cron tick: one pass of periodic work that returns a JSON report. */
export type Tick = (ctx: Ctx) => Promise<Record<string, unknown>>;

/** Every cron Switchyard knows, with its default schedule (node-cron syntax, seconds optional). */
export const CRONS: Record<string, { schedule: string; description: string; tick: Tick }> = {
  "heartbeat-sweep": {
    schedule: "*/1 * * * *",
    description: "Report sessions whose last heartbeat is older than 10 minutes, and flag (once) sessions on this host whose pid is dead, with their tasks.",
    tick: (ctx) => heartbeatSweep(ctx),
  },
  "dispatch-pass": {
    schedule: "*/10 * * * * *",
    // The app loop checks this dispatcher id by default, so a running `up` keeps it healthy.
    description: `One dispatch pass as dispatcher ${DEFAULT_DISPATCHER_ID}: recover expired leases, route completions, run due commands, heartbeat.`,
    tick: async (ctx) => ({ ...(await dispatchPass(ctx, DISPATCH_PLUGINS, { dispatcherId: DEFAULT_DISPATCHER_ID })) }),
  },
  "telemetry-feed": {
    schedule: "*/10 * * * * *",
    // Readers of telemetry catch up by themselves; this keeps the queue short so they rarely
    // have to, and writes many events' rows per commit instead of one per mutation.
    description: "Write the telemetry rows of audit events queued since the last feed, a thousand per transaction.",
    tick: async (ctx) => ({ ...(await feedTelemetry(ctx)) }),
  },
  "lease-expiry": {
    schedule: "*/30 * * * * *",
    // Also done by every dispatch pass; on its own it still recovers claims when dispatch-pass
    // is switched off or only remote runners claim commands.
    description: "Move commands whose claim lease ran out back to pending, or to ambiguous/dead.",
    tick: async (ctx) => {
      const moved = await expireLeases(ctx);
      return { ...moved, recovered: moved.pending.length + moved.ambiguous.length + moved.dead.length };
    },
  },
  reconcile: {
    schedule: "*/15 * * * *",
    // Report only: applying fixes is an owner decision (reconcile --apply), never a daemon's.
    description: "Report dead-pid sessions, dangling bindings and tasks whose manager has not cycled for an hour; changes nothing.",
    tick: (ctx) => reconcile(ctx, { apply: false }),
  },
  "prune-history": {
    schedule: "17 * * * *",
    description: "Delete cron slots, cron runs and idempotency keys older than 7 days.",
    tick: (ctx) => pruneCronHistory(ctx),
  },
  "broker-overnight": {
    schedule: "*/1 * * * *",
    description: "Tick every started broker run under its lease (skips runs a daemon holds); never sends.",
    tick: (ctx) => brokerOvernight(ctx),
  },
  patrol: {
    schedule: "*/1 * * * *",
    description: "One patrol run over the step DAG (inbox, spawns, gates, convoys, dependencies, notifications, health, plugins, orphans, session GC).",
    tick: (ctx) => patrolTick(ctx),
  },
  "patrol-watch": {
    // Offset from the patrol's own minute so the watcher never judges a run that just started.
    schedule: "30 */1 * * * *",
    description: "Second-order watcher: count cycles the patrol's heartbeat is stale, restart it, escalate to the owner.",
    tick: (ctx) => patrolWatchTick(ctx),
  },
  "patrol-prune": {
    schedule: "23 3 * * *",
    description: "Delete patrol runs, their step results and plugin runs older than 7 days.",
    tick: (ctx) => prunePatrolHistory(ctx),
  },
};

export const CRON_NAMES = Object.keys(CRONS);
