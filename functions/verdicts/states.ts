// Kept apart from schema.ts (zod) so the CLI can name the exit codes without loading zod at start-up.

/** The verdicts, strongest evidence first decides; exit codes as dispatch watch uses them. */
export const VERDICT_STATES = ["done", "running", "failed", "worker-process-gone", "unresolved"] as const;
export type VerdictState = (typeof VERDICT_STATES)[number];

/** dispatch watch exit codes: 0 done, 2 timeout, 3 failed, 4 worker-process-gone, 5 unresolved. */
export const VERDICT_EXIT: Record<Exclude<VerdictState, "running">, number> & { timeout: number } = {
  done: 0,
  timeout: 2,
  failed: 3,
  "worker-process-gone": 4,
  unresolved: 5,
};
