import { z } from "@hono/zod-openapi";
import { and, asc, desc, eq, gt, isNotNull } from "drizzle-orm";
import { inboxItems } from "../../schema/messages.ts";
import { managerCycles, transcriptEvents } from "../../schema/observe.ts";
import { acceptanceCriteria, type CriterionRow } from "../../schema/supervision.ts";
import type { SessionRow } from "../../schema/sessions.ts";
import type { TaskRow } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { iso } from "../lib/sql.ts";
import { latestEvent } from "../observe/status.ts";
import { Ack, ackToWire, latestAck } from "./acks.ts";
import { configToWire, latestConfigRow, ManagerConfigWire } from "./config.ts";
import { Criterion, CriteriaSummary, criteriaSummary, criterionToWire, type CriterionWire } from "./criteria.ts";
import { Handoff, handoffToWire, latestHandoff } from "./handoff.ts";

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

/** A completed turn's receipt: its id, and how long it took from the start or prompt that opened it. */
export async function turnReceipt(
  ctx: Ctx,
  workerId: string,
  done: Pick<typeof transcriptEvents.$inferSelect, "id" | "observedAt" | "eventAt" | "ingestedAt">,
): Promise<z.infer<typeof WorkerReceipt>> {
  const start = await latestEvent(ctx, workerId, { kinds: ["task_started", "user_message"], before: done.id });
  const at = (e: typeof done | undefined) => (e ? (e.observedAt ?? e.eventAt ?? e.ingestedAt) : null);
  const startedAt = at(start);
  const completedAt = at(done);
  return {
    turn_id: done.id,
    started_at: iso(startedAt),
    completed_at: iso(completedAt),
    duration_seconds: startedAt !== null && completedAt !== null ? Math.max(0, Math.round((completedAt - startedAt) / 100) / 10) : null,
  };
}

/** The worker's last completed turn, or null when it has completed none. */
export async function workerReceipt(ctx: Ctx, workerId: string): Promise<z.infer<typeof WorkerReceipt> | null> {
  const [done] = await ctx.db
    .select()
    .from(transcriptEvents)
    .where(and(eq(transcriptEvents.sessionId, workerId), eq(transcriptEvents.kind, "task_complete")))
    .orderBy(desc(transcriptEvents.id))
    .limit(1);
  return done ? turnReceipt(ctx, workerId, done) : null;
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
 * What a cycle adds to manager_context: the config in force, the latest handoff and acks, the
 * worker's last turn receipt and the criteria ledger grouped by status, plus advisory criteria
 * negotiation. A handful of indexed single-row reads and one bounded ledger read, run together.
 */
export async function supervisionContext(
  ctx: Ctx,
  task: TaskRow,
  worker: SessionRow,
  opts: { taskCompleted: boolean },
): Promise<z.infer<typeof SupervisionContext>> {
  const [config, handoff, wAck, mAck, receipt, rows] = await Promise.all([
    latestConfigRow(ctx, task.id),
    latestHandoff(ctx, task.id),
    latestAck(ctx, task.id, "worker"),
    latestAck(ctx, task.id, "manager"),
    workerReceipt(ctx, worker.id),
    ctx.db
      .select()
      .from(acceptanceCriteria)
      .where(eq(acceptanceCriteria.taskId, task.id))
      .orderBy(asc(acceptanceCriteria.id))
      .limit(CYCLE_CRITERIA_LIMIT + 1),
  ]);
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

/**
 * Inbox items the task's manager consumed since the task's previous cycle (all of them on the
 * first cycle, up to a bound): the dispatch notifications this cycle is the follow-up to.
 */
export async function consumedSinceLastCycle(ctx: Ctx, taskId: string, managerId: string): Promise<Array<z.infer<typeof ConsumedNotification>>> {
  const [prev] = await ctx.db
    .select({ at: managerCycles.createdAt })
    .from(managerCycles)
    .where(eq(managerCycles.taskId, taskId))
    .orderBy(desc(managerCycles.id))
    .limit(1);
  const rows = await ctx.db
    .select()
    .from(inboxItems)
    .where(and(eq(inboxItems.targetSessionId, managerId), prev ? gt(inboxItems.consumedAt, prev.at) : isNotNull(inboxItems.consumedAt)))
    .orderBy(asc(inboxItems.consumedAt))
    .limit(CYCLE_NOTIFICATIONS_LIMIT);
  return rows.map((r) => ({
    id: r.id,
    signal_type: r.signalType,
    consumed_at: iso(r.consumedAt)!,
    consumed_by: r.consumedBy,
    correlation_id: r.correlationId,
  }));
}
