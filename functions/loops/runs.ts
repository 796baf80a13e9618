import { z } from "@hono/zod-openapi";
import { and, desc, eq } from "drizzle-orm";
import { LOOP_RUN_STATES, loopRuns, type LoopRunRow } from "../../schema/loops.ts";
import type { TaskRow } from "../../schema/tasks.ts";
import { auditInsert } from "../lib/audit.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { decodeCursor, keysetAfter, NextCursorField, PageQueryFields, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { supervisedTask } from "../supervision/access.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { loopPolicyOf } from "./policy.ts";
import { ADVERSARIAL_REQUIREMENT, type ArtifactRequirement, templateByName } from "./templates.ts";

export const EvidenceType = z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, "lower-case letters, digits and _ (1-64)");

export const LoopRun = z
  .object({
    id: z.string(),
    task: z.string(),
    template: z.string(),
    state: z.enum(LOOP_RUN_STATES),
    current_iteration: z.number().int(),
    max_iterations: z.number().int(),
    required_before_continue: z.array(z.string()),
    artifact_requirements: z.record(z.string(), z.unknown()),
    cleanup_policy: z.string(),
    recommended_tools: z.array(z.string()),
    created_by: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("LoopRun");

/** The wire form of a run. */
export function runToWire(task: Pick<TaskRow, "name">, r: LoopRunRow): z.infer<typeof LoopRun> {
  return {
    id: r.id,
    task: task.name,
    template: r.template,
    state: r.state,
    current_iteration: r.currentIteration,
    max_iterations: r.maxIterations,
    required_before_continue: r.requiredBeforeContinue,
    artifact_requirements: r.artifactRequirements,
    cleanup_policy: r.cleanupPolicy,
    recommended_tools: r.recommendedTools,
    created_by: r.createdBy,
    created_at: iso(r.createdAt)!,
    updated_at: iso(r.updatedAt)!,
  };
}

export const CreateRunBody = z
  .object({
    template: z.string().min(1).max(100).optional().openapi({ description: "A built-in template; omit with required_before_continue for a custom run" }),
    required_before_continue: z
      .array(EvidenceType)
      .max(20)
      .optional()
      .openapi({ description: "Custom evidence types (instead of, or replacing, the template's)" }),
    adversarial: z.boolean().optional().default(false).openapi({ description: "Also require structured adversarial_check evidence" }),
    max_iterations: z.number().int().min(1).max(100).optional(),
  })
  .strict()
  .openapi("CreateLoopRun");

export const CreateRunResult = z.object({ run: LoopRun, loop_policy: z.record(z.string(), z.unknown()), event_id: z.string() }).openapi("CreateLoopRunResult");

export const createRunRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/tasks/{name}/loop-runs",
    tags: ["loops"],
    summary: "Create a loop policy run for a task from a template (or custom required evidence)",
    description: "The run copies the template's guardrails. The bound manager or the owner. CLI: loop-templates --create-run TASK --template T.",
    request: { params: TaskNameParam, body: jsonBody(CreateRunBody) },
    responses: { 201: jsonResponse(CreateRunResult, "Created") },
  },
  { idempotency: "atomic" },
);

/** Creates a run from a template or a custom evidence list. */
export async function createLoopRun(ctx: Ctx, name: string, input: z.output<typeof CreateRunBody>, respond?: number) {
  const st = await supervisedTask(ctx, name, ["manager"]);
  return insertLoopRun(ctx, st.task, input, respond);
}

/** The insert behind createLoopRun, for callers that already resolved the task. */
export async function insertLoopRun(ctx: Ctx, task: TaskRow, input: z.output<typeof CreateRunBody>, respond?: number) {
  if (!input.template && !input.required_before_continue?.length) {
    throw new ApiError("VALIDATION_FAILED", "name a template or the evidence required before continuing", {
      hint: "switchyard loop-templates --list",
      fields: [{ field: "template", message: "required without required_before_continue" }],
    });
  }
  const t = input.template ? templateByName(input.template) : null;
  const required = [
    ...new Set([...(input.required_before_continue ?? t?.required_before_continue ?? []), ...(input.adversarial ? ["adversarial_check"] : [])]),
  ];
  const artifacts: Record<string, ArtifactRequirement> = { ...(t?.artifact_requirements ?? {}) };
  if (required.includes("adversarial_check")) artifacts.adversarial_check = ADVERSARIAL_REQUIREMENT;
  const nowMs = ctx.now().getTime();
  const row: LoopRunRow = {
    id: ctx.newId("lrun"),
    taskId: task.id,
    template: t?.name ?? "custom",
    maxIterations: input.max_iterations ?? t?.max_iterations ?? 3,
    currentIteration: 1,
    requiredBeforeContinue: required,
    artifactRequirements: artifacts as Record<string, unknown>,
    cleanupPolicy: t?.cleanup_policy ?? "keep_artifacts",
    recommendedTools: t?.recommended_tools ?? [],
    state: "active",
    createdBy: actorOf(ctx.auth),
    createdAt: nowMs,
    updatedAt: nowMs,
  };
  const audit = auditInsert(ctx, {
    kind: "loop_run_created",
    taskId: task.id,
    payload: { loop_run_id: row.id, template: row.template, max_iterations: row.maxIterations, required_before_continue: required },
  });
  const result = { run: runToWire(task, row), loop_policy: loopPolicyOf(row), event_id: audit.id };
  await batchWithKey(ctx, [ctx.db.insert(loopRuns).values(row), audit.stmt], respond ? { body: result, status: respond } : undefined);
  return result;
}

/** A run of a task by id, or NOT_FOUND. */
export async function runOf(ctx: Ctx, task: TaskRow, runId: string): Promise<LoopRunRow> {
  const [r] = await ctx.db
    .select()
    .from(loopRuns)
    .where(and(eq(loopRuns.id, runId), eq(loopRuns.taskId, task.id)))
    .limit(1);
  if (!r) throw new ApiError("NOT_FOUND", `task '${task.name}' has no loop run '${runId}'`, { hint: `List them: switchyard loop-status ${task.name}` });
  return r;
}

export const RunsQuery = z.object(PageQueryFields);
export const RunList = z.object({ task: z.string(), runs: z.array(LoopRun), ...NextCursorField }).openapi("LoopRunList");

export const listRunsRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/tasks/{name}/loop-runs",
  tags: ["loops"],
  summary: "A task's loop runs, newest first",
  description: "CLI: loop-status TASK.",
  request: { params: TaskNameParam, query: RunsQuery },
  responses: { 200: jsonResponse(RunList, "Runs") },
});

/** Pages a task's runs, newest first. */
export async function listLoopRuns(ctx: Ctx, name: string, q: z.output<typeof RunsQuery>) {
  const st = await supervisedTask(ctx, name, ["worker", "manager"]);
  const rows = await ctx.db
    .select()
    .from(loopRuns)
    .where(and(eq(loopRuns.taskId, st.task.id), keysetAfter([loopRuns.createdAt, loopRuns.id], decodeCursor(q.cursor, 2, "loops/runs"), "desc")))
    .orderBy(desc(loopRuns.createdAt), desc(loopRuns.id))
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.createdAt, r.id], "loops/runs");
  return { task: st.task.name, runs: page.items.map((r) => runToWire(st.task, r)), next_cursor: page.next_cursor };
}
