import { z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import type { CommandRow } from "../../schema/commands.ts";
import { inboxItems } from "../../schema/messages.ts";
import { sessions } from "../../schema/sessions.ts";
import { tasks } from "../../schema/tasks.ts";
import { NudgePayload, PANE_EXECUTORS } from "../actuate/pane-executors.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx, Executor } from "../lib/ctx.ts";
import { createInboxItem, planInboxItem, type CreatedInboxItem, type NewInboxItem } from "./items.ts";
import { signalInbox } from "./notifier.ts";
import { eqLiteral } from "../lib/sql.ts";

/** A deliver command: the nudge that types the item, plus which item it is. */
export const DeliverPayload = NudgePayload.extend({
  inbox_item_id: z.string().min(1).max(100),
  /** The originator whose authority the item is pushed with (absent on commands made before it was recorded). */
  on_behalf_of: z.string().max(300).optional(),
});

/** What notify_manager / nudge_worker commands carry (created by the enqueue routes). */
export const TaskSignalPayload = z.object({
  message: z
    .string()
    .min(1)
    .max(64 * 1024),
  correlation_id: z.string().min(1).max(200).nullable().optional(),
});

/**
 * Types an inbox item into the target's tmux pane (the nudge executor: submit and verify), then
 * marks the item delivered by push. It reads and marks the inbox, so it runs where the database
 * is — a dispatcher on the session's host — not in a remote runner.
 */
const deliver: Executor<z.infer<typeof DeliverPayload>, Ctx> = {
  payload: DeliverPayload,
  async run(ctx, cmd, p) {
    const [item] = await ctx.db.select().from(inboxItems).where(eq(inboxItems.id, p.inbox_item_id)).limit(1);
    if (!item) throw new Error(`inbox item ${p.inbox_item_id} does not exist`);
    // Already read by polling: typing it again would only repeat it to the agent.
    if (item.consumedAt !== null) return { ok: true, result: { inbox_item_id: item.id, delivered: false, reason: "already consumed" } };
    const r = await PANE_EXECUTORS.nudge.run(ctx, cmd, p);
    if (!r.ok) return { ...r, result: { ...r.result, inbox_item_id: item.id, delivered: false } };
    const nowMs = ctx.now().getTime();
    const audit = auditInsert(ctx, {
      kind: "dispatch_inbox_delivered",
      taskId: item.taskId,
      sessionId: item.targetSessionId,
      payload: {
        inbox_item_id: item.id,
        command_id: cmd.id,
        signal_type: item.signalType,
        delivery_mode: "push",
        correlation_id: item.correlationId,
        ...r.result,
      },
    });
    await ctx.db.batch([ctx.db.update(inboxItems).set({ deliveryMode: "push", deliveredAt: nowMs }).where(eq(inboxItems.id, item.id)), audit.stmt]);
    return { ok: true, result: { ...r.result, inbox_item_id: item.id, delivered: true, delivery_mode: "push", event_id: audit.id } };
  },
};

/** The session id in an actor string like `session:ses_…`, else null. */
function sessionOfActor(actor: string): string | null {
  return actor.startsWith("session:") ? actor.slice("session:".length) : null;
}

/**
 * Routes a queued notify_manager / nudge_worker command into the inbox of the task's bound
 * manager / worker. Keyed by the command id, so a retried attempt never creates a second item.
 */
function taskSignal(role: "manager" | "worker"): Executor<z.infer<typeof TaskSignalPayload>, Ctx> {
  const signalType = role === "manager" ? "notify_manager" : "nudge_worker";
  /** Where the item goes and what it says: the reads of the effect, shared by run and plan. */
  async function prepare(ctx: Ctx, cmd: CommandRow, p: z.infer<typeof TaskSignalPayload>) {
    if (!cmd.taskId) throw new Error(`${cmd.type} command ${cmd.id} names no task`);
    const target = role === "manager" ? bindings.managerSessionId : bindings.workerSessionId;
    // The binding, its task's name and the target session in one query.
    const [bound] = await ctx.db
      .select({ binding: bindings, task: tasks.name, target: sessions })
      .from(bindings)
      .innerJoin(tasks, eq(tasks.id, bindings.taskId))
      .innerJoin(sessions, eq(sessions.id, target))
      .where(and(eq(bindings.taskId, cmd.taskId), eqLiteral(bindings.state, "active")))
      .limit(1);
    if (!bound) throw new Error(`task ${cmd.taskId} has no active binding, so there is no ${role} to deliver to`);
    const item: NewInboxItem = {
      target: bound.target,
      // Whoever queued the command: a worker's note to its manager is pull only.
      originator: cmd.createdBy,
      signalType,
      sourceSessionId: sessionOfActor(cmd.createdBy),
      taskId: cmd.taskId,
      bindingId: bound.binding.id,
      correlationId: p.correlation_id ?? cmd.correlationId ?? cmd.id,
      dedupKey: `${signalType}:${cmd.id}`,
      payload: { task: bound.task, message: p.message, command_id: cmd.id },
    };
    return { item, target: bound.target };
  }
  const audit = (cmd: CommandRow) => ({ kind: "dispatch_inbox_item_created", payload: { command_id: cmd.id } });
  const resultOf = (created: CreatedInboxItem, targetName: string) => ({
    inbox_item_id: created.item.id,
    target_session: targetName,
    delivery_mode: created.item.deliveryMode,
    deliver_command_id: created.item.deliveryCommandId,
    created: created.created,
  });
  return {
    payload: TaskSignalPayload,
    async run(ctx: Ctx, cmd: CommandRow, p) {
      const { item, target } = await prepare(ctx, cmd, p);
      const created = await createInboxItem(ctx, item, audit(cmd));
      return { ok: true, result: resultOf(created, target.name) };
    },
    // Database only: the item, its deliver command (push) and its audit row commit with the
    // command's outcome. A retry whose item already exists fails that batch on the dedup key and
    // falls back to run, which answers with the existing item.
    async plan(ctx: Ctx, cmd: CommandRow, p) {
      const { item, target } = await prepare(ctx, cmd, p);
      const { created, stmts } = await planInboxItem(ctx, item, audit(cmd));
      return { stmts, result: resultOf(created, target.name), committed: () => signalInbox(ctx, target.id) };
    },
  };
}

/** The messages group's executors (inbox delivery and task signals), spread into EXECUTORS. */
export const INBOX_EXECUTORS = { deliver, notify_manager: taskSignal("manager"), nudge_worker: taskSignal("worker") };
