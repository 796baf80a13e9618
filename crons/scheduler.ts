import cron, { type ScheduledTask } from "node-cron";
import type { Ctx } from "../functions/lib/ctx.ts";
import { CRONS } from "./index.ts";
import { claimCronSlot, runCron } from "./run.ts";

/** One scheduled cron: name and node-cron expression (6 fields allow seconds). */
export interface Schedule {
  name: string;
  expression: string;
}

/** Handle on running schedules. */
export interface Scheduler {
  stop(): Promise<void>;
  /** Ticks this process ran, by slot key; useful for tests and logs. */
  ran: string[];
}

/**
 * Schedules the crons with node-cron. Every process on the same database competes for each
 * slot through `cron_slots`, so a slot runs once no matter how many `up` processes there are.
 */
export function startScheduler(makeCtx: () => Ctx, opts: { owner: string; schedules?: Schedule[]; timezone?: string }): Scheduler {
  const schedules = opts.schedules ?? Object.entries(CRONS).map(([name, c]) => ({ name, expression: c.schedule }));
  const ran: string[] = [];
  const tasks: ScheduledTask[] = [];
  for (const s of schedules) {
    if (!CRONS[s.name]) throw new Error(`unknown cron '${s.name}'`);
    if (!cron.validate(s.expression)) throw new Error(`invalid schedule '${s.expression}' for cron '${s.name}'`);
    let slotKey = "";
    const task = cron.schedule(
      s.expression,
      async () => {
        const ctx = makeCtx();
        await runCron(ctx, s.name, { runner: opts.owner, slotKey });
        ran.push(slotKey);
      },
      {
        name: s.name,
        noOverlap: true,
        timezone: opts.timezone,
        distributed: true,
        runCoordinator: {
          shouldRun: async (key) => {
            slotKey = key;
            try {
              return await claimCronSlot(makeCtx(), key, opts.owner);
            } catch (e) {
              makeCtx().log.error("cron slot claim failed", { key, error: (e as Error).message });
              return false;
            }
          },
        },
      },
    );
    tasks.push(task);
  }
  return {
    ran,
    async stop() {
      for (const t of tasks) await t.destroy();
    },
  };
}
