import type { z } from "@hono/zod-openapi";
import { assertBoundSessionOrPrivileged, boundTask } from "../bindings/lookup.ts";
import type { CommandRow } from "../../schema/commands.ts";
import { commandToWire } from "../queue/store.ts";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { assertNoSlashCommand } from "../lib/pane-text.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { enqueueCommand } from "../queue/enqueue.ts";
import { EnqueueBody, EnqueueResult } from "../queue/schema.ts";

function enqueueRoute(path: string, target: "manager" | "worker", cli: string) {
  return defineRoute(
    ["owner", "daemon", "session"],
    {
      method: "post",
      path,
      tags: ["queue"],
      summary: `Queue a message for the task's bound ${target}`,
      description: `Creates a ${target === "manager" ? "notify_manager" : "nudge_worker"} command that a dispatcher claims and delivers. A session may enqueue only for a task it is bound to. idempotency_key is the natural key, scoped to the caller and the task: a retry answers 200 with the existing command. The item is typed into the ${target}'s pane only when the caller may nudge it (the owner, or the task's manager for its worker); otherwise it waits in the inbox. CLI: ${cli} TASK --message TEXT.`,
      request: { params: TaskNameParam, body: jsonBody(EnqueueBody) },
      responses: {
        201: jsonResponse(EnqueueResult, "Queued"),
        200: jsonResponse(EnqueueResult, "Already queued under this idempotency key"),
      },
    },
    { idempotency: "atomic" },
  );
}

export const enqueueNotifyManagerRoute = enqueueRoute("/tasks/{name}/notify-manager", "manager", "enqueue-notify-manager");
export const enqueueNudgeWorkerRoute = enqueueRoute("/tasks/{name}/nudge-worker", "worker", "enqueue-nudge-worker");

/**
 * Queues a notify_manager or nudge_worker command for a task's currently bound session; the
 * executor delivers it to whoever is bound when it runs.
 */
export async function enqueueForTask(ctx: Ctx, taskName: string, target: "manager" | "worker", input: z.output<typeof EnqueueBody>) {
  const bt = await boundTask(ctx, taskName);
  assertBoundSessionOrPrivileged(ctx, bt, ["worker", "manager"]);
  const to = target === "manager" ? bt.manager : bt.worker;
  // A nudge_worker message reaches the worker's pane as typed (no prefix): no slash commands.
  if (target === "worker") assertNoSlashCommand(ctx, to, input.message, "the message");
  const wire = (command: CommandRow) => ({ command_id: command.id, command: commandToWire(command), created: true, target_session: to.name });
  const { command, created } = await enqueueCommand(
    ctx,
    {
      type: target === "manager" ? "notify_manager" : "nudge_worker",
      taskId: bt.task.id,
      sessionId: to.id,
      host: to.host,
      payload: { message: input.message },
      correlationId: input.correlation_id ?? null,
      requiredPermission: input.required_permission ?? null,
      idempotencyKey: input.idempotency_key ?? null,
      maxAttempts: input.max_attempts,
    },
    wire,
  );
  return { ...wire(command), created };
}
