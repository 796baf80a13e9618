import { z } from "@hono/zod-openapi";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";

/** What a matched trigger turns on. */
export interface TriggerArms {
  ralph_loop_policy: boolean;
  adversarial_before_continue: boolean;
  adversarial_proof_at_finish: boolean;
  worker_adversarial_proof: boolean;
}

/**
 * The controlled phrases that may arm loop gates from natural language. Deliberately specific:
 * ordinary caution ("be careful", "run the tests") matches none of them.
 */
/**
 * "ralph loop" and, later on the same line, "adversarial". Each line's rest is looked at once,
 * after its first "ralph loop" (a later one has less line after it):
 * `ralph\s+loop\b.*\badversarial` rescanned it from every "ralph loop", quadratic in a prompt that
 * repeats the phrase.
 */
const RALPH_THEN_ADVERSARIAL = {
  test(text: string): boolean {
    const phrase = /\bralph\s+loop\b/gi;
    let checkedTo = -1;
    for (let m = phrase.exec(text); m; m = phrase.exec(text)) {
      const from = m.index + m[0].length;
      if (from <= checkedTo) continue;
      const eol = text.slice(from).search(/[\r\n\u2028\u2029]/);
      checkedTo = eol < 0 ? text.length : from + eol;
      if (/\badversarial/i.test(text.slice(from, checkedTo))) return true;
    }
    return false;
  },
};

export const LOOP_TRIGGERS: Array<{ id: string; description: string; patterns: Array<{ test(text: string): boolean }>; arms: Partial<TriggerArms> }> = [
  {
    id: "adversarial_ralph_loop",
    description: "An adversarially gated Ralph loop: repeated passes, each attacked before the next.",
    patterns: [/\badversarial(ly)?[- ]gated\s+ralph\s+loop\b/i, /\badversarial\s+ralph\s+loop\b/i, RALPH_THEN_ADVERSARIAL],
    arms: { ralph_loop_policy: true, adversarial_before_continue: true },
  },
  {
    id: "ralph_loop",
    description: "A Ralph loop: the same prompt run again in fresh passes under a policy run.",
    patterns: [/\bralph[- ]loop\b/i],
    arms: { ralph_loop_policy: true },
  },
  {
    id: "adversarial_before_iteration",
    description: "Require adversarial proof before another iteration.",
    patterns: [
      /\b(require|need|demand)s?\s+adversarial\s+(proof|check|evidence)\s+before\s+(another|the\s+next|each|any)\s+(worker\s+)?(iteration|pass|loop)/i,
    ],
    arms: { adversarial_before_continue: true },
  },
  {
    id: "adversarial_before_finish",
    description: "Require adversarial proof before finishing.",
    patterns: [/\b(require|need|demand)s?\s+adversarial\s+(proof|check|evidence)\s+before\s+(finish(ing)?|completion|closing|done|merg(e|ing))/i],
    arms: { adversarial_proof_at_finish: true },
  },
  {
    id: "worker_disproves",
    description: "The worker must try to disprove its own change and record the attempt.",
    patterns: [/\b(worker|you)\s+(must|should|has to|have to)\s+(try to\s+)?disprove\b/i, /\btry to disprove (the|your|this) (change|work|fix)\b/i],
    arms: { worker_adversarial_proof: true },
  },
  {
    id: "manager_adversarial_criteria",
    description: "The manager records adversarial acceptance criteria that need adversarial_check evidence.",
    patterns: [/\badversarial\s+(acceptance\s+)?criteri(a|on)\b/i],
    arms: { adversarial_proof_at_finish: true },
  },
];

const NONE: TriggerArms = { ralph_loop_policy: false, adversarial_before_continue: false, adversarial_proof_at_finish: false, worker_adversarial_proof: false };

/** Classifies a manager or operator prompt against the controlled triggers. */
export function classifyLoopPrompt(prompt: string) {
  const matched = LOOP_TRIGGERS.filter((t) => t.patterns.some((p) => p.test(prompt)));
  const arms = { ...NONE };
  for (const t of matched) Object.assign(arms, t.arms);
  const suggested: string[] = [];
  if (arms.ralph_loop_policy)
    suggested.push(
      `switchyard loop-templates --create-run TASK --template ${arms.adversarial_before_continue ? "adversarial_ralph_loop" : "pr_ci_merge_loop"}`,
    );
  else if (arms.adversarial_before_continue) suggested.push("switchyard loop-templates --create-run TASK --template adversarial_ralph_loop");
  if (arms.adversarial_proof_at_finish) suggested.push("switchyard finish-task TASK --require-adversarial-proof");
  if (arms.worker_adversarial_proof)
    suggested.push("switchyard loop-evidence adversarial-check TASK --loop-run RUN --iteration N --failure-mode F --check C --result R");
  return { prompt, matched: matched.length > 0, triggers: matched.map((t) => t.id), arms, suggested_commands: suggested };
}

export const TriggerList = z
  .object({ triggers: z.array(z.object({ id: z.string(), description: z.string(), arms: z.record(z.string(), z.boolean()) })) })
  .openapi("LoopTriggerList");

export const listTriggersRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/loop-triggers",
  tags: ["loops"],
  summary: "The controlled natural-language loop triggers",
  description: "CLI: loop-triggers --list.",
  responses: { 200: jsonResponse(TriggerList, "Triggers") },
});

export const ClassifyBody = z
  .object({ prompt: z.string().min(1).max(20_000) })
  .strict()
  .openapi("ClassifyLoopPrompt");
export const Classification = z
  .object({
    prompt: z.string(),
    matched: z.boolean(),
    triggers: z.array(z.string()),
    arms: z.object({
      ralph_loop_policy: z.boolean(),
      adversarial_before_continue: z.boolean(),
      adversarial_proof_at_finish: z.boolean(),
      worker_adversarial_proof: z.boolean(),
    }),
    suggested_commands: z.array(z.string()),
  })
  .openapi("LoopPromptClassification");

export const classifyTriggerRoute = defineRoute(
  ["owner", "daemon", "session"],
  {
    method: "post",
    path: "/loop-triggers/classify",
    tags: ["loops"],
    summary: "Classify a prompt: which loop gates, if any, it arms",
    description: "Read-only. Generic caution ('be careful and run tests') arms nothing. CLI: loop-triggers --classify PROMPT.",
    request: { body: jsonBody(ClassifyBody) },
    responses: { 200: jsonResponse(Classification, "Classification") },
  },
  { idempotency: "atomic" },
);

/** The trigger list as served. */
export function listTriggers() {
  return { triggers: LOOP_TRIGGERS.map((t) => ({ id: t.id, description: t.description, arms: { ...NONE, ...t.arms } })) };
}
