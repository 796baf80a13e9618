import { z } from "@hono/zod-openapi";
import { notFound } from "../lib/errors.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";

/** What a piece of evidence must carry beyond its type, by evidence type. */
export interface ArtifactRequirement {
  required_fields: string[];
  description: string;
}

/** A loop template: the guardrails a run copies. */
export interface LoopTemplate {
  name: string;
  description: string;
  max_iterations: number;
  required_before_continue: string[];
  artifact_requirements: Record<string, ArtifactRequirement>;
  cleanup_policy: string;
  recommended_tools: string[];
}

/** Structured adversarial proof: how the iteration was attacked and what happened. */
export const ADVERSARIAL_REQUIREMENT: ArtifactRequirement = {
  required_fields: ["failure_mode", "check", "result"],
  description: "The strongest realistic failure mode, the command or inspection that tried it, and what happened.",
};

/** The built-in templates. Quality loops also require adversarial proof before another pass. */
export const LOOP_TEMPLATES: Record<string, LoopTemplate> = {
  visual_diff_loop: {
    name: "visual_diff_loop",
    description: "Iterate on a page until its screenshot matches a reference within a threshold.",
    max_iterations: 5,
    required_before_continue: ["reference_artifact", "candidate_screenshot", "visual_diff_report", "diff_below_threshold", "adversarial_check"],
    artifact_requirements: {
      reference_artifact: { required_fields: ["path"], description: "The reference image the candidate is compared with." },
      candidate_screenshot: { required_fields: ["path"], description: "A screenshot of the candidate rendering." },
      visual_diff_report: { required_fields: ["score", "threshold"], description: "The computed difference (share of differing pixels) and threshold." },
      adversarial_check: ADVERSARIAL_REQUIREMENT,
    },
    cleanup_policy: "keep_artifacts",
    recommended_tools: ["switchyard loop-evidence visual-diff", "headless chromium screenshot"],
  },
  test_coverage_loop: {
    name: "test_coverage_loop",
    description: "Raise test coverage pass by pass, each pass backed by a coverage receipt.",
    max_iterations: 4,
    required_before_continue: ["coverage_report", "adversarial_check"],
    artifact_requirements: {
      coverage_report: { required_fields: ["coverage_percent", "command"], description: "The coverage command and the percentage it reported." },
      adversarial_check: ADVERSARIAL_REQUIREMENT,
    },
    cleanup_policy: "keep_artifacts",
    recommended_tools: ["the project's coverage command", "switchyard loop-evidence add"],
  },
  pr_ci_merge_loop: {
    name: "pr_ci_merge_loop",
    description: "One pull request per pass: open it, get CI green, merge, then start the next pass fresh.",
    max_iterations: 3,
    required_before_continue: ["pr_url", "ci_green", "merge", "adversarial_check"],
    artifact_requirements: {
      pr_url: { required_fields: ["url"], description: "The pull request of this pass." },
      ci_green: { required_fields: ["run"], description: "The CI run that passed." },
      merge: { required_fields: ["commit"], description: "The merge commit." },
      adversarial_check: ADVERSARIAL_REQUIREMENT,
    },
    cleanup_policy: "clear_worker_context",
    recommended_tools: ["gh pr create", "gh pr checks", "gh pr merge"],
  },
  build_then_clear: {
    name: "build_then_clear",
    description: "Build, then clean up the worker's context before the next pass.",
    max_iterations: 3,
    required_before_continue: ["build_passed", "cleanup"],
    artifact_requirements: {
      build_passed: { required_fields: ["command"], description: "The build command that passed." },
      cleanup: { required_fields: ["action"], description: "What was cleaned up (e.g. worker context cleared)." },
    },
    cleanup_policy: "clear_worker_context",
    recommended_tools: ["the project's build command", "switchyard compact-worker --clear"],
  },
  adversarial_ralph_loop: {
    name: "adversarial_ralph_loop",
    description: "Repeat the same prompt in fresh passes; each pass must be attacked before the next one starts.",
    max_iterations: 3,
    required_before_continue: ["adversarial_check"],
    artifact_requirements: { adversarial_check: ADVERSARIAL_REQUIREMENT },
    cleanup_policy: "fresh_worker_context",
    recommended_tools: ["switchyard loop-evidence adversarial-check"],
  },
};

/** The template with this name, or NOT_FOUND listing the others. */
export function templateByName(name: string): LoopTemplate {
  const t = LOOP_TEMPLATES[name];
  if (!t) throw notFound("loop template", name, `Templates: ${Object.keys(LOOP_TEMPLATES).join(", ")}.`);
  return t;
}

export const LoopTemplateWire = z
  .object({
    name: z.string(),
    description: z.string(),
    max_iterations: z.number().int(),
    required_before_continue: z.array(z.string()),
    artifact_requirements: z.record(z.string(), z.object({ required_fields: z.array(z.string()), description: z.string() })),
    cleanup_policy: z.string(),
    recommended_tools: z.array(z.string()),
  })
  .openapi("LoopTemplate");

export const listTemplatesRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/loop-templates",
  tags: ["loops"],
  summary: "The built-in loop templates and the evidence each requires",
  description: "CLI: loop-templates --list (alias: ralph-loop-presets --list).",
  responses: { 200: jsonResponse(z.object({ templates: z.array(LoopTemplateWire) }).openapi("LoopTemplateList"), "Templates") },
});

export const TemplateParam = z.object({
  template: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: "template", in: "path" } }),
});

export const showTemplateRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/loop-templates/{template}",
  tags: ["loops"],
  summary: "One loop template",
  description: "CLI: loop-templates --show TEMPLATE.",
  request: { params: TemplateParam },
  responses: { 200: jsonResponse(LoopTemplateWire, "Template") },
});
