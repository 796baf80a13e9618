import { eq, inArray, sql, type SQL } from "drizzle-orm";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import type { BatchItem } from "drizzle-orm/batch";
import { inboxItems, messages, type InboxItemRow, type InboxSignal, type MessageRow } from "../../schema/messages.ts";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import { tasks } from "../../schema/tasks.ts";
import { newCommandRow } from "../queue/store.ts";
import { commands } from "../../schema/commands.ts";
import { paneOwnerOf } from "../actuate/pane-executors.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { paneText } from "../lib/pane-text.ts";
import { mayPushInto, type Originator } from "./push-authority.ts";
import { auditInsert } from "../lib/audit.ts";
import { guardedInsert } from "../lib/guarded.ts";
import { events } from "../../schema/events.ts";
import type { Ctx } from "../lib/ctx.ts";
import { insertRow, isUniqueViolation, iso } from "../lib/sql.ts";
import { signalInbox } from "./notifier.ts";

/** What to put in a session's inbox. */
export interface NewInboxItem {
  target: Pick<SessionRow, "id" | "name" | "host" | "tmuxSession" | "transcriptPath" | "transcriptKind" | "pid" | "pidStartedAt">;
  signalType: InboxSignal;
  payload: Record<string, unknown>;
  /**
   * Who put it there. Push delivery into the target's pane needs a nudge's authority (see
   * push-authority.ts); otherwise the item is pull only.
   */
  originator: Originator;
  sourceSessionId?: string | null;
  taskId?: string | null;
  bindingId?: string | null;
  messageId?: string | null;
  sourceEventId?: number | null;
  correlationId?: string | null;
  /** Natural key: a second item with the same key is never created. */
  dedupKey?: string | null;
  /**
   * A condition the write is made under, checked in its own batch: where it no longer holds
   * nothing is written and createInboxItem throws `refused()` (advice rejected while its send
   * was under way).
   */
  precondition?: { holds: SQL; refused: () => Error };
}

/** The outcome of `createInboxItem`. */
export interface CreatedInboxItem {
  item: InboxItemRow;
  /** False when an item with the same dedup key already existed (nothing was written). */
  created: boolean;
  /** The audit event written with the item; null when nothing was created. */
  eventId: string | null;
}

/**
 * Puts an item in a session's inbox, atomically with its audit event (and, for messages, the
 * message row) in one batch. Every item can be consumed by polling. When the target has a tmux
 * pane and the originator may push into it, the `deliver` command that types the item into the
 * pane is created in the same batch (so the item says which command delivers it); a dispatcher
 * on that host runs it and marks the item `push`. Waiting long polls of this process are woken
 * after the commit.
 *
 * `respond`, for a route whose final write this is, builds that route's response from the item;
 * it is stored under the request's Idempotency-Key in the same batch.
 *
 * A batch, not an interactive transaction: two interactive write transactions open at once in
 * one process block each other for the whole busy timeout (each BEGIN waits synchronously).
 */
export async function createInboxItem(
  ctx: Ctx,
  input: NewInboxItem,
  audit: { kind: string; payload: Record<string, unknown> },
  message?: MessageRow,
  respond?: { status: number; body: (created: CreatedInboxItem) => unknown },
): Promise<CreatedInboxItem> {
  const existing = async () => {
    const [row] = input.dedupKey ? await ctx.db.select().from(inboxItems).where(eq(inboxItems.dedupKey, input.dedupKey)).limit(1) : [];
    return row ? { item: row, created: false, eventId: null } : null;
  };
  // No read first: the dedup key's unique index refuses a second item, and the catch below
  // answers with the first one. A round trip saved on every new item; a repeat pays one failed batch.
  const { created, stmts } = await planInboxItem(ctx, input, audit, message);
  try {
    const [first] = (await batchWithKey(
      ctx,
      stmts as [(typeof stmts)[number]],
      respond ? { status: respond.status, body: respond.body(created) } : undefined,
    )) as unknown as [{ rowsAffected?: number }];
    if (input.precondition && first?.rowsAffected === 0) throw input.precondition.refused();
  } catch (e) {
    // A concurrent writer created the same dedup key first; its item stands.
    const raced = isUniqueViolation(e) ? await existing() : null;
    if (raced) return raced;
    throw e;
  }
  signalInbox(ctx, input.target.id);
  return created;
}

/**
 * The statements that put an item in a session's inbox (see createInboxItem), not yet run: for
 * callers that commit them in a batch of their own (the queue commits a notification with its
 * command's outcome). A repeated dedup key makes that batch fail on the unique index.
 */
