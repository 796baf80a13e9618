import { z } from "@hono/zod-openapi";
import { and, asc, desc, eq, gt, sql } from "drizzle-orm";
import { type InboxItemRow, inboxItems } from "../../schema/messages.ts";
import { managerCycles, transcriptEvents } from "../../schema/observe.ts";
import { type AckRow, acceptanceCriteria, type CriterionRow, type HandoffRow, type ManagerConfigRow } from "../../schema/supervision.ts";
import type { SessionRow } from "../../schema/sessions.ts";
import type { TaskRow } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { iso } from "../lib/sql.ts";
import { eventFromRows, type IdRef, latestEvent, latestEventRead } from "../observe/status.ts";
import { Ack, ackToWire, latestAckRead } from "./acks.ts";
import { configToWire, latestConfigRead, ManagerConfigWire } from "./config.ts";
import { Criterion, CriteriaSummary, criteriaSummary, criterionToWire, type CriterionWire } from "./criteria.ts";
import { Handoff, handoffToWire, latestHandoffRead } from "./handoff.ts";

/** How many criteria a cycle lists; a larger ledger still gets exact counts. */
const CYCLE_CRITERIA_LIMIT = 200;
/** How many consumed notifications a cycle lists. */
const CYCLE_NOTIFICATIONS_LIMIT = 50;

export const WorkerReceipt = z
  .object({
    turn_id: z.number().int().openapi({ description: "Id of the worker's last completed turn (its task_complete event)" }),
    started_at: z.string().nullable(),
    completed_at: z.string().nullable(),
    duration_seconds: z.number().nullable(),
  })
  .openapi("WorkerReceipt");

export const AcceptanceCriteriaContext = z
  .object({
    summary: CriteriaSummary,
    open: z.array(Criterion).openapi({ description: "Accepted criteria that still need proof before finishing" }),
    proposed: z.array(Criterion),
    satisfied: z.array(Criterion),
    deferred: z.array(Criterion),
    rejected: z.array(Criterion),
    truncated: z.boolean().openapi({ description: "The ledger holds more rows than a cycle lists; counts stay exact" }),
  })
  .openapi("AcceptanceCriteriaContext");

export const CriteriaNegotiation = z
  .object({
    needed: z.boolean(),
    reason: z.enum(["no_criteria", "proposals_pending", "completed_with_open_criteria"]).nullable(),
    prompt: z.string().nullable().openapi({ description: "What the manager could ask the worker; advisory, nothing is sent" }),
    suggested_actions: z.array(z.string()),
  })
  .openapi("CriteriaNegotiation");

/** The supervision part of a cycle's manager_context. */
export const SupervisionContext = z.object({
  manager_config: ManagerConfigWire.nullable(),
  worker_handoff: Handoff.nullable(),
  worker_ack: Ack.nullable(),
  manager_ack: Ack.nullable(),
  acks_missing: z
    .array(z.enum(["worker", "manager"]))
    .openapi({ description: "When the config requires acks: the roles that have not acknowledged (finish-task refuses until this is empty)" }),
  worker_receipt: WorkerReceipt.nullable(),
  acceptance_criteria: AcceptanceCriteriaContext,
  criteria_negotiation: CriteriaNegotiation,
});

export const ConsumedNotification = z
  .object({
    id: z.string(),
    signal_type: z.string(),
    consumed_at: z.string(),
    consumed_by: z.string().nullable(),
    correlation_id: z.string().nullable(),
  })
  .openapi("ConsumedNotification");

type ReceiptEvent = Pick<typeof transcriptEvents.$inferSelect, "id" | "observedAt" | "eventAt" | "ingestedAt">;

/** A receipt from a completed turn and the start or prompt that opened it. */
function receiptOf(done: ReceiptEvent, start: ReceiptEvent | undefined): z.infer<typeof WorkerReceipt> {
  const at = (e: ReceiptEvent | undefined) => (e ? (e.observedAt ?? e.eventAt ?? e.ingestedAt) : null);
  const startedAt = at(start);
  const completedAt = at(done);
  return {
    turn_id: done.id,
    started_at: iso(startedAt),
    completed_at: iso(completedAt),
    duration_seconds: startedAt !== null && completedAt !== null ? Math.max(0, Math.round((completedAt - startedAt) / 100) / 10) : null,
  };
}

/** A completed turn's receipt: its id, and how long it took from the start or prompt that opened it. */
export async function turnReceipt(ctx: Ctx, workerId: string, done: ReceiptEvent): Promise<z.infer<typeof WorkerReceipt>> {
  return receiptOf(done, await latestEvent(ctx, workerId, { kinds: ["task_started", "user_message"], before: done.id }));
}

