import { z } from "@hono/zod-openapi";
import { NameSchema } from "../lib/names.ts";
import { VERDICT_STATES } from "./states.ts";

export { VERDICT_EXIT, VERDICT_STATES, type VerdictState } from "./states.ts";

/** The file a worker writes at the root of its worktree to say it finished (or failed). */
export const RESULT_FILE = ".switchyard-result.json";

export const TargetParam = z.object({
  target: NameSchema.openapi({ param: { name: "target", in: "path" }, description: "A task name or a worker session name" }),
});

export const VerdictQuery = z.object({
  base: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[A-Za-z0-9._/@^~-]+$/, "a git ref")
    .optional()
    .default("main")
    .openapi({ description: "The ref the worker branched from (default main)" }),
});

export const Verdict = z
  .object({
    target: z.string(),
    state: z.enum(VERDICT_STATES),
    exit_code: z.number().int().nullable().openapi({ description: "dispatch watch's exit code for this state (null while running)" }),
    decided_by: z.enum(["result_file", "git", "process", "activity", "administrative", "none"]),
    next_action: z.string(),
    reasons: z.array(z.string()).openapi({ description: "The evidence read, strongest first" }),
    resolved: z
      .object({
        task: z.string().nullable(),
        binding_id: z.string().nullable(),
        worker: z.string(),
        session_id: z.string(),
        cwd: z.string().nullable(),
        host: z.string().nullable(),
        pid: z.number().int().nullable(),
      })
      .nullable(),
    evidence: z.object({
      result_file: z.record(z.string(), z.unknown()).nullable(),
      git: z.record(z.string(), z.unknown()).nullable(),
      process: z.record(z.string(), z.unknown()).nullable(),
      activity: z.record(z.string(), z.unknown()).nullable(),
      administrative: z.record(z.string(), z.unknown()),
    }),
  })
  .openapi("DispatchVerdict");

export const HarvestBody = z
  .object({
    orphaned: z.literal(true).openapi({ description: "Required: harvest only a worker whose process is gone" }),
    base: VerdictQuery.shape.base,
  })
  .strict()
  .openapi("Harvest");

export const HarvestResult = z
  .object({
    target: z.string(),
    worker: z.string(),
    cwd: z.string(),
    branch: z.string().nullable(),
    committed: z.boolean(),
    sha: z.string().nullable(),
    files: z.array(z.string()),
    claims_released: z.array(z.string()),
    event_id: z.string(),
  })
  .openapi("HarvestResult");