export async function planInboxItem(
  ctx: Ctx,
  input: NewInboxItem,
  audit: { kind: string; payload: Record<string, unknown> },
  message?: MessageRow,
): Promise<{ created: CreatedInboxItem; stmts: BatchItem<"sqlite">[] }> {
  const push = !!input.target.tmuxSession && (await mayPushInto(ctx, input.originator, input.target.id));
  const row: InboxItemRow = {
    id: ctx.newId("inb"),
    targetSessionId: input.target.id,
    sourceSessionId: input.sourceSessionId ?? null,
    taskId: input.taskId ?? null,
    bindingId: input.bindingId ?? null,
    signalType: input.signalType,
    messageId: input.messageId ?? null,
    sourceEventId: input.sourceEventId ?? null,
    dedupKey: input.dedupKey ?? null,
    correlationId: input.correlationId ?? null,
    payload: input.payload,
    deliveryMode: "pull_required",
    deliveryCommandId: null,
    deliveredAt: null,
    consumedAt: null,
    consumedBy: null,
    createdAt: ctx.now().getTime(),
  };
  const deliver = push
    ? newCommandRow(ctx, {
        type: "deliver",
        sessionId: input.target.id,
        taskId: row.taskId,
        host: input.target.host,
        // Everything the pane needs travels in the payload: the text is fixed when the item is,
        // and so is the agent the pane must still belong to when it is typed.
        payload: {
          inbox_item_id: row.id,
          ...paneOwnerOf(input.target),
          tmux_session: input.target.tmuxSession,
          text: renderForPane(row),
          transcript_path: input.target.transcriptPath,
          transcript_kind: input.target.transcriptKind,
          // Whose authority the keystrokes carry: checked again when they are sent (push-authority.ts).
          on_behalf_of: input.originator,
        },
        correlationId: row.correlationId,
      })
    : null;
  row.deliveryCommandId = deliver?.id ?? null;
  const ev = auditInsert(ctx, {
    kind: audit.kind,
    taskId: row.taskId,
    sessionId: row.targetSessionId,
    payload: {
      ...audit.payload,
      inbox_item_id: row.id,
      signal_type: row.signalType,
      target_session: input.target.name,
      delivery: push ? "push_queued" : "pull_required",
      ...(input.target.tmuxSession && !push ? { push_refused: "the sender may not type into this session's pane" } : {}),
      correlation_id: row.correlationId,
    },
  });
  const created: CreatedInboxItem = { item: row, created: true, eventId: ev.id };
  // Under a precondition every row is written only where it holds (all or none, in one batch).
  const put = <T extends SQLiteTable>(table: T, values: T["$inferInsert"]) =>
    input.precondition ? guardedInsert(ctx.db, table, values, input.precondition.holds, { orIgnore: false }) : insertRow(ctx.db, table, values);
  const stmts: BatchItem<"sqlite">[] = [
    ...(message ? [put(messages, message)] : []),
    put(inboxItems, row),
    ...(deliver ? [put(commands, deliver)] : []),
    input.precondition ? put(events, ev.row) : ev.stmt,
  ];
  return { created, stmts };
}

/**
 * Session and task names for a set of ids, in one statement (none when every name is known): the
 * inbox list and consume name each item's sessions and task, and two lookups were two round
 * trips.
 */
async function namesFor(ctx: Ctx, sessionIds: string[], taskIds: string[], known: Record<string, string> = {}, knownTasks: Record<string, string> = {}) {
  const sessionNames = new Map<string, string>(Object.entries(known));
  const taskNames = new Map<string, string>(Object.entries(knownTasks));
  const sIds = [...new Set(sessionIds)].filter((id) => !sessionNames.has(id));
  const tIds = [...new Set(taskIds)].filter((id) => !taskNames.has(id));
  const arms: SQL[] = [];
  if (sIds.length)
    arms.push(sql`SELECT 0 AS "of_task", ${sessions.id} AS "id", ${sessions.name} AS "name" FROM ${sessions} WHERE ${inArray(sessions.id, sIds)}`);
  if (tIds.length) arms.push(sql`SELECT 1, ${tasks.id}, ${tasks.name} FROM ${tasks} WHERE ${inArray(tasks.id, tIds)}`);
  if (arms.length) {
    for (const r of await ctx.db.all<{ of_task: number; id: string; name: string }>(sql.join(arms, sql` UNION ALL `))) {
      (r.of_task ? taskNames : sessionNames).set(r.id, r.name);
    }
  }
  return { sessionNames, taskNames };
}

/**
 * The wire form of inbox items, with session and task names resolved (`known`, `knownTasks`:
 * names the caller has, by id; only the others are read).
 */