/**
 * The reads behind `workerReceipt`, unexecuted so they can ride in a batch: the worker's last
 * task_complete and the start or prompt before it (keyed by a subquery for that event's id).
 */
export function workerReceiptReads(ctx: Ctx, workerId: IdRef) {
  const done = and(eq(transcriptEvents.sessionId, workerId), eq(transcriptEvents.kind, "task_complete"));
  const doneId = ctx.db.select({ id: transcriptEvents.id }).from(transcriptEvents).where(done).orderBy(desc(transcriptEvents.id)).limit(1);
  return [
    ctx.db.select().from(transcriptEvents).where(done).orderBy(desc(transcriptEvents.id)).limit(1),
    latestEventRead(ctx, workerId, { kinds: ["task_started", "user_message"], before: doneId }),
  ] as const;
}

/** The receipt `workerReceiptReads` found, or null when the worker has completed no turn. */
export function workerReceiptFrom([done, start]: readonly [ReceiptEvent[], Array<Record<string, unknown>>]): z.infer<typeof WorkerReceipt> | null {
  return done[0] ? receiptOf(done[0], eventFromRows(start)) : null;
}

/** The worker's last completed turn, or null when it has completed none. */
export async function workerReceipt(ctx: Ctx, workerId: string): Promise<z.infer<typeof WorkerReceipt> | null> {
  return workerReceiptFrom(await ctx.db.batch(workerReceiptReads(ctx, workerId)));
}

function negotiation(
  task: TaskRow,
  criteria: CriterionWire[],
  summary: z.infer<typeof CriteriaSummary>,
  taskCompleted: boolean,
): z.infer<typeof CriteriaNegotiation> {
  const n = task.name;
  const total = summary.proposed + summary.accepted + summary.satisfied + summary.deferred + summary.rejected;
  if (total === 0) {
    return {
      needed: true,
      reason: "no_criteria",
      prompt:
        "Please propose 2-4 acceptance criteria for the current slice. List the must-have criteria for this task separately from follow-ups that can wait, and say how each can be verified.",
      suggested_actions: [
        `switchyard criteria-plan ${n} --from-worker-response RESPONSE.md`,
        `switchyard criteria ${n} --add --criterion "..." --source worker_proposed --status proposed`,
      ],
    };
  }
  const proposed = criteria.filter((c) => c.status === "proposed");
  if (summary.proposed > 0) {
    return {
      needed: true,
      reason: "proposals_pending",
      prompt: null,
      suggested_actions: proposed.flatMap((c) => [
        `switchyard criteria ${n} --accept ${c.id} --rationale "must-have for this task"`,
        `switchyard criteria ${n} --defer ${c.id} --rationale "follow-up"`,
      ]),
    };
  }
  if (taskCompleted && summary.accepted > 0) {
    const open = criteria.filter((c) => c.status === "accepted");
    return {
      needed: true,
      reason: "completed_with_open_criteria",
      prompt: `Before this is done, show evidence for the open criteria: ${open.map((c) => `#${c.id} ${c.criterion}`).join("; ")}. For each, name the command or check you ran and its result.`,
      suggested_actions: open.map((c) => `switchyard criteria ${n} --satisfy ${c.id} --evidence-json '{"command":"...","status":"pass"}'`),
    };
  }
  return { needed: false, reason: null, prompt: null, suggested_actions: [] };
}

/**
 * The task-keyed reads behind `supervisionContext` (config, handoff, both acks, the bounded
 * criteria ledger), unexecuted so a cycle can send them in its one batch; `taskId` may be a
 * subquery. The worker's receipt comes from `workerReceiptReads`.
 */
export function supervisionReads(ctx: Ctx, taskId: IdRef) {
  return [
    latestConfigRead(ctx, taskId),
    latestHandoffRead(ctx, taskId),
    latestAckRead(ctx, taskId, "worker"),
    latestAckRead(ctx, taskId, "manager"),
    ctx.db
      .select()
      .from(acceptanceCriteria)
      .where(eq(acceptanceCriteria.taskId, taskId))
      .orderBy(asc(acceptanceCriteria.id))
      .limit(CYCLE_CRITERIA_LIMIT + 1),
  ] as const;
}

type SupervisionRows = [ManagerConfigRow[], HandoffRow[], AckRow[], AckRow[], CriterionRow[]];

