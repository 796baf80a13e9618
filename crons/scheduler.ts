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
 * The claim and the tick run inside the task callback, so `stop()` can wait for both: a
 * shutdown that closed the database mid-tick would leave a claimed slot half-recorded.
 */
export function startScheduler(makeCtx: () => Ctx, opts: { owner: string; schedules?: Schedule[]; timezone?: string }): Scheduler {
  const schedules = opts.schedules ?? Object.entries(CRONS).map(([name, c]) => ({ name, expression: c.schedule }));
  const ran: string[] = [];
  const tasks: ScheduledTask[] = [];
  const inFlight = new Set<Promise<void>>();
  let stopping = false;

  /** Claims the slot and, if this process won it, runs the tick. */
  async function runSlot(name: string, slotKey: string): Promise<void> {
    let won: boolean;
    try {
      won = await claimCronSlot(makeCtx(), slotKey, opts.owner);
    } catch (e) {
      makeCtx().log.error("cron slot claim failed", { key: slotKey, error: (e as Error).message });
      return;
    }
    if (!won) return;
    await runCron(makeCtx(), name, { runner: opts.owner, slotKey });
    ran.push(slotKey);
  }

  for (const s of schedules) {
    if (!CRONS[s.name]) throw new Error(`unknown cron '${s.name}'`);
    if (!cron.validate(s.expression)) throw new Error(`invalid schedule '${s.expression}' for cron '${s.name}'`);
    const task = cron.schedule(
      s.expression,
      async (context) => {
        if (stopping) return;
        // The slot is the scheduled second, not the moment this process woke up, so every
        // process computes the same key for the same slot.
        const run = runSlot(s.name, `${s.name}:${context.date.toISOString()}`);
        inFlight.add(run);
        try {
          await run;
        } finally {
          inFlight.delete(run);
        }
      },
      { name: s.name, noOverlap: true, timezone: opts.timezone },
    );
    tasks.push(task);
  }
  return {
    ran,
    async stop() {
      stopping = true;
      for (const t of tasks) await t.destroy();
      await Promise.allSettled([...inFlight]);
    },
  };
}
