import { and, asc, eq, isNull, or, sql } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import { events } from "../../schema/events.ts";
import { inboxItems, type InboxItemRow } from "../../schema/messages.ts";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import { tasks } from "../../schema/tasks.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { guardedInsert } from "../lib/guarded.ts";
import type { StepInput } from "./dag.ts";
import { type Notice, noticeStatements } from "./notify.ts";
import { patrolSessionOrNull } from "./state.ts";
import { eqLiteral } from "../lib/sql.ts";

/** Items read from the patrol's inbox per run; the rest wait for the next run. */
const INBOX_BATCH = 200;

type Handled = { item: string; msg_type: string; from: string | null; action: string };

/** The active binding a session takes part in, with the task and the other side. */
async function bindingOf(ctx: Ctx, sessionId: string) {
  const [row] = await ctx.db
    .select({ binding: bindings, task: tasks })
    .from(bindings)
    .innerJoin(tasks, eq(tasks.id, bindings.taskId))
    .where(and(eqLiteral(bindings.state, "active"), or(eq(bindings.workerSessionId, sessionId), eq(bindings.managerSessionId, sessionId))))
    .limit(1);
  return row ?? null;
}

async function sessionById(ctx: Ctx, id: string | null): Promise<SessionRow | null> {
  if (!id) return null;
  const [s] = await ctx.db.select().from(sessions).where(eq(sessions.id, id)).limit(1);
  return s ?? null;
}

/**
 * Decides what one patrol inbox item asks for. Pings are answered, help requests (and requests)
 * go to the owner with context, lifecycle reports go to the bound manager — unless they come
 * from an older spawn generation or an earlier binding, which are recorded and dropped.
 */
async function handle(ctx: Ctx, item: InboxItemRow): Promise<{ action: string; notices: Notice[]; stale?: Record<string, unknown> }> {
  const p = item.payload as Record<string, unknown>;
  const msgType = String(p.msg_type ?? item.signalType);
  const messageId = String(p.message_id ?? item.id);
  const sender = await sessionById(ctx, item.sourceSessionId);
  const subject = typeof p.subject === "string" ? p.subject : null;
  const body = typeof p.body === "string" ? p.body : "";
  const replyTo = sender?.state === "active" ? { sessionId: sender.id } : null;
  if (item.signalType !== "message") return { action: "ignored: not a message", notices: [] };

  if (msgType === "ping") {
    if (!replyTo) return { action: "ping from a gone session: acknowledged only", notices: [] };
    return {
      action: "pong",
      notices: [
        {
          to: replyTo,
          kind: "pong",
          subject: "pong",
          body: `The patrol is alive (answered ${messageId}).`,
          payload: { in_reply_to: messageId },
          dedupKey: `pong:${messageId}`,
        },
      ],
    };
  }

  if (msgType === "help" || msgType === "request") {
    const bound = sender ? await bindingOf(ctx, sender.id) : null;
    const other = bound
      ? await sessionById(ctx, bound.binding.workerSessionId === sender!.id ? bound.binding.managerSessionId : bound.binding.workerSessionId)
      : null;
    const context = {
      from: sender?.name ?? (p.from_actor as string | undefined) ?? "unknown",
      from_role: sender?.role ?? null,
      task: bound?.task.name ?? null,
      task_goal: bound?.task.goal ?? null,
      binding_id: bound?.binding.id ?? null,
      counterpart: other?.name ?? null,
      thread_id: p.thread_id ?? null,
      message_id: messageId,
      sender_last_heartbeat_at: sender?.lastHeartbeatAt ? new Date(sender.lastHeartbeatAt).toISOString() : null,
    };
    const where = bound ? ` (${sender!.role} of task ${bound.task.name}${other ? `, with ${other.name}` : ""})` : "";
    const notices: Notice[] = [
      {
        to: "owner",
        kind: "help_request",
        subject: `Help: ${context.from}${subject ? `: ${subject}` : ""}`,
        body: `${context.from}${where} asks for help:\n${body}\nReply in thread ${context.thread_id} (switchyard send ${context.from} ... ) or act on the task.`,
        payload: context,
        taskId: bound?.task.id ?? null,
        dedupKey: `help:${messageId}`,
      },
    ];
    if (replyTo) {
      notices.push({
        to: replyTo,
        kind: "help_forwarded",
        subject: "forwarded to the owner",
        body: `The patrol forwarded your ${msgType} (${messageId}) to the owner with your task's context.`,
        payload: { in_reply_to: messageId },
        dedupKey: `help_forwarded:${messageId}`,
      });
    }
    return { action: "forwarded to the owner", notices };
  }

  if (msgType === "lifecycle") {
    if (!sender) return { action: "lifecycle from an unknown sender: dropped", notices: [] };
    const bound = await bindingOf(ctx, sender.id);
    const staleBecause = async (): Promise<string | null> => {
      if (sender.state !== "active") {
        const [current] = await ctx.db
          .select()
          .from(sessions)
          .where(and(eq(sessions.name, sender.name), eqLiteral(sessions.state, "active")))
          .limit(1);
        return current ? `sent by an older spawn of ${sender.name} (${sender.id}); the current one is ${current.id}` : `sent by ${sender.name}, which is gone`;
      }
      if (!bound) return `${sender.name} is not bound to a task`;
      if (item.createdAt < bound.binding.createdAt) return `sent before the current binding of task ${bound.task.name} began`;
      return null;
    };
    const stale = await staleBecause();
    if (stale) return { action: `stale lifecycle dropped: ${stale}`, notices: [], stale: { reason: stale, message_id: messageId, from: sender.name } };
    const managerId = bound!.binding.workerSessionId === sender.id ? bound!.binding.managerSessionId : null;
    const to: Notice["to"] = managerId ? { sessionId: managerId } : "owner";
    return {
      action: `lifecycle forwarded to ${managerId ? "the bound manager" : "the owner"}`,
      notices: [
        {
          to,
          kind: "lifecycle",
          subject: `Lifecycle: ${sender.name} on ${bound!.task.name}: ${subject ?? "update"}`,
          body: `${sender.name} reports on task ${bound!.task.name}: ${subject ?? ""}${body ? ` — ${body}` : ""}`,
          payload: { reporter: sender.name, task: bound!.task.name, binding_id: bound!.binding.id, lifecycle: subject, message_id: messageId },
          taskId: bound!.task.id,
          dedupKey: `lifecycle:${messageId}`,
        },
      ],
    };
  }
  return { action: `noted (${msgType})`, notices: [] };
}

