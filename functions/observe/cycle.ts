import type { z } from "@hono/zod-openapi";
import { managerCycles } from "../../schema/observe.ts";
import { assertBoundSessionOrPrivileged, boundTaskFrom, boundTaskReads } from "../bindings/lookup.ts";
import type { Ctx } from "../lib/ctx.ts";
import { assertPaneOwned, hostFor } from "../lib/local.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import {
  consumedFrom,
  consumedSinceLastCycleRead,
  supervisionContextFrom,
  supervisionReads,
  workerReceiptFrom,
  workerReceiptReads,
} from "../supervision/context.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { classifyPane } from "./classify.ts";
import { ingestCursorRead, ingestFromCursor, type IngestReport } from "./ingest.ts";
import { CycleBody, CycleResult } from "./schema.ts";
import { eventStateFrom, eventStateReads, type IdRef, sessionAlive } from "./status.ts";
import { hookCycleSignalFrom } from "../hooks/cycle-signal.ts";
import { hookStateRead } from "../hooks/ingest.ts";

export const cycleRoute = defineRoute(
  ["owner", "daemon", "session"],
  {
    method: "post",
    path: "/tasks/{name}/cycle",
    tags: ["observe"],
    summary: "One observation cycle of a task's worker",
    description:
      "Ingests the worker transcript, derives busy/idle/unknown, captures and classifies the worker pane, records a manager_cycles row. A session may cycle only a task it manages. CLI: cycle TASK.",
    request: { params: TaskNameParam, body: { ...jsonBody(CycleBody), required: false } },
    responses: { 200: jsonResponse(CycleResult, "Cycle report") },
  },
  { rateLimited: true },
);

export type CycleInput = z.infer<typeof CycleBody>;

/**
 * Runs one supervision cycle and records it; an ingest failure records a failed row and rethrows.
 * Everything the cycle reads goes in one batch keyed by the task's name, before the transcript is
 * looked at (the ingest cursor must be read before the file, see ingest.ts); the transcript-derived
 * reads are taken again only when the ingest wrote something. With nothing new a cycle costs that
 * batch and the insert of its row.
 */
export async function cycleTask(ctx: Ctx, taskName: string, input: CycleInput = {}) {
  const db = ctx.db;
  const keys = boundTaskReads(ctx, taskName);
  const transcriptReads = (workerId: IdRef) => [...eventStateReads(ctx, workerId), ...workerReceiptReads(ctx, workerId)] as const;
  const [t, b, w, m, cursors, s0, s1, s2, done, start, ...rest] = await db.batch([
    ...keys.reads,
    ingestCursorRead(ctx, keys.workerId),
    ...transcriptReads(keys.workerId),
    ...supervisionReads(ctx, keys.taskId),
    consumedSinceLastCycleRead(ctx, keys.taskId, keys.managerId),
    hookStateRead(ctx, keys.workerId),
  ]);
  const bt = boundTaskFrom(taskName, [t, b, w, m]);
  assertBoundSessionOrPrivileged(ctx, bt, ["manager"]);
  const busyWait = input.busy_wait_seconds ?? 90;
  const { task, binding, worker, manager } = bt;
  const startedAt = ctx.now().getTime();

  let ingest: IngestReport;
  let transcript = [s0, s1, s2, done, start] as const;
  try {
    const r = await ingestFromCursor(ctx, worker, { cursor: cursors[0] });
    ingest = r.report;
    if (r.wrote) transcript = await db.batch(transcriptReads(worker.id));
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    await ctx.db.insert(managerCycles).values({
      taskId: task.id,
      bindingId: binding.id,
      workerSessionId: worker.id,
      managerSessionId: manager.id,
      state: "failed",
      error: message,
      createdAt: ctx.now().getTime(),
    });
    throw e;
  }

  const [configs, handoffs, wAcks, mAcks, criteria, consumedRows, hookRows] = rest;
  const st = eventStateFrom(ctx, [transcript[0], transcript[1], transcript[2]]);
  const [workerAlive, managerAlive, supervision] = await Promise.all([
    sessionAlive(ctx, worker),
    sessionAlive(ctx, manager),
    supervisionContextFrom(ctx, task, [configs, handoffs, wAcks, mAcks, criteria], workerReceiptFrom([transcript[3], transcript[4]]), {
      taskCompleted: st.task_completed,
    }),
  ]);
  const consumed = consumedFrom(consumedRows);
  const pane = await paneSignal(ctx, worker, {
    state: st.state,
    stalenessSeconds: st.staleness_seconds,
    recentEventCount: ingest.new_events,
    busyWaitSeconds: busyWait,
  });

  // The agent's own hooks, when installed, are the first signal; transcript and pane cross-check.
  const hooks = hookCycleSignalFrom(ctx, worker, hookRows[0] ?? null, st, pane);

  const body = {
    kind: "session_cycle" as const,
    task: task.name,
    worker_session: worker.name,
    manager_session: manager.name,
    binding_id: binding.id,
    ingest: {
      new_events: ingest.new_events,
      new_lines: ingest.new_lines,
      new_offset: ingest.new_offset,
      skipped_lines: ingest.skipped_lines,
      truncated: ingest.truncated,
      rotated: ingest.rotated,
      clock_skew_ms: ingest.clock_skew_ms,
      warnings: ingest.warnings,
    },
    state: st.state,
    last_state_event_at: st.last_state_event_at,
    staleness_seconds: st.staleness_seconds,
    last_event_subtype: st.last_event_subtype,
    task_completed: st.task_completed,
    worker_alive: workerAlive,
    manager_alive: managerAlive,
    busy_wait_seconds: busyWait,
    notable_pane_pattern: pane.notable_pattern,
    pane_signal: pane,
    ...hooks,
    manager_context: {
      task_goal: task.goal,
      task_summary: task.summary,
      last_worker_message: st.last_agent_message,
      ...supervision,
    },
    consumed_dispatch_notifications: consumed,
    cycle_started_at: iso(startedAt)!,
    cycle_completed_at: iso(ctx.now().getTime())!,
  };
  const [row] = await ctx.db
    .insert(managerCycles)
    .values({
      taskId: task.id,
      bindingId: binding.id,
      workerSessionId: worker.id,
      managerSessionId: manager.id,
      state: "ok",
      workerState: st.state,
      notablePattern: pane.notable_pattern,
      divergence: hooks.divergence,
      status: body,
      createdAt: ctx.now().getTime(),
    })
    .returning({ id: managerCycles.id, createdAt: managerCycles.createdAt });
  return { ...body, cycle_id: row!.id, observed_at: iso(row!.createdAt)! };
}

/** Captures and classifies the worker pane; capture problems are reported, never fatal. */
async function paneSignal(ctx: Ctx, worker: Parameters<typeof sessionAlive>[1], cctx: Parameters<typeof classifyPane>[1]) {
  if (!worker.tmuxSession) return { captured: false, reason: "session has no tmux pane", classifier: null, notable_pattern: null };
  let text: string;
  try {
    const host = hostFor(ctx, worker);
    await assertPaneOwned(host, worker.tmuxSession, { pid: worker.pid, startedAt: worker.pidStartedAt, transcriptPath: worker.transcriptPath });
    text = await host.tmuxCapturePane(worker.tmuxSession);
  } catch (e) {
    return { captured: false, reason: (e as Error).message, classifier: null, notable_pattern: null };
  }
  const classifier = classifyPane(text, cctx);
  return { captured: true, reason: null, classifier, notable_pattern: classifier.pattern };
}
