import { z } from "@hono/zod-openapi";
import { bindTask } from "../bindings/bind.ts";
import { BindResult } from "../bindings/schema.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { NameSchema } from "../lib/names.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { registerSession } from "../sessions/register.ts";
import { RegisterResult } from "../sessions/schema.ts";
import { writeConfig } from "../supervision/config.ts";
import { createTask } from "../tasks/create.ts";
import { taskByName } from "../tasks/lookup.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { EvidenceType, insertLoopRun, LoopRun } from "./runs.ts";
import { templateByName } from "./templates.ts";
import { and, inArray } from "drizzle-orm";
import { sessions } from "../../schema/sessions.ts";
import { eqLiteral } from "../lib/sql.ts";

export const DisposableBody = z
  .object({
    worker: NameSchema.optional().openapi({ description: "Worker session name (default TASK-worker)" }),
    manager: NameSchema.optional().openapi({ description: "Manager session name (default TASK-manager)" }),
    goal: z.string().min(1).max(4000).optional().openapi({ description: "Goal of the task when it is created" }),
    template: z.string().min(1).max(100).optional().openapi({ description: "Create a template-backed loop run" }),
    required_before_continue: z.array(EvidenceType).max(20).optional().openapi({ description: "Create a custom loop run requiring these evidence types" }),
    adversarial: z.boolean().optional().default(false).openapi({ description: "The loop run also requires adversarial_check" }),
  })
  .strict()
  .openapi("DisposableBinding");

export const DisposableResult = z
  .object({
    task: z.string(),
    task_created: z.boolean(),
    worker: RegisterResult,
    manager: RegisterResult,
    binding: BindResult,
    loop_run: LoopRun.nullable(),
    loop_policy: z.record(z.string(), z.unknown()).nullable(),
    worker_handoff: z.string().openapi({ description: "A prompt for the app worker: how to poll its inbox through the loop" }),
    commands: z.record(z.string(), z.string()).openapi({ description: "Ready-to-run commands for the manager" }),
  })
  .openapi("DisposableBindingResult");

export const disposableRoute = defineRoute(["owner"], {
  method: "post",
  path: "/tasks/{name}/disposable-binding",
  tags: ["loops"],
  summary: "Create a no-tmux worker/manager pair bound to a task (app sessions that poll their inboxes), optionally with a loop run",
  description:
    "Creates the task when missing, registers both sessions without tmux (pull_required), records the guided manager config, binds them, and with template or required_before_continue creates a loop run. Prints both tokens once and a worker_handoff prompt. CLI: create-disposable-binding TASK.",
  request: { params: TaskNameParam, body: { ...jsonBody(DisposableBody), required: false } },
  responses: { 201: jsonResponse(DisposableResult, "Created") },
});

/** Sets up a disposable no-tmux pair for a task. */
export async function createDisposableBinding(ctx: Ctx, name: string, input: z.output<typeof DisposableBody>) {
  const workerName = input.worker ?? `${name}-worker`.slice(0, 64);
  const managerName = input.manager ?? `${name}-manager`.slice(0, 64);
  // The pair is made in several writes (task, sessions, config, binding, loop run); everything
  // that would refuse one of the later ones is checked before the first, so a refusal leaves
  // nothing behind. Only a concurrent writer taking a name in between can still fail a later step.
  if (input.template) templateByName(input.template);
  for (const [field, value] of [
    ["worker", workerName],
    ["manager", managerName],
  ] as const) {
    if (!NameSchema.safeParse(value).success) {
      throw new ApiError("VALIDATION_FAILED", `'${value}' is not a valid session name`, {
        hint: `Pass --${field} with 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.`,
        fields: [{ field, message: "not a valid session name" }],
      });
    }
  }
  if (workerName === managerName) {
    throw new ApiError("VALIDATION_FAILED", "the worker and the manager need different names", {
      hint: "Pass --worker and --manager with two names.",
      fields: [{ field: "manager", message: "same as the worker's name" }],
    });
  }
  const taken = await ctx.db
    .select({ name: sessions.name })
    .from(sessions)
    .where(and(inArray(sessions.name, [workerName, managerName]), eqLiteral(sessions.state, "active")));
  if (taken.length) {
    throw new ApiError("NAME_TAKEN", `an active session is already named '${taken[0]!.name}'`, {
      hint: "Choose other names with --worker/--manager, or deregister that session first.",
    });
  }
  let created = false;
  let task;
  try {
    task = await taskByName(ctx, name);
  } catch (e) {
    if (!(e instanceof ApiError && e.code === "NOT_FOUND")) throw e;
    await createTask(ctx, { name, goal: input.goal ?? `Disposable loop task ${name}` });
    task = await taskByName(ctx, name);
    created = true;
  }
  if (task.state !== "active") {
    throw new ApiError("CONFLICT", `task '${name}' is ${task.state}`, { hint: "Use an active task, or a new task name for new work." });
  }
  const worker = await registerSession(ctx, { name: workerName, role: "worker", thread_id: `disposable:${name}:worker`, thread_title: `${name} worker` });
  const manager = await registerSession(ctx, { name: managerName, role: "manager", thread_id: `disposable:${name}:manager`, thread_title: `${name} manager` });
  await writeConfig(ctx, task, {});
  const binding = await bindTask(ctx, { task: name, worker: workerName, manager: managerName });
  const loop = input.template || input.required_before_continue?.length ? await insertLoopRun(ctx, task, input) : null;
  const run = loop?.run.id;
  const worker_handoff = [
    `You are the worker of task '${name}' (session ${workerName}); you receive instructions through your Switchyard inbox, not a terminal.`,
    `Poll it: \`SWITCHYARD_TOKEN=<your token> switchyard worker-inbox ${name} --consume-next --wait --timeout 120 --json\`. Do what each item's instruction says.`,
    run
      ? `This is loop ${run}: after each pass, record its evidence (${loop!.run.required_before_continue.join(", ")}) with \`switchyard loop-evidence add ${name} --loop-run ${run} --iteration N --evidence-type TYPE\`, then keep polling until no item comes or the loop reaches iteration ${loop!.run.max_iterations}.`
      : "Keep polling until no item comes.",
  ].join("\n");
  return {
    task: name,
    task_created: created,
    worker,
    manager,
    binding,
    loop_run: loop?.run ?? null,
    loop_policy: loop?.loop_policy ?? null,
    worker_handoff,
    commands: {
      dispatch: "switchyard dispatch --watch --dispatcher-id dispatch-local",
      manager_inbox: `switchyard manager-inbox ${name} --consume-next --wait --json`,
      worker_inbox: `switchyard worker-inbox ${name} --consume-next --wait --json`,
      ...(run
        ? {
            loop_status: `switchyard loop-status ${name} --run ${run} --json`,
            continue: `switchyard enqueue-continue-iteration ${name} --loop-run ${run} --requested-iteration 2`,
          }
        : {}),
    },
  };
}
