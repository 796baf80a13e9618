import { z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { dispatchers } from "../../schema/commands.ts";
import { acceptanceCriteria } from "../../schema/supervision.ts";
import { DEFAULT_DISPATCHER_ID } from "../app-loop/schema.ts";
import { iso } from "../lib/sql.ts";
import {
  applyConfigUpdate,
  DEFAULT_MANAGER_CONFIG,
  latestConfigRow,
  ManagerConfigBody,
  ManagerConfigWire,
  type ManagerConfig,
  writeConfig,
} from "../supervision/config.ts";
import { insertCriterion } from "../supervision/criteria.ts";
import { flatGrants } from "../supervision/permissions.ts";
import { bindTask } from "../bindings/bind.ts";
import { BindResult } from "../bindings/schema.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { NameSchema } from "../lib/names.ts";
import { PaneTextField } from "../lib/pane-text.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { activeSessionByName } from "../sessions/lookup.ts";
import { createTask } from "../tasks/create.ts";
import { taskByName } from "../tasks/lookup.ts";
import { AGENT_KINDS, assertSignedIn, CODEX_APPROVALS, CODEX_SANDBOXES } from "./agents.ts";
import { assertCanSpawn, SpawnResult, spawnSession } from "./spawn.ts";
import { stopSessionEffect } from "./stop.ts";

export const PairBody = z
  .object({
    task: NameSchema,
    task_goal: z.string().min(1).max(4000).optional(),
    task_summary: z.string().min(1).max(4000).optional(),
    task_prompt: PaneTextField(20_000).optional().openapi({ description: "Initial prompt for the worker" }),
    worker_name: NameSchema,
    manager_name: NameSchema,
    agent: z.enum(AGENT_KINDS).optional().default("codex"),
    manager_agent: z.enum(AGENT_KINDS).optional(),
    cwd: z.string().min(1).max(4096),
    sandbox: z.enum(CODEX_SANDBOXES).optional(),
    ask_for_approval: z.enum(CODEX_APPROVALS).optional(),
    accept_trust: z.boolean().optional().default(false),
    timeout_seconds: z.number().int().min(1).max(900).optional().default(60),
    manager_config: ManagerConfigBody.optional().openapi({
      description: "Merged into the guided default config recorded before the manager starts; acceptance entries are also seeded into the criteria ledger",
    }),
    dispatcher_id: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,100}$/)
      .optional()
      .openapi({ description: `Whose heartbeat to report (default ${DEFAULT_DISPATCHER_ID}); the CLI starts it when it is not live` }),
    dry_run: z.boolean().optional().default(false).openapi({ description: "Validate and report the plan; start, record and bind nothing" }),
  })
  .strict()
  .openapi("Pair");

/** How fresh a dispatcher heartbeat must be for pair to count the dispatcher as live. */
export const LIVE_DISPATCHER_MS = 30_000;

const PairDispatcher = z
  .object({
    id: z.string(),
    live: z.boolean().openapi({ description: "A running dispatcher with this id beat within the last 30 seconds" }),
    pid: z.number().int().nullable(),
    heartbeat_at: z.string().nullable(),
  })
  .openapi("PairDispatcher");

export const PairResult = z
  .object({
    task: z.string(),
    task_created: z.boolean(),
    dry_run: z.boolean(),
    worker: SpawnResult.nullable(),
    manager: SpawnResult.nullable(),
    binding: BindResult.nullable(),
    manager_config: ManagerConfigWire.omit({ created_at: true, created_by: true, revision: true, task_id: true })
      .extend({ revision: z.number().int().nullable() })
      .openapi({ description: "The config the manager starts with (in a dry run: the one that would be recorded)" }),
    seeded_criteria: z.array(z.string()).openapi({ description: "Acceptance entries added to the criteria ledger (or that would be)" }),
    dispatcher: PairDispatcher,
  })
  .openapi("PairResult");

export const pairRoute = defineRoute(
  ["owner"],
  {
    method: "post",
    path: "/pairs",
    tags: ["actuate"],
    summary: "Spawn a worker and a manager and bind them to a task",
    description:
      "The task is looked up, or created when task_goal is given. A guided manager config (merged with manager_config) is recorded before the manager starts, so its bootstrap goes straight to cycling; acceptance entries are seeded into the criteria ledger. If the manager or the bind fails, the sessions started by this call are stopped again and the error says so. The answer reports the dispatcher's heartbeat; the CLI starts one unless --no-dispatch. dry_run reports the plan and changes nothing. CLI: pair.",
    request: { body: jsonBody(PairBody) },
    responses: { 201: jsonResponse(PairResult, "Paired") },
  },
  { rateLimited: true, deadline: "own" },
);

