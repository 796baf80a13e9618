import type { StepFn, StepId } from "./dag.ts";
import { checkConvoyCompletion, resolveExternalDeps } from "../convoys/complete.ts";
import { evaluateGates } from "../gates/evaluate.ts";
import { healthScan } from "./health.ts";
import { pluginRunStep } from "./plugins.ts";
import { sessionGc } from "./gc.ts";
import { orphanCheck } from "./orphans.ts";
import { inboxCheck } from "./inbox-check.ts";
import { deliverNotifications } from "./notify.ts";
import { triggerPendingSpawns } from "./trigger-spawns.ts";

/** Each step's implementation. */
export const STEPS: Record<StepId, StepFn> = {
  "inbox-check": inboxCheck,
  "trigger-pending-spawns": triggerPendingSpawns,
  "gate-evaluation": async ({ ctx }) => evaluateGates(ctx),
  "check-convoy-completion": async ({ ctx }) => checkConvoyCompletion(ctx),
  "resolve-external-deps": async ({ ctx }) => resolveExternalDeps(ctx),
  "fire-notifications": async ({ ctx }) => ({ ...(await deliverNotifications(ctx)) }),
  "health-scan": healthScan,
  "plugin-run": pluginRunStep,
  "orphan-check": orphanCheck,
  "session-gc": sessionGc,
};
