import { z } from "@hono/zod-openapi";
import { and, desc, eq } from "drizzle-orm";
import { continuationReviews, EPILOGUE_STATES, EPILOGUE_STEPS, epilogueRuns, type EpilogueRunRow, type EpilogueStep } from "../../schema/supervision.ts";
import type { TaskRow } from "../../schema/tasks.ts";
import { auditInsert } from "../lib/audit.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { supervisedTask } from "./access.ts";
import { configInForce, DEFAULT_MANAGER_CONFIG, type ManagerConfig } from "./config.ts";
import { latestHandoff } from "./handoff.ts";
import { allows } from "./permissions.ts";

export const EpilogueRun = z
  .object({
    id: z.string(),
    task: z.string(),
    step: z.enum(EPILOGUE_STEPS),
    state: z.enum(EPILOGUE_STATES),
    result: z.record(z.string(), z.unknown()),
    error: z.string().nullable(),
    correlation_id: z.string().nullable(),
    created_by: z.string(),
    created_at: z.string(),
  })
  .openapi("EpilogueRun");

function runToWire(task: Pick<TaskRow, "name">, r: EpilogueRunRow): z.infer<typeof EpilogueRun> {
  return {
    id: r.id,
    task: task.name,
    step: r.step,
    state: r.state,
    result: r.result,
    error: r.error,
    correlation_id: r.correlationId,
    created_by: r.createdBy,
    created_at: iso(r.createdAt)!,
  };
}

export const StepParam = TaskNameParam.extend({ step: z.enum(EPILOGUE_STEPS).openapi({ param: { name: "step", in: "path" } }) });

export const EpilogueBody = z
  .object({
    evidence: z
      .record(z.string(), z.unknown())
      .optional()
      .openapi({ description: 'run-tools: {"tools":{"npm test":"pass"}}; draft-pr: {"pr_url":"https://..."}' }),
    correlation_id: z.string().min(1).max(200).optional(),
  })
  .strict()
  .openapi("RunEpilogue");

export const EpilogueRunResult = z.object({ run: EpilogueRun, succeeded: z.boolean(), event_id: z.string() }).openapi("EpilogueRunResult");

export const runEpilogueRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/tasks/{name}/epilogues/{step}",
    tags: ["supervision"],
    summary: "Run one configured epilogue step and record its durable outcome",
    description:
      "record-handoff: a handoff is recorded. run-tools: every configured tool reported pass in evidence.tools. draft-pr: repo.open_pr is granted and evidence.pr_url is given. subagent-review: context.spawn_reviewer is granted and the latest continuation review says proceed. A step not in the config is refused. Failed runs are recorded too. CLI: epilogue TASK --step STEP.",
    request: { params: StepParam, body: { ...jsonBody(EpilogueBody), required: false } },
    responses: { 200: jsonResponse(EpilogueRunResult, "The run (succeeded or failed)") },
  },
  { idempotency: "atomic" },
);

/** Decides a step's outcome from recorded state and the given evidence. */
async function evaluateStep(ctx: Ctx, task: TaskRow, config: ManagerConfig, step: EpilogueStep, evidence: Record<string, unknown>) {
  switch (step) {
    case "record-handoff": {
      const h = await latestHandoff(ctx, task.id);
      return h ? { ok: true, result: { handoff_id: h.id, summary: h.summary } } : { ok: false, result: {}, error: "no handoff is recorded" };
    }
    case "run-tools": {
      const reported = (evidence.tools && typeof evidence.tools === "object" ? evidence.tools : {}) as Record<string, unknown>;
      const expected = config.tools.length ? config.tools : Object.keys(reported);
      if (!expected.length) return { ok: false, result: {}, error: 'no tools configured and none reported (evidence {"tools":{"<tool>":"pass"}})' };
      const tools = Object.fromEntries(expected.map((t) => [t, reported[t] ?? "not run"]));
      const bad = expected.filter((t) => tools[t] !== "pass");
      return bad.length
        ? { ok: false, result: { tools }, error: `not passing: ${bad.map((t) => `${t} (${tools[t]})`).join(", ")}` }
        : { ok: true, result: { tools } };
    }
    case "draft-pr": {
      if (!allows(config.permissions, { category: "repo", action: "open_pr" }))
        return { ok: false, result: {}, error: "manager permission required: repo.open_pr" };
      const url = evidence.pr_url;
      return typeof url === "string" && /^https?:\/\//.test(url)
        ? { ok: true, result: { pr_url: url } }
        : { ok: false, result: {}, error: "evidence.pr_url (an http(s) URL) is required" };
    }
    case "subagent-review": {
      if (!allows(config.permissions, { category: "context", action: "spawn_reviewer" }))
        return { ok: false, result: {}, error: "manager permission required: context.spawn_reviewer" };
      const [review] = await ctx.db
        .select()
        .from(continuationReviews)
        .where(eq(continuationReviews.taskId, task.id))
        .orderBy(desc(continuationReviews.createdAt), desc(continuationReviews.id))
        .limit(1);
      if (!review) return { ok: false, result: {}, error: "no continuation review is recorded" };
      return review.verdict === "proceed"
        ? { ok: true, result: { review_id: review.id, verdict: review.verdict } }
        : { ok: false, result: { review_id: review.id, verdict: review.verdict }, error: `the latest review says ${review.verdict}` };
    }
  }
}