/** Reads a dispatcher's heartbeat row. */
async function dispatcherState(ctx: Ctx, id: string): Promise<z.infer<typeof PairDispatcher>> {
  const [row] = await ctx.db.select().from(dispatchers).where(eq(dispatchers.id, id)).limit(1);
  const live = !!row && row.state === "running" && ctx.now().getTime() - row.heartbeatAt <= LIVE_DISPATCHER_MS;
  return { id, live, pid: row?.pid ?? null, heartbeat_at: iso(row?.heartbeatAt ?? null) };
}

/** Acceptance entries of a config that the task's ledger does not hold yet. */
async function unseeded(ctx: Ctx, taskId: string | null, acceptance: string[]): Promise<string[]> {
  if (!acceptance.length) return [];
  const have = new Set(
    taskId
      ? (await ctx.db.select({ c: acceptanceCriteria.criterion }).from(acceptanceCriteria).where(eq(acceptanceCriteria.taskId, taskId))).map((r) =>
          r.c.trim().toLowerCase(),
        )
      : [],
  );
  return acceptance.filter((a) => !have.has(a.trim().toLowerCase()));
}

/**
 * Records the manager config (and seeds acceptance criteria), spawns worker then manager, binds
 * them, and undoes its own spawns when a later step fails. A dry run only reports the plan.
 */
export async function pairSessions(ctx: Ctx, raw: z.input<typeof PairBody>) {
  const input = PairBody.parse(raw);
  // Both agents are checked before anything starts, so a manager CLI that is not signed in
  // refuses the pair up front instead of after the worker is already running. A dry run starts
  // nothing, so it plans without asking.
  const managerAgent = input.manager_agent ?? input.agent;
  if (!input.dry_run) for (const agent of new Set([input.agent, managerAgent])) await assertSignedIn(ctx, agent);
  let taskCreated = false;
  let task: Awaited<ReturnType<typeof taskByName>> | null = null;
  try {
    task = await taskByName(ctx, input.task);
  } catch (e) {
    if (!(e instanceof ApiError && e.code === "NOT_FOUND")) throw e;
    if (!input.task_goal) {
      throw new ApiError("NOT_FOUND", `task '${input.task}' does not exist`, {
        hint: "Pass --task-goal to create it, or create it first: switchyard tasks --create NAME --goal G.",
      });
    }
  }
  const dispatcher = await dispatcherState(ctx, input.dispatcher_id ?? DEFAULT_DISPATCHER_ID);
  if (input.dry_run) {
    const prev = task ? await latestConfigRow(ctx, task.id) : null;
    const base = prev ? { ...DEFAULT_MANAGER_CONFIG, ...(prev.config as unknown as ManagerConfig) } : DEFAULT_MANAGER_CONFIG;
    const next = applyConfigUpdate(base, input.manager_config ?? {});
    return {
      task: input.task,
      task_created: task === null,
      dry_run: true,
      worker: null,
      manager: null,
      binding: null,
      manager_config: {
        task: input.task,
        ...next,
        permissions: next.permissions as Record<string, string[]>,
        granted: flatGrants(next.permissions),
        revision: null,
      },
      seeded_criteria: await unseeded(ctx, task?.id ?? null, next.acceptance),
      dispatcher,
    };
  }
  if (input.worker_name === input.manager_name) {
    throw new ApiError("VALIDATION_FAILED", `worker and manager are both named '${input.worker_name}'`, { hint: "Give the manager its own name." });
  }
  // Everything that would refuse a spawn is checked before the task and config are written.
  await assertCanSpawn(ctx, [
    { name: input.worker_name, agent: input.agent },
    { name: input.manager_name, agent: managerAgent },
  ]);
  if (!task) {
    await createTask(ctx, { name: input.task, goal: input.task_goal, summary: input.task_summary });
    task = await taskByName(ctx, input.task);
    taskCreated = true;
  }
  // Recorded before the manager starts, so its bootstrap skips the setup questions.
  const config = await writeConfig(ctx, task, input.manager_config ?? {});
  const seeded = await unseeded(ctx, task.id, config.config.acceptance);
  for (const criterion of seeded) await insertCriterion(ctx, task, { criterion, source: "manager_inferred", status: "accepted" });
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
    // Anything but a refusal is a fault whose details the caller is told are in the log.
    if (!(cause instanceof ApiError)) ctx.log.error("pair failed", { error: cause instanceof Error ? (cause.stack ?? cause.message) : String(cause) });
    const err = cause instanceof ApiError ? cause : new ApiError("INTERNAL", "pair failed", { hint: "The server logged the details." });
    throw new ApiError(err.code, `pair failed: ${err.message}`, {
      hint: `Stopped again: ${cleaned.join(", ") || "nothing"}${cleaned.length < names.length ? `; still running: ${names.filter((n) => !cleaned.includes(n)).join(", ")}` : ""}. ${err.hint}`,
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
  const { created_at: _c, created_by: _b, task_id: _t, ...wireConfig } = config.config;
  return {
    task: input.task,
    task_created: taskCreated,
    dry_run: false,
    worker,
    manager,
    binding,
    manager_config: wireConfig,
    seeded_criteria: seeded,
    dispatcher,
  };
}
