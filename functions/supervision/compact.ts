import { z } from "@hono/zod-openapi";
import { nudgeSession } from "../actuate/nudge.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { commandToWire, createCommand } from "../queue/store.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { boundTask } from "../bindings/lookup.ts";
import { supervisedTask } from "./access.ts";
import { DEFAULT_MANAGER_CONFIG, latestConfigRow, type ManagerConfig } from "./config.ts";
import { decisionById, insertDecision } from "./decisions.ts";
import { latestWorkerHandoff } from "./handoff.ts";
import { allows } from "./permissions.ts";

export const WorkerCompactBody = z
  .object({
    decision_id: z.number().int().min(1).optional().openapi({ description: "The manager decision this acts on" }),
    strict_decisions: z.boolean().optional().default(false).openapi({ description: "Refuse without a nudge or interrupt decision of this task" }),
    reason: z
      .string()
      .min(1)
      .max(4000)
      .optional()
      .openapi({ description: "compact-worker: record a nudge decision with this reason first (implies strict_decisions)" }),
    clear: z.boolean().optional().default(false).openapi({ description: "Send /clear instead of /compact (needs worker_session.clear)" }),
    prompt_only: z.boolean().optional().default(false).openapi({ description: "Send an explanatory prompt asking the worker to compact itself" }),
    dry_run: z.boolean().optional().default(false).openapi({ description: "Record the command and audit rows, send nothing" }),
  })
  .strict()
  .openapi("WorkerCompact");

export const WorkerCompactResult = z
  .object({
    task: z.string(),
    worker: z.string(),
    instruction: z.enum(["compact", "clear", "prompt"]),
    text: z.string(),
    permission: z.string(),
    decision_id: z.number().int().nullable(),
    handoff_id: z.string(),
    command_id: z.string(),
    command: z.record(z.string(), z.unknown()),
    delivery: z.enum(["push", "pull_required"]),
    dry_run: z.boolean(),
    sent: z.boolean(),
    submitted: z.boolean().nullable().openapi({ description: "push: whether the agent took it as a prompt; null for an inbox delivery" }),
    requested_event_id: z.string(),
    sent_event_id: z.string(),
  })
  .openapi("WorkerCompactResult");

export const workerCompactRoute = defineRoute(["owner", "session"], {
  method: "post",
  path: "/tasks/{name}/worker-compact",
  tags: ["supervision"],
  summary: "Ask the bound worker to compact (or clear) its context, through the audited path",
  description:
    "Fails closed (POLICY_REFUSED) unless the manager config grants worker_session.compact (worker_session.clear with clear) and the current worker (or the owner) recorded a handoff since it was bound; with strict_decisions, also without a nudge/interrupt decision. Writes worker_compact_requested before and worker_compact_sent after a durable command: a verified nudge for a tmux worker, an inbox item for a pull worker. dry_run records all of it with sent=false. CLI: request-worker-compact TASK, compact-worker TASK --reason R.",
  request: { params: TaskNameParam, body: { ...jsonBody(WorkerCompactBody), required: false } },
  responses: { 200: jsonResponse(WorkerCompactResult, "Sent (or recorded, in a dry run)") },
});