/** Runs a configured epilogue step and records the run (succeeded or failed) with its audit row. */
export async function runEpilogue(ctx: Ctx, name: string, step: EpilogueStep, input: z.infer<typeof EpilogueBody>, respond?: number) {
  const st = await supervisedTask(ctx, name, ["manager"]);
  const config = { ...DEFAULT_MANAGER_CONFIG, ...((await configInForce(ctx, st.task.id)) ?? {}) };
  if (!config.epilogues.includes(step)) {
    throw new ApiError("CONFLICT", `epilogue step '${step}' is not configured for task '${name}'`, {
      hint: `Configured: ${config.epilogues.join(", ") || "none"}. Add it: switchyard manager-config ${name} --epilogue ${step}`,
    });
  }
  const outcome = await evaluateStep(ctx, st.task, config, step, input.evidence ?? {});
  const row: EpilogueRunRow = {
    id: ctx.newId("epi"),
    taskId: st.task.id,
    step,
    state: outcome.ok ? "succeeded" : "failed",
    result: { ...outcome.result, ...(input.evidence ? { evidence: input.evidence } : {}) },
    error: outcome.ok ? null : (outcome.error ?? "failed"),
    correlationId: input.correlation_id ?? null,
    createdBy: actorOf(ctx.auth),
    createdAt: ctx.now().getTime(),
  };
  const audit = auditInsert(ctx, { kind: "epilogue_run_recorded", taskId: st.task.id, payload: { run_id: row.id, step, state: row.state, error: row.error } });
  const result = { run: runToWire(st.task, row), succeeded: outcome.ok, event_id: audit.id };
  await batchWithKey(ctx, [ctx.db.insert(epilogueRuns).values(row), audit.stmt], respond ? { body: result, status: respond } : undefined);
  return result;
}

export const EpilogueStatus = z
  .object({
    task: z.string(),
    steps: z.array(z.object({ step: z.enum(EPILOGUE_STEPS), configured: z.boolean(), latest: EpilogueRun.nullable() })),
    all_succeeded: z.boolean().openapi({ description: "Every configured step's latest run succeeded" }),
  })
  .openapi("EpilogueStatus");

export const epilogueStatusRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/tasks/{name}/epilogues",
  tags: ["supervision"],
  summary: "Configured epilogue steps and the latest run of each",
  description: "CLI: epilogue TASK --list | --status.",
  request: { params: TaskNameParam },
  responses: { 200: jsonResponse(EpilogueStatus, "Steps") },
});

/** Each step (configured ones first) with its latest run. */
export async function epilogueStatus(ctx: Ctx, name: string) {
  const st = await supervisedTask(ctx, name, ["worker", "manager"]);
  const configured = ((await configInForce(ctx, st.task.id)) ?? DEFAULT_MANAGER_CONFIG).epilogues;
  const steps = await Promise.all(
    EPILOGUE_STEPS.map(async (step) => {
      const [last] = await ctx.db
        .select()
        .from(epilogueRuns)
        .where(and(eq(epilogueRuns.taskId, st.task.id), eq(epilogueRuns.step, step)))
        .orderBy(desc(epilogueRuns.createdAt), desc(epilogueRuns.id))
        .limit(1);
      return { step, configured: configured.includes(step), latest: last ? runToWire(st.task, last) : null };
    }),
  );
  steps.sort((a, b) => Number(b.configured) - Number(a.configured));
  return { task: st.task.name, steps, all_succeeded: steps.filter((s) => s.configured).every((s) => s.latest?.state === "succeeded") };
}
