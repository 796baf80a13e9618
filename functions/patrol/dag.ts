import type { Ctx } from "../lib/ctx.ts";
import type { PatrolConfigValues } from "./state.ts";

/** The patrol's steps, in an order that respects `needs` (a topological order of the DAG). */
export const STEP_IDS = [
  "inbox-check",
  "trigger-pending-spawns",
  "gate-evaluation",
  "check-convoy-completion",
  "resolve-external-deps",
  "fire-notifications",
  "health-scan",
  "plugin-run",
  "orphan-check",
  "session-gc",
] as const;
export type StepId = (typeof STEP_IDS)[number];

/** What each step waits for, and what it is for. */
export const STEP_DAG: Record<StepId, { needs: StepId[]; title: string }> = {
  "inbox-check": { needs: [], title: "Answer pings, forward help requests to the owner, act on lifecycle messages" },
  "trigger-pending-spawns": { needs: ["inbox-check"], title: "Nudge spawned agents whose pane shows the ready prompt, once" },
  "gate-evaluation": { needs: ["inbox-check"], title: "Close elapsed timer gates and notify their waiters" },
  "check-convoy-completion": { needs: ["inbox-check"], title: "Close convoys whose tracked tasks are all finished" },
  "resolve-external-deps": { needs: ["check-convoy-completion"], title: "Resolve dependencies on finished tasks and unblock dependents" },
  "fire-notifications": { needs: ["resolve-external-deps"], title: "Deliver owed notifications into inboxes, exactly once" },
  "health-scan": {
    needs: ["trigger-pending-spawns", "gate-evaluation", "fire-notifications"],
    title: "Count unresponsive cycles of dispatchers, runners and bound sessions; restart or escalate",
  },
  "plugin-run": { needs: ["health-scan"], title: "Run plugins whose gate is open" },
  "orphan-check": { needs: ["health-scan"], title: "Find tasks in progress whose worker is dead or gone" },
  "session-gc": { needs: ["orphan-check"], title: "Mark dead-pid sessions gone; kill our tmux sessions whose session is gone" },
};

/** What a step gets: the request context, its run, the configuration and whether to apply fixes. */
export interface StepInput {
  ctx: Ctx;
  runId: string;
  config: PatrolConfigValues;
  /** Owner-requested fixes (orphan policy); a daemon's scheduled run only reports. */
  apply: boolean;
}

/** A step's implementation: returns a JSON report, throws when the step failed. */
export type StepFn = (input: StepInput) => Promise<Record<string, unknown>>;
