import { z } from "@hono/zod-openapi";
import { notFound } from "../lib/errors.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";

/** One repeatable manual QA checklist. */
interface QaPlan {
  name: string;
  goal: string;
  steps: string[];
  pass_bar: string[];
  harness: string | null;
}

/** The manual QA checklists; each names the deterministic harness that covers its mechanics, if any. */
export const QA_PLANS: Record<string, QaPlan> = {
  "emergent-criteria": {
    name: "emergent-criteria",
    goal: "A real worker/manager pair discovers, records and proves acceptance criteria, and the audited finish holds.",
    steps: [
      "switchyard pair --task T --task-goal G --worker-name W --manager-name M --manager-objective O --cwd DIR --accept-trust",
      "switchyard cycle T --json: manager_context.criteria_negotiation.needed is true with reason no_criteria",
      "Ask the worker for must-have criteria and follow-ups; optionally draft commands with switchyard criteria-plan T --from-worker-response FILE",
      "Record them: switchyard criteria T --add ... --source worker_proposed; accept must-haves, defer follow-ups",
      "switchyard finish-task T --require-criteria-audit must be refused, naming each open criterion",
      "Satisfy each accepted criterion with evidence (--evidence-json), then finish with --require-criteria-audit --capture-transcript-before-stop --stop-manager --stop-worker",
      "switchyard mutation-audit T shows config, criteria, decisions and the finish in order",
    ],
    pass_bar: ["the premature finish was refused", "every satisfied criterion has evidence", "no active session or binding is left for T"],
    harness: null,
  },
  "ralph-loop": {
    name: "ralph-loop",
    goal: "A loop run blocks passes beyond max_iterations and passes without required evidence, and delivers a pass once evidence exists.",
    steps: [
      "switchyard create-disposable-binding T --template adversarial_ralph_loop --json",
      "switchyard enqueue-continue-iteration T --loop-run RUN --requested-iteration 2; switchyard dispatch --once: refused, missing adversarial_check",
      "switchyard loop-evidence adversarial-check T --loop-run RUN --iteration 1 --failure-mode F --check C --result R",
      "Queue iteration 2 again and dispatch: the worker inbox holds a continue_iteration item with loop_policy",
      "switchyard loop-status T --run RUN --json: refusals, delivery, consumed telemetry and a recommendation",
    ],
    pass_bar: [
      "the refusal is a policy receipt naming the missing evidence",
      "the delivered item carries loop_policy",
      "iteration max_iterations+1 is refused",
    ],
    harness: "ralph-loop-guardrails",
  },
  "adversarial-triggers": {
    name: "adversarial-triggers",
    goal: "Only controlled phrases arm loop and finish gates from natural language.",
    steps: [
      'switchyard loop-triggers --classify "Run this as an adversarially gated Ralph loop." --json: matched',
      'switchyard loop-triggers --classify "Be careful and run tests." --json: nothing armed',
      'switchyard loop-triggers --classify "Require adversarial proof before finishing." --json: adversarial_proof_at_finish',
    ],
    pass_bar: ["generic caution arms nothing", "each approved phrase arms exactly its gates"],
    harness: "adversarial-triggers",
  },
  "loop-templates": {
    name: "loop-templates",
    goal: "Template-backed runs use the same guardrails for every loop shape.",
    steps: [
      "switchyard loop-templates --list",
      "switchyard loop-templates --create-run T --template visual_diff_loop",
      "switchyard loop-evidence visual-diff T --loop-run RUN --iteration 1 --reference REF.png --candidate CAND.png --threshold 0.02 --report-output report.json",
      "switchyard loop-status T --run RUN",
    ],
    pass_bar: ["a pass is refused until every required receipt exists", "diff_below_threshold is recorded only within the threshold"],
    harness: "generic-loop-template",
  },
  "dispatch-completion": {
    name: "dispatch-completion",
    goal: "A worker's completion reaches its bound manager once, by push or by polling.",
    steps: [
      "Pair a worker and a manager; run switchyard dispatch --watch --dispatcher-id qa-dispatch",
      "Let the worker finish a turn; the manager inbox gets one worker_task_complete item with the worker receipt",
      "switchyard manager-inbox T --consume-next --json; the next cycle lists it under consumed_dispatch_notifications",
    ],
    pass_bar: ["one item per completed turn", "consumed_by names the manager session"],
    harness: null,
  },
};

const QaPlanWire = z
  .object({ name: z.string(), goal: z.string(), steps: z.array(z.string()), pass_bar: z.array(z.string()), harness: z.string().nullable() })
  .openapi("QaPlan");

export const listQaPlansRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/qa-plans",
  tags: ["loops"],
  summary: "The manual QA checklists",
  description: "CLI: qa-plan --list.",
  responses: { 200: jsonResponse(z.object({ plans: z.array(QaPlanWire) }).openapi("QaPlanList"), "Plans") },
});

export const QaPlanParam = z.object({
  plan: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: "plan", in: "path" } }),
});

export const showQaPlanRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/qa-plans/{plan}",
  tags: ["loops"],
  summary: "One manual QA checklist",
  description: "CLI: qa-plan NAME.",
  request: { params: QaPlanParam },
  responses: { 200: jsonResponse(QaPlanWire, "Plan") },
});

/** The plan with this name, or NOT_FOUND listing the others. */
export function qaPlan(name: string): QaPlan {
  const p = QA_PLANS[name];
  if (!p) throw notFound("QA plan", name, `Plans: ${Object.keys(QA_PLANS).join(", ")}.`);
  return p;
}
