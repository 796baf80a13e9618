import { and, asc, eq, gt, sql } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import { inboxItems } from "../../schema/messages.ts";
import { transcriptEvents } from "../../schema/observe.ts";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import { tasks } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ingestSession } from "../observe/ingest.ts";
import { turnReceipt } from "../supervision/context.ts";
import { createInboxItem } from "./items.ts";
import { canReach } from "../lib/local.ts";
import { eqLiteral } from "../lib/sql.ts";

/** What one routing pass did (a type alias, so it fits a generic report record). */
export type RoutingReport = {
  /** Active bindings looked at. */
  bindings: number;
  /** Worker transcripts ingested before routing (those readable on this host). */
  ingested: number;
  /** Ingests that failed; routing still used the events already stored. */
  ingest_errors: Array<{ session: string; error: string }>;
  /** Completions that became a new manager inbox item in this pass. */
  routed: number;
  /** Completions another pass routed first (the dedup key refused the second item). */
  suppressed_duplicates: number;
  /** The inbox items this pass created. */
  items: Array<{ inbox_item_id: string; task: string; manager: string; source_event_id: number; correlation_id: string | null }>;
};

/** The dedup key of one completion routed under one binding. */
export function completionKey(bindingId: string, eventId: number): string {
  return `worker_task_complete:${bindingId}:${eventId}`;
}

/**
 * The dedup key of the completion of one agent turn under one binding. A completion known by
 * its turn id is the same item whether the transcript or a Stop hook reported it first.
 */
export function turnCompletionKey(bindingId: string, turnId: string): string {
  return `worker_task_complete:${bindingId}:turn:${turnId}`;
}

/** True when this process can read the worker's transcript file. */
function transcriptReadableHere(ctx: Ctx, s: SessionRow): boolean {
  return !!s.transcriptPath && !!s.transcriptKind && canReach(ctx, s.host);
}

/**
 * Routes every bound worker's `task_complete` events to its bound manager's inbox. Only events
 * above the binding's watermark count, so a completion from an earlier binding or spawn of the
 * worker never reaches a new manager; one item per (source event, binding), enforced by the
 * dedup key, so concurrent passes and retries never duplicate. Dispatch states the fact; it does
 * not judge whether the work is done.
 */
export async function routeCompletions(ctx: Ctx): Promise<RoutingReport> {
  const report: RoutingReport = { bindings: 0, ingested: 0, ingest_errors: [], routed: 0, suppressed_duplicates: 0, items: [] };
  const active = await ctx.db
    .select({ binding: bindings, task: tasks.name })
    .from(bindings)
    .innerJoin(tasks, eq(tasks.id, bindings.taskId))
    .where(eqLiteral(bindings.state, "active"))
    .orderBy(asc(bindings.createdAt));
  for (const { binding, task } of active) {
    report.bindings++;
    const [worker] = await ctx.db.select().from(sessions).where(eq(sessions.id, binding.workerSessionId)).limit(1);
    const [manager] = await ctx.db.select().from(sessions).where(eq(sessions.id, binding.managerSessionId)).limit(1);
    if (!worker || !manager) continue;
    if (transcriptReadableHere(ctx, worker)) {
      try {
        await ingestSession(ctx, worker);
        report.ingested++;
      } catch (e) {
        report.ingest_errors.push({ session: worker.name, error: (e as Error).message });
      }
    }
    // Completions already routed under this binding are skipped in the query, so a pass costs
    // only what is new; the dedup key still settles races between concurrent passes.
    const fresh = await ctx.db
      .select()
      .from(transcriptEvents)
      .where(
        and(
          eq(transcriptEvents.sessionId, worker.id),
          eq(transcriptEvents.kind, "task_complete"),
          gt(transcriptEvents.id, binding.eventWatermark),
          sql`NOT EXISTS (SELECT 1 FROM ${inboxItems} WHERE ${inboxItems.dedupKey} IN ('worker_task_complete:' || ${binding.id} || ':' || ${transcriptEvents.id}, 'worker_task_complete:' || ${binding.id} || ':turn:' || ${transcriptEvents.turnId}))`,
        ),
      )
      .orderBy(asc(transcriptEvents.id));
    for (const ev of fresh) {
      const receipt = await turnReceipt(ctx, worker.id, ev);
      const created = await createInboxItem(
        ctx,
        {
          target: manager,
          // Switchyard routing a bound worker's completion along the owner's binding.
          originator: "switchyard",
          signalType: "worker_task_complete",
          sourceSessionId: worker.id,
          taskId: binding.taskId,
          bindingId: binding.id,
          sourceEventId: ev.id,
          correlationId: ctx.newId("cor"),
          dedupKey: ev.turnId ? turnCompletionKey(binding.id, ev.turnId) : completionKey(binding.id, ev.id),
          payload: {
            task,
            worker: worker.name,
            manager: manager.name,
            binding_id: binding.id,
            source_event_id: ev.id,
            subtype: ev.subtype,
            event_at: ev.eventAt === null ? null : new Date(ev.eventAt).toISOString(),
            last_agent_message: ev.text,
            turn_id: ev.turnId,
            source: "transcript",
            worker_receipt: receipt,
          },
        },
        { kind: "dispatch_completion_routed", payload: { binding_id: binding.id, source_event_id: ev.id, worker: worker.name, manager: manager.name } },
      );
      if (!created.created) {
        report.suppressed_duplicates++;
        continue;
      }
      report.routed++;
      report.items.push({ inbox_item_id: created.item.id, task, manager: manager.name, source_event_id: ev.id, correlation_id: created.item.correlationId });
    }
  }
  return report;
}