/**
 * The patrol's inbox: every unconsumed item is handled and consumed in one batch with the
 * notices it causes, the notices guarded by the consumption, so an item is acted on exactly
 * once even when two patrols or a crash interleave.
 */
export async function inboxCheck({ ctx, runId }: StepInput) {
  const { session: patrol, problem } = await patrolSessionOrNull(ctx);
  // Without its own session the patrol has no inbox to read; the other steps still run.
  if (!patrol) return { patrol_session: null, problem, handled: 0, stale_dropped: 0, items: [] };
  const rows = await ctx.db
    .select()
    .from(inboxItems)
    .where(and(eq(inboxItems.targetSessionId, patrol.id), isNull(inboxItems.consumedAt)))
    .orderBy(asc(inboxItems.createdAt))
    .limit(INBOX_BATCH);
  const handled: Handled[] = [];
  let stale = 0;
  const tag = `patrol:${runId}`;
  for (const item of rows) {
    const decision = await handle(ctx, item);
    const nowMs = ctx.now().getTime();
    const guard = sql`EXISTS (SELECT 1 FROM ${inboxItems} WHERE ${inboxItems.id} = ${item.id} AND ${inboxItems.consumedBy} = ${tag})`;
    const p = item.payload as Record<string, unknown>;
    const audit = auditInsert(ctx, {
      kind: decision.stale ? "patrol_lifecycle_stale" : "patrol_inbox_handled",
      sessionId: patrol.id,
      taskId: item.taskId,
      payload: { inbox_item_id: item.id, msg_type: p.msg_type ?? null, action: decision.action, ...(decision.stale ?? {}) },
    });
    await ctx.db.batch([
      ctx.db
        .update(inboxItems)
        .set({ consumedAt: nowMs, consumedBy: tag })
        .where(and(eq(inboxItems.id, item.id), isNull(inboxItems.consumedAt))),
      guardedInsert(ctx.db, events, audit.row, guard),
      ...noticeStatements(ctx, decision.notices, guard),
    ]);
    if (decision.stale) stale++;
    handled.push({ item: item.id, msg_type: String(p.msg_type ?? item.signalType), from: (p.from as string | null) ?? null, action: decision.action });
  }
  return { patrol_session: patrol.name, handled: handled.length, stale_dropped: stale, items: handled };
}
