import { z } from "@hono/zod-openapi";
import { EPILOGUE_STEPS, MANAGER_MODES, NUDGE_ON_COMPLETION } from "../../schema/supervision.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { PERMISSION_TAXONOMY } from "./permissions.ts";

/** Bumped only when a question is removed or changes meaning; agents may cache by it. */
export const QUESTIONS_VERSION = 1;

/**
 * The questions a manager asks its user before supervising, in a stable order, each naming the
 * manager-config flag that records the answer. Managers ask them in chat and save the answers
 * with non-interactive flags.
 */
export function managerQuestions() {
  return {
    schema_version: QUESTIONS_VERSION,
    questions: [
      {
        id: "mode",
        prompt: "How closely should the manager supervise?",
        type: "enum",
        options: [...MANAGER_MODES],
        default: "guided",
        flag: "--mode",
        required: true,
      },
      {
        id: "objective",
        prompt: "What is the objective the worker's result is judged against?",
        type: "string",
        default: null,
        flag: "--objective",
        required: true,
      },
      {
        id: "guidelines",
        prompt: "Which rules must the worker follow (style, scope, things to avoid)?",
        type: "string[]",
        default: [],
        flag: "--guideline",
        required: false,
      },
      {
        id: "acceptance",
        prompt: "Which acceptance criteria are known up front? (more will emerge and go into the criteria ledger)",
        type: "string[]",
        default: [],
        flag: "--acceptance",
        required: false,
      },
      { id: "references", prompt: "Which documents, issues or files define the work?", type: "string[]", default: [], flag: "--reference", required: false },
      {
        id: "permissions",
        prompt: "Which actions may the manager allow or take without asking? Answer with CATEGORY.ACTION names.",
        type: "permission[]",
        options: Object.entries(PERMISSION_TAXONOMY).flatMap(([c, actions]) => actions.map((a) => `${c}.${a}`)),
        default: [],
        flag: "--permit",
        required: false,
      },
      {
        id: "tools",
        prompt: "Which verification tools should the worker run (test, lint, build commands)?",
        type: "string[]",
        default: [],
        flag: "--tool",
        required: false,
      },
      {
        id: "epilogues",
        prompt: "Which steps must run after completion, before finish?",
        type: "enum[]",
        options: [...EPILOGUE_STEPS],
        default: [],
        flag: "--epilogue",
        required: false,
      },
      {
        id: "nudge_on_completion",
        prompt: "When the worker completes a turn, what should happen with its proposed next step?",
        type: "enum",
        options: [...NUDGE_ON_COMPLETION],
        default: "ask-operator",
        flag: "--nudge-on-completion",
        required: false,
      },
      {
        id: "require_acks",
        prompt: "Must the worker and the manager acknowledge the contract before finishing?",
        type: "boolean",
        default: false,
        flag: "--require-acks",
        required: false,
      },
    ],
  };
}

export const ManagerQuestions = z
  .object({
    schema_version: z.number().int(),
    questions: z.array(
      z.object({
        id: z.string(),
        prompt: z.string(),
        type: z.string(),
        options: z.array(z.string()).optional(),
        default: z.unknown(),
        flag: z.string(),
        required: z.boolean(),
      }),
    ),
  })
  .openapi("ManagerQuestions");

export const questionsRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/manager-config/questions",
  tags: ["supervision"],
  summary: "The stable question schema a manager asks its user before supervising",
  description: "CLI: manager-config TASK --questions.",
  responses: { 200: jsonResponse(ManagerQuestions, "Questions") },
});
