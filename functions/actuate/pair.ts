import { z } from "@hono/zod-openapi";
import { bindTask } from "../bindings/bind.ts";
import { BindResult } from "../bindings/schema.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { NameSchema } from "../lib/names.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { activeSessionByName } from "../sessions/lookup.ts";
import { createTask } from "../tasks/create.ts";
import { taskByName } from "../tasks/lookup.ts";
import { AGENT_KINDS, assertSignedIn, CODEX_APPROVALS, CODEX_SANDBOXES } from "./agents.ts";
import { SpawnResult, spawnSession } from "./spawn.ts";
import { stopSessionEffect } from "./stop.ts";

export const PairBody = z
  .object({
    task: NameSchema,
    task_goal: z.string().min(1).max(4000).optional(),
    task_summary: z.string().min(1).max(4000).optional(),
    task_prompt: z.string().min(1).max(20_000).optional().openapi({ description: "Initial prompt for the worker" }),
    worker_name: NameSchema,
    manager_name: NameSchema,
    agent: z.enum(AGENT_KINDS).optional().default("codex"),
    manager_agent: z.enum(AGENT_KINDS).optional(),
    cwd: z.string().min(1).max(4096),
    sandbox: z.enum(CODEX_SANDBOXES).optional(),
    ask_for_approval: z.enum(CODEX_APPROVALS).optional(),
    accept_trust: z.boolean().optional().default(false),
    timeout_seconds: z.number().int().min(1).max(900).optional().default(60),
  })
  .strict()
  .openapi("Pair");

export const PairResult = z
  .object({ task: z.string(), task_created: z.boolean(), worker: SpawnResult, manager: SpawnResult, binding: BindResult })
  .openapi("PairResult");

export const pairRoute = defineRoute(["owner"], {
  method: "post",
  path: "/pairs",
  tags: ["actuate"],
  summary: "Spawn a worker and a manager and bind them to a task",
  description:
    "The task is looked up, or created when task_goal is given. If the manager or the bind fails, the sessions started by this call are stopped again and the error says so. CLI: pair.",
  request: { body: jsonBody(PairBody) },
  responses: { 201: jsonResponse(PairResult, "Paired") },
});

/** Spawns worker then manager, binds them, and undoes its own spawns when a later step fails. */
export async function pairSessions(ctx: Ctx, raw: z.input<typeof PairBody>) {
  const input = PairBody.parse(raw);
  // Both agents are checked before anything starts, so a manager CLI that is not signed in
  // refuses the pair up front instead of after the worker is already running.
  const managerAgent = input.manager_agent ?? input.agent;
  for (const agent of new Set([input.agent, managerAgent])) await assertSignedIn(ctx, agent);
  let taskCreated = false;
  try {
    await taskByName(ctx, input.task);
  } catch (e) {
    if (!(e instanceof ApiError && e.code === "NOT_FOUND")) throw e;
    if (!input.task_goal) {
      throw new ApiError("NOT_FOUND", `task '${input.task}' does not exist`, {
        hint: "Pass --task-goal to create it, or create it first: switchyard tasks --create NAME --goal G.",
      });
    }
    await createTask(ctx, { name: input.task, goal: input.task_goal, summary: input.task_summary });
    taskCreated = true;
  }
  const common = {
    cwd: input.cwd,
    sandbox: input.sandbox,
    ask_for_approval: input.ask_for_approval,
    accept_trust: input.accept_trust,
    timeout_seconds: input.timeout_seconds,
  };
  const worker = await spawnSession(
    ctx,
    { ...common, name: input.worker_name, role: "worker", agent: input.agent, prompt: input.task_prompt },
    { signInChecked: true },
  );
  const undo = async (names: string[], cause: unknown): Promise<never> => {
    const cleaned: string[] = [];
    for (const n of names) {
      try {
        await stopSessionEffect(ctx, await activeSessionByName(ctx, n), null, false);
        cleaned.push(n);
      } catch {
        // Reported below through the missing name.
      }
    }
    const err = cause instanceof ApiError ? cause : new ApiError("INTERNAL", "pair failed");
    throw new ApiError(err.code, `pair failed: ${err.message}`, {
      hint: `Stopped again: ${cleaned.join(", ") || "nothing"}${cleaned.length < names.length ? `; still running: ${names.filter((n) => !cleaned.includes(n)).join(", ")}` : ""}. ${err.hint ?? ""}`.trim(),
    });
  };
  let manager;
  try {
    manager = await spawnSession(
      ctx,
      { ...common, name: input.manager_name, role: "manager", agent: managerAgent, task: input.task, worker: input.worker_name },
      { signInChecked: true },
    );
  } catch (e) {
    return undo([input.worker_name], e);
  }
  let binding;
  try {
    binding = await bindTask(ctx, { task: input.task, worker: input.worker_name, manager: input.manager_name });
  } catch (e) {
    return undo([input.worker_name, input.manager_name], e);
  }
  return { task: input.task, task_created: taskCreated, worker, manager, binding };
}