/** Sends /compact, /clear or an explanatory prompt to the task's worker after its gates pass. */
export async function requestWorkerCompact(ctx: Ctx, name: string, input: z.output<typeof WorkerCompactBody>) {
  const st = await supervisedTask(ctx, name, ["manager"]);
  const bt = await boundTask(ctx, name);
  const task = st.task;
  const instruction = input.prompt_only ? "prompt" : input.clear ? "clear" : "compact";
  const permission = input.clear ? "worker_session.clear" : "worker_session.compact";
  const refuse = async (reason: string, hint: string, extra: Record<string, unknown> = {}): Promise<never> => {
    const audit = auditInsert(ctx, { kind: "worker_compact_refused", taskId: task.id, payload: { instruction, permission, reason, ...extra } });
    await audit.stmt;
    throw new ApiError("POLICY_REFUSED", `${reason} (task '${name}')`, { hint });
  };
  const [row, handoff] = await Promise.all([latestConfigRow(ctx, task.id), latestWorkerHandoff(ctx, task.id, bt.worker.id, bt.binding.createdAt)]);
  const config = row ? { ...DEFAULT_MANAGER_CONFIG, ...(row.config as unknown as ManagerConfig) } : null;
  if (!config || !allows(config.permissions, { category: "worker_session", action: input.clear ? "clear" : "compact" })) {
    await refuse(`manager permission required: ${permission}`, `Grant it if the user agrees: switchyard manager-config ${name} --permit ${permission}`);
  }
  if (!handoff) {
    await refuse(
      "a worker handoff is required before compacting",
      `Ask the worker to record one first (with its own token; a manager's handoff, or an earlier worker's, does not count): switchyard handoff ${name} --summary "..." --next-step "..."`,
    );
  }
  let decisionId = input.decision_id ?? null;
  const strict = input.strict_decisions || input.reason !== undefined;
  if (decisionId !== null) {
    const d = await decisionById(ctx, task, decisionId);
    if (strict && d.decision !== "nudge" && d.decision !== "interrupt") {
      await refuse(`decision ${d.id} is '${d.decision}', not nudge or interrupt`, `Record one: switchyard record-decision ${name} nudge --reason "..."`, {
        decision_id: d.id,
      });
    }
  } else if (input.reason !== undefined) {
    decisionId = (await insertDecision(ctx, task, { decision: "nudge", reason: input.reason, payload: { instruction } })).decision_id;
  } else if (strict) {
    await refuse("strict decisions need a decision id", `Record one and pass it: switchyard record-decision ${name} nudge --reason "..."`);
  }
  const text =
    instruction === "compact"
      ? "/compact"
      : instruction === "clear"
        ? "/clear"
        : `Your context is getting long. Make sure your progress is in the handoff (switchyard handoff ${name} --summary "..." --next-step "..."), then compact your context with /compact and carry on with the next step.`;
  const requested = auditInsert(ctx, {
    kind: "worker_compact_requested",
    taskId: task.id,
    sessionId: bt.worker.id,
    payload: { instruction, permission, decision_id: decisionId, handoff_id: handoff!.id, dry_run: input.dry_run, config_revision: row!.revision },
  });
  await requested.stmt;
  let out: { command_id: string; command: Record<string, unknown>; delivery: "push" | "pull_required"; sent: boolean; submitted: boolean | null };
  try {
    if (bt.worker.tmuxSession) {
      const r = await nudgeSession(ctx, bt.worker.name, { text, dry_run: input.dry_run });
      out = { command_id: r.command_id, command: r.command, delivery: "push", sent: r.sent, submitted: r.dry_run ? false : r.submitted };
    } else {
      // A pull worker gets the instruction through its inbox: a nudge_worker command the dispatcher delivers.
      const cmd = await createCommand(ctx, {
        type: "nudge_worker",
        taskId: task.id,
        sessionId: bt.worker.id,
        host: bt.worker.host,
        payload: { message: text, correlation_id: decisionId === null ? null : `decision:${decisionId}` },
        dryRun: input.dry_run,
        correlationId: decisionId === null ? null : `decision:${decisionId}`,
      });
      out = { command_id: cmd.id, command: commandToWire(cmd), delivery: "pull_required", sent: !input.dry_run, submitted: null };
    }
  } catch (e) {
    const failed = auditInsert(ctx, {
      kind: "worker_compact_failed",
      taskId: task.id,
      sessionId: bt.worker.id,
      payload: { instruction, decision_id: decisionId, error: e instanceof Error ? e.message : String(e) },
    });
    await failed.stmt;
    throw e;
  }
  const sent = auditInsert(ctx, {
    kind: "worker_compact_sent",
    taskId: task.id,
    sessionId: bt.worker.id,
    payload: {
      instruction,
      decision_id: decisionId,
      command_id: out.command_id,
      delivery: out.delivery,
      dry_run: input.dry_run,
      sent: out.sent,
      submitted: out.submitted,
    },
  });
  await sent.stmt;
  return {
    task: task.name,
    worker: bt.worker.name,
    instruction,
    text,
    permission,
    decision_id: decisionId,
    handoff_id: handoff!.id,
    ...out,
    dry_run: input.dry_run,
    requested_event_id: requested.id,
    sent_event_id: sent.id,
  } as const;
}