/**
 * What a cycle adds to manager_context from the results of `supervisionReads` and the worker's
 * receipt: the config in force, the latest handoff and acks, the receipt, the criteria ledger
 * grouped by status, plus advisory criteria negotiation. A ledger longer than a cycle lists costs
 * one more read for its exact counts.
 */
export async function supervisionContextFrom(
  ctx: Ctx,
  task: TaskRow,
  [configs, handoffs, wAcks, mAcks, rows]: readonly [...SupervisionRows],
  receipt: z.infer<typeof WorkerReceipt> | null,
  opts: { taskCompleted: boolean },
): Promise<z.infer<typeof SupervisionContext>> {
  const config = configs[0];
  const handoff = handoffs[0];
  const wAck = wAcks[0];
  const mAck = mAcks[0];
  const truncated = rows.length > CYCLE_CRITERIA_LIMIT;
  const listed: CriterionRow[] = rows.slice(0, CYCLE_CRITERIA_LIMIT);
  let summary = { proposed: 0, accepted: 0, satisfied: 0, deferred: 0, rejected: 0 };
  if (truncated) summary = await criteriaSummary(ctx, task.id);
  else for (const r of listed) summary[r.status]++;
  const criteria = listed.map((r) => criterionToWire(task, r));
  const by = (s: CriterionRow["status"]) => criteria.filter((c) => c.status === s);
  return {
    manager_config: config ? configToWire(task, config) : null,
    worker_handoff: handoff ? handoffToWire(task, handoff) : null,
    worker_ack: wAck ? ackToWire(task, wAck) : null,
    manager_ack: mAck ? ackToWire(task, mAck) : null,
    acks_missing: (config?.config as { require_acks?: boolean } | undefined)?.require_acks
      ? [...(wAck ? [] : (["worker"] as const)), ...(mAck ? [] : (["manager"] as const))]
      : [],
    worker_receipt: receipt,
    acceptance_criteria: {
      summary,
      open: by("accepted"),
      proposed: by("proposed"),
      satisfied: by("satisfied"),
      deferred: by("deferred"),
      rejected: by("rejected"),
      truncated,
    },
    criteria_negotiation: negotiation(task, criteria, summary, opts.taskCompleted),
  };
}

/** What a cycle adds to manager_context (see `supervisionContextFrom`), read in one round trip. */
export async function supervisionContext(
  ctx: Ctx,
  task: TaskRow,
  worker: SessionRow,
  opts: { taskCompleted: boolean },
): Promise<z.infer<typeof SupervisionContext>> {
  const [configs, handoffs, wAcks, mAcks, rows, done, start] = await ctx.db.batch([...supervisionReads(ctx, task.id), ...workerReceiptReads(ctx, worker.id)]);
  return supervisionContextFrom(ctx, task, [configs, handoffs, wAcks, mAcks, rows], workerReceiptFrom([done, start]), opts);
}

/**
 * The read behind `consumedSinceLastCycle`, unexecuted so it can ride in a batch: inbox items the
 * manager consumed after the task's previous cycle, whose time is a scalar subquery (before the
 * first cycle it is null and every consumed item counts; consumption times are never negative).
 */
export function consumedSinceLastCycleRead(ctx: Ctx, taskId: IdRef, managerId: IdRef) {
  const prev = ctx.db
    .select({ at: managerCycles.createdAt })
    .from(managerCycles)
    .where(eq(managerCycles.taskId, taskId))
    .orderBy(desc(managerCycles.id))
    .limit(1);
  return ctx.db
    .select()
    .from(inboxItems)
    .where(and(eq(inboxItems.targetSessionId, managerId), gt(inboxItems.consumedAt, sql`coalesce(${prev}, -1)`)))
    .orderBy(asc(inboxItems.consumedAt))
    .limit(CYCLE_NOTIFICATIONS_LIMIT);
}

/** The wire form of the rows `consumedSinceLastCycleRead` returned. */
export function consumedFrom(rows: InboxItemRow[]): Array<z.infer<typeof ConsumedNotification>> {
  return rows.map((r) => ({
    id: r.id,
    signal_type: r.signalType,
    consumed_at: iso(r.consumedAt)!,
    consumed_by: r.consumedBy,
    correlation_id: r.correlationId,
  }));
}

/**
 * Inbox items the task's manager consumed since the task's previous cycle (all of them on the
 * first cycle, up to a bound): the dispatch notifications this cycle is the follow-up to.
 */
export async function consumedSinceLastCycle(ctx: Ctx, taskId: string, managerId: string): Promise<Array<z.infer<typeof ConsumedNotification>>> {
  return consumedFrom(await consumedSinceLastCycleRead(ctx, taskId, managerId));
}
