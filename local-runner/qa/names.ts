// The harness names alone, so `switchyard --help` can list them without loading the harnesses
// (which bring the whole app and the PNG codec).

/** Every QA harness `switchyard qa-run` knows, in the order its help lists them. */
export const QA_HARNESS_NAMES = [
  "ralph-loop-guardrails",
  "generic-loop-template",
  "generic-loop-template-browser",
  "test-coverage-loop",
  "adversarial-triggers",
  "build-clear-loop",
] as const;

/** One of QA_HARNESS_NAMES. */
export type QaHarnessName = (typeof QA_HARNESS_NAMES)[number];
