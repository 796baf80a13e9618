import { and, desc, eq } from "drizzle-orm";
import { bindings, type BindingRow } from "../../schema/bindings.ts";
import { taskHookSettings } from "../../schema/hooks.ts";
import { transcriptEvents } from "../../schema/observe.ts";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import { tasks, type TaskRow } from "../../schema/tasks.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { paneText } from "../lib/pane-text.ts";
import { createInboxItem } from "../messages/items.ts";
import { turnCompletionKey } from "../messages/routing.ts";
import { latestHandoff } from "../supervision/handoff.ts";
import { eqLiteral } from "../lib/sql.ts";

/** A worker's active binding, with its task and manager. */
export interface WorkerBinding {
  binding: BindingRow;
  task: TaskRow;
  manager: SessionRow;
}

/** The active binding in which this session is the worker, or null (one indexed read). */
export async function workerBinding(ctx: Ctx, sessionId: string): Promise<WorkerBinding | null> {
  const [row] = await ctx.db
    .select({ binding: bindings, task: tasks, manager: sessions })
    .from(bindings)
    .innerJoin(tasks, eq(tasks.id, bindings.taskId))
    .innerJoin(sessions, eq(sessions.id, bindings.managerSessionId))
    .where(and(eq(bindings.workerSessionId, sessionId), eqLiteral(bindings.state, "active")))
    .limit(1);
  return row ?? null;
}

/** What a permission wait tells the manager. */
export interface PermissionFacts {
  hookEventId: number;
  event: string;
  tool: string | null;
  detail: string | null;
}

/**
 * Puts a note in the bound manager's inbox the moment its worker starts waiting for a
 * permission, so nobody waits for a poll to notice a stalled worker (a waiting long poll wakes
 * at once). One item per wait (keyed by the hook event that began it). It is a notice, not a
 * completion: its text carries what the hook's poster reported (the tool and its command), so
 * it is pushed into the manager's pane only when the owner posted it; from a hook token it is
 * pull only (messages/push-authority.ts), like any other note a worker sends its manager.
 */
export async function escalatePermission(ctx: Ctx, worker: SessionRow, wb: WorkerBinding, f: PermissionFacts) {
  const what = f.tool ? `to use ${f.tool}${f.detail ? `: ${f.detail}` : ""}` : (f.detail ?? "for a permission");
  return createInboxItem(
    ctx,
    {
      target: wb.manager,
      originator: actorOf(ctx.auth),
      signalType: "notify_manager",
      sourceSessionId: worker.id,
      taskId: wb.task.id,
      bindingId: wb.binding.id,
      correlationId: ctx.newId("cor"),
      dedupKey: `hook_permission:${worker.id}:${f.hookEventId}`,
      payload: {
        task: wb.task.name,
        worker: worker.name,
        kind: "permission_wait",
        message: `worker ${worker.name} is waiting for permission ${what}. Answer it in its pane (switchyard open ${worker.name}) or tell it what to do instead.`,
        tool: f.tool,
        hook_event: f.event,
        hook_event_id: f.hookEventId,
      },
    },
    { kind: "hook_permission_escalated", payload: { worker: worker.name, manager: wb.manager.name, hook_event_id: f.hookEventId, tool: f.tool } },
  );
}

/**
 * Routes a worker's completed turn to its manager as soon as the Stop hook reports it. The
 * item is keyed by the agent's turn id, which the transcript's own completion of that turn
 * also carries, so whichever arrives second is recognised as the same completion. Without a
 * turn id (an agent that sends none) the hook event itself is the key.
 */
export async function routeStopCompletion(
  ctx: Ctx,
  worker: SessionRow,
  wb: WorkerBinding,
  f: { hookEventId: number; turnId: string | null; lastMessage: string | null },
) {
  const dedupKey = f.turnId ? turnCompletionKey(wb.binding.id, f.turnId) : `worker_task_complete:${wb.binding.id}:hook:${f.hookEventId}`;
  return createInboxItem(
    ctx,
    {
      target: wb.manager,
      // Switchyard routing a bound worker's completion along the owner's binding, as the
      // transcript's completion of the same turn would be: the same item, the same delivery.
      originator: "switchyard",
      signalType: "worker_task_complete",
      sourceSessionId: worker.id,
      taskId: wb.task.id,
      bindingId: wb.binding.id,
      correlationId: ctx.newId("cor"),
      dedupKey,
      payload: {
        task: wb.task.name,
        worker: worker.name,
        manager: wb.manager.name,
        binding_id: wb.binding.id,
        source_event_id: null,
        subtype: "hook_stop",
        event_at: ctx.now().toISOString(),
        last_agent_message: f.lastMessage,
        turn_id: f.turnId,
        source: "hook",
        hook_event_id: f.hookEventId,
      },
    },
    {
      kind: "dispatch_completion_routed",
      payload: { binding_id: wb.binding.id, hook_event_id: f.hookEventId, turn_id: f.turnId, worker: worker.name, manager: wb.manager.name, source: "hook" },
    },
  );
}

/** Whether the task asks for its worker to be re-primed after a context reset. */
export async function reprimeWanted(ctx: Ctx, taskId: string): Promise<boolean> {
  const [row] = await ctx.db.select().from(taskHookSettings).where(eq(taskHookSettings.taskId, taskId)).limit(1);
  return row?.reprimeOnReset ?? false;
}

/**
 * The context a worker gets back after /clear, compaction or resume: the task's bootstrap (who
 * it is, the goal and summary, who manages it) and the latest handoff recorded for the task
 * (`switchyard handoff`), else the worker's own last report before the reset.
 */
export async function reprimeContext(ctx: Ctx, worker: SessionRow, wb: WorkerBinding): Promise<string> {
  const handoff = await latestHandoff(ctx, wb.task.id);
  const [last] = handoff
    ? []
    : await ctx.db
        .select({ text: transcriptEvents.text })
        .from(transcriptEvents)
        .where(and(eq(transcriptEvents.sessionId, worker.id), eq(transcriptEvents.kind, "agent_message")))
        .orderBy(desc(transcriptEvents.id))
        .limit(1);
  const handoffText = handoff
    ? [`Latest handoff: ${handoff.summary}`, ...handoff.nextSteps.map((step, i) => `${i + 1}. ${step}`)].join("\n")
    : last?.text
      ? `Your last report before the reset:\n${last.text}`
      : "No handoff or report was recorded before the reset.";
  // Handed to the agent as its context, like a prompt: literal text only (lib/pane-text.ts).
  const text = [
    `[switchyard] You are ${worker.name}, the worker of task '${wb.task.name}', supervised by ${wb.manager.name}. Your context was just reset; this is what you need to carry on.`,
    wb.task.goal ? `Goal: ${wb.task.goal}` : "The task has no recorded goal.",
    wb.task.summary ? `Summary: ${wb.task.summary}` : null,
    handoffText,
    `Check your inbox with \`switchyard session-inbox ${worker.name} --json\` and report progress to your manager with \`switchyard send ${wb.manager.name} "<status>"\`.`,
  ]
    .filter((l): l is string => l !== null)
    .join("\n");
  return paneText(text);
}