export async function itemsToWire(ctx: Ctx, rows: InboxItemRow[], known: Record<string, string> = {}, knownTasks: Record<string, string> = {}) {
  const ids = rows.flatMap((r) => [r.targetSessionId, ...(r.sourceSessionId ? [r.sourceSessionId] : [])]);
  const { sessionNames, taskNames } = await namesFor(
    ctx,
    ids,
    rows.flatMap((r) => (r.taskId ? [r.taskId] : [])),
    known,
    knownTasks,
  );
  return rows.map((r) => ({
    id: r.id,
    target_session: sessionNames.get(r.targetSessionId) ?? r.targetSessionId,
    target_session_id: r.targetSessionId,
    source_session: r.sourceSessionId ? (sessionNames.get(r.sourceSessionId) ?? null) : null,
    source_session_id: r.sourceSessionId,
    task: r.taskId ? (taskNames.get(r.taskId) ?? null) : null,
    task_id: r.taskId,
    binding_id: r.bindingId,
    signal_type: r.signalType,
    message_id: r.messageId,
    source_event_id: r.sourceEventId,
    correlation_id: r.correlationId,
    payload: r.payload,
    delivery_mode: r.deliveryMode,
    delivery_command_id: r.deliveryCommandId,
    delivered_at: iso(r.deliveredAt),
    consumed_at: iso(r.consumedAt),
    consumed_by: r.consumedBy,
    consumed_by_session: r.consumedAt === null ? null : (sessionNames.get(r.targetSessionId) ?? r.targetSessionId),
    consumed_on_behalf: r.consumedBy === null ? null : !r.consumedBy.startsWith("session:"),
    state: r.consumedAt !== null ? ("consumed" as const) : r.deliveredAt !== null ? ("delivered" as const) : ("pending" as const),
    dedupe_key: r.dedupKey,
    worker_receipt: workerReceiptOf(r),
    instruction: instructionFor(r, taskNames.get(r.taskId ?? "") ?? null),
    created_at: iso(r.createdAt)!,
  }));
}

/** The worker's turn receipt an item carries: a routed completion's turn id, start and duration. */
function workerReceiptOf(r: InboxItemRow): Record<string, unknown> | null {
  const stored = (r.payload as { worker_receipt?: Record<string, unknown> }).worker_receipt;
  if (stored) return stored;
  if (r.signalType !== "worker_task_complete") return null;
  const p = r.payload as { event_at?: string | null };
  return { turn_id: r.sourceEventId, started_at: null, completed_at: p.event_at ?? null, duration_seconds: null };
}

/** What the receiving agent should do with an item, in one readable sentence. */
export function instructionFor(r: Pick<InboxItemRow, "signalType" | "payload" | "messageId">, task: string | null): string {
  const p = r.payload as Record<string, unknown>;
  const t = task ?? (typeof p.task === "string" ? p.task : "the task");
  switch (r.signalType) {
    case "worker_task_complete":
      return `Worker ${p.worker ?? "?"} finished a turn on ${t}. Review it with \`switchyard cycle ${t} --json\`, then satisfy, nudge, or finish.`;
    case "notify_manager":
      return `Note for the manager of ${t}: ${String(p.message ?? "")}`;
    case "nudge_worker":
      return `Instruction from your manager on ${t}: ${String(p.message ?? "")}`;
    case "continue_iteration":
      return String(p.message ?? `Start the next loop iteration on ${t}.`);
    case "message":
      return `Message from ${p.from ?? "the owner"}${p.subject ? ` (${p.subject})` : ""}: ${String(p.body ?? "")}${r.messageId ? ` Reply with \`switchyard reply ${r.messageId} "..."\`.` : ""}`;
  }
}

/** Longest text typed into a pane for one item. */
const PANE_TEXT_CHARS = 600;

/**
 * A one-line rendering of an item for typing into an agent's composer: literal text (control
 * bytes and escape sequences removed, lib/pane-text.ts), newlines folded because a newline typed
 * into a TUI can submit the prompt early.
 */
export function renderForPane(item: Pick<InboxItemRow, "signalType" | "payload" | "id">): string {
  const p = item.payload as Record<string, string | number | null | undefined>;
  let text: string;
  switch (item.signalType) {
    case "message":
      text = `[switchyard ${p.msg_type ?? "message"} from ${p.from ?? "owner"}, thread ${p.thread_id}, message ${p.message_id}] ${p.subject ? `${p.subject}: ` : ""}${p.body ?? ""}`;
      break;
    case "worker_task_complete":
      text = `[switchyard] worker ${p.worker} finished a turn on task ${p.task} (event ${p.source_event_id}). Last message: ${p.last_agent_message ?? "(none)"}`;
      break;
    case "notify_manager":
      text = `[switchyard note for the manager of ${p.task}] ${p.message ?? ""}`;
      break;
    case "nudge_worker":
    case "continue_iteration":
      // A nudge (or a loop's next pass) is a prompt for the worker, so it arrives as plain text.
      text = String(p.message ?? "");
      break;
  }
  text = paneText(text).replace(/\s+/g, " ").trim();
  return text.length > PANE_TEXT_CHARS ? `${text.slice(0, PANE_TEXT_CHARS - 1)}…` : text;
}
