import type { HealthStateRow, PatrolRunRow, PatrolStepRow } from "../../schema/patrol.ts";
import { iso } from "../lib/sql.ts";
import type { StepId } from "./dag.ts";

/** The wire form of a patrol run row. */
export function patrolRunToWire(r: PatrolRunRow) {
  return {
    id: r.id,
    trigger: r.trigger,
    actor: r.actor,
    only_step: r.onlyStep,
    apply: r.apply,
    state: r.state,
    steps_succeeded: r.stepsSucceeded,
    steps_failed: r.stepsFailed,
    steps_skipped: r.stepsSkipped,
    error: r.error,
    started_at: iso(r.startedAt)!,
    finished_at: iso(r.finishedAt),
  };
}

/** The wire form of one step result. */
export function stepToWire(s: PatrolStepRow) {
  return {
    step: s.step as StepId,
    ordinal: s.ordinal,
    state: s.state,
    reason: s.reason,
    report: s.report,
    started_at: iso(s.startedAt)!,
    finished_at: iso(s.finishedAt)!,
    duration_ms: s.finishedAt - s.startedAt,
  };
}

/** A run with its steps. */
export function runToWire(r: PatrolRunRow, steps: PatrolStepRow[]) {
  return { run: patrolRunToWire(r), run_id: r.id, steps: steps.map(stepToWire) };
}

/** The wire form of a component's health bookkeeping. */
export function healthToWire(h: HealthStateRow) {
  return {
    component: h.component,
    kind: h.kind,
    label: h.label,
    unresponsive_cycles: h.unresponsiveCycles,
    last_seen_healthy_at: iso(h.lastSeenHealthyAt),
    last_checked_at: iso(h.lastCheckedAt)!,
    last_action: h.lastAction,
    last_action_at: iso(h.lastActionAt),
    escalated_at: iso(h.escalatedAt),
    signals: h.signals,
  };
}
