import type { z } from "@hono/zod-openapi";
import { asc, desc, eq, inArray } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import { commandAttempts, commands } from "../../schema/commands.ts";
import { events } from "../../schema/events.ts";
import { inboxItems } from "../../schema/messages.ts";
import { managerCycles } from "../../schema/observe.ts";
import { loopRuns } from "../../schema/loops.ts";
import {
  acceptanceCriteria,
  continuationReviews,
  epilogueRuns,
  managerConfigs,
  managerDecisions,
  taskAcknowledgements,
  taskContinuations,
  taskHandoffs,
} from "../../schema/supervision.ts";
import { transcriptSegments } from "../../schema/telemetry.ts";
import { adviceRequests } from "../../schema/broker.ts";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { taskByName } from "../tasks/lookup.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { taskSessions } from "./history.ts";
import { maybeRedact, redactText } from "./redact.ts";
import { AuditQuery, AuditResult } from "./schema.ts";

export const auditRoute = defineRoute(
  ["owner", "daemon"],
  {
    method: "get",
    path: "/tasks/{name}/audit",
    tags: ["audit"],
    summary: "Everything recorded about a task, by table, oldest first",
    description:
      "Sections: events, commands, command_attempts, manager_cycles, routed_notifications, correlation_chains, decisions, criteria, broker_actions, bindings, sessions, acknowledgements, handoffs, epilogue_runs, continuations, continuation_reviews, loop_runs, manager_configs, transcript_segments. Each section holds at most `limit` rows (the first ones); `truncated` names the sections that had more (page through them with replay). Content fields are redacted unless include_content=true. CLI: audit TASK.",
    request: { params: TaskNameParam, query: AuditQuery },
    responses: { 200: jsonResponse(AuditResult, "Sections") },
  },
  { rateLimited: true },
);

const camelToSnake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * A stored row as wire JSON: snake_case keys, `…At` times as ISO strings, JSON columns and the
 * named text columns redacted unless content is asked for.
 */
export function wireRow(row: Record<string, unknown>, include: boolean, textContent: string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    const key = camelToSnake(k);
    if (/At$/.test(k) && (typeof v === "number" || v === null)) out[key] = iso(v as number | null);
    else if (textContent.includes(k)) out[key] = redactText(v as string | null, include);
    else if (v && typeof v === "object") out[key] = maybeRedact(v, include);
    else out[key] = v;
  }
  return out;
}

/** Every table's record of a task, one section each, redacted unless asked. */
export async function auditTask(ctx: Ctx, name: string, q: z.output<typeof AuditQuery>) {
  const task = await taskByName(ctx, name);
  const inc = q.include_content;
  const n = q.limit + 1;
  const db = ctx.db;
  const id = task.id;
  const ts = await taskSessions(ctx, id);
  const sids = [...ts.byId.keys()];
  const [ev, cmds, cycles, inbox, decisions, criteria, binds, acks, handoffs, epilogues, conts, reviews, loops, configs, segments] = await db.batch([
    db.select().from(events).where(eq(events.taskId, id)).orderBy(asc(events.taskId), asc(events.createdAt)).limit(n),
    db.select().from(commands).where(eq(commands.taskId, id)).orderBy(asc(commands.taskId), asc(commands.createdAt)).limit(n),
    db.select().from(managerCycles).where(eq(managerCycles.taskId, id)).orderBy(asc(managerCycles.taskId), asc(managerCycles.id)).limit(n),
    db.select().from(inboxItems).where(eq(inboxItems.taskId, id)).orderBy(asc(inboxItems.taskId), asc(inboxItems.createdAt)).limit(n),
    db.select().from(managerDecisions).where(eq(managerDecisions.taskId, id)).orderBy(asc(managerDecisions.taskId), asc(managerDecisions.id)).limit(n),
    db.select().from(acceptanceCriteria).where(eq(acceptanceCriteria.taskId, id)).orderBy(asc(acceptanceCriteria.taskId), asc(acceptanceCriteria.id)).limit(n),
    db.select().from(bindings).where(eq(bindings.taskId, id)).orderBy(asc(bindings.taskId), asc(bindings.createdAt)).limit(n),
    db
      .select()
      .from(taskAcknowledgements)
      .where(eq(taskAcknowledgements.taskId, id))
      .orderBy(asc(taskAcknowledgements.taskId), asc(taskAcknowledgements.createdAt))
      .limit(n),
    db.select().from(taskHandoffs).where(eq(taskHandoffs.taskId, id)).orderBy(asc(taskHandoffs.taskId), asc(taskHandoffs.createdAt)).limit(n),
    db
      .select()
      .from(epilogueRuns)
      .where(eq(epilogueRuns.taskId, id))
      .orderBy(asc(epilogueRuns.taskId), asc(epilogueRuns.step), asc(epilogueRuns.createdAt))
      .limit(n),
    db
      .select()
      .from(taskContinuations)
      .where(eq(taskContinuations.taskId, id))
      .orderBy(asc(taskContinuations.taskId), asc(taskContinuations.createdAt))
      .limit(n),
    db
      .select()
      .from(continuationReviews)
      .where(eq(continuationReviews.taskId, id))
      .orderBy(asc(continuationReviews.taskId), asc(continuationReviews.createdAt))
      .limit(n),
    db.select().from(loopRuns).where(eq(loopRuns.taskId, id)).orderBy(asc(loopRuns.taskId), asc(loopRuns.createdAt)).limit(n),
    db.select().from(managerConfigs).where(eq(managerConfigs.taskId, id)).orderBy(desc(managerConfigs.taskId), desc(managerConfigs.revision)).limit(n),
    db.select().from(transcriptSegments).where(eq(transcriptSegments.taskId, id)).orderBy(asc(transcriptSegments.taskId), asc(transcriptSegments.id)).limit(n),
  ]);
  const truncated: string[] = [];
  // The sessions of the newest bindings only (taskSessions); older ones are named by id.
  if (ts.truncated) truncated.push("sessions");
  const cut = <T>(section: string, rows: T[]): T[] => {
    if (rows.length <= q.limit) return rows;
    truncated.push(section);
    return rows.slice(0, q.limit);
  };
  const cmdRows = cut("commands", cmds);
  const attempts = cmdRows.length
    ? await db
        .select()
        .from(commandAttempts)
        .where(
          inArray(
            commandAttempts.commandId,
            cmdRows.map((c) => c.id),
          ),
        )
    : [];
  attempts.sort((a, b) => a.startedAt - b.startedAt);
  // Broker actions: the advice the task's sessions asked for or were sent, per session (index-served).
  const brokerRows = sids.length
    ? (
        await db.batch([
          db.select().from(adviceRequests).where(inArray(adviceRequests.requesterSessionId, sids)).limit(n),
          db.select().from(adviceRequests).where(inArray(adviceRequests.toSessionId, sids)).limit(n),
        ])
      ).flat()
    : [];
  const broker = cut(
    "broker_actions",
    [...new Map(brokerRows.map((r) => [r.id, r])).values()].sort((a, b) => a.createdAt - b.createdAt),
  );

  const inboxRows = cut("routed_notifications", inbox);
  const decisionRows = cut("decisions", decisions);
  const name_ = (sid: string | null) => (sid ? (ts.byId.get(sid)?.name ?? sid) : null);
  // A correlation chain: every command, notification and decision that shares a correlation id.
  const chains = new Map<string, { correlation_id: string; commands: string[]; notifications: string[]; first_at: number; last_at: number }>();
  const link = (corr: string | null, at: number, kind: "commands" | "notifications", rowId: string) => {
    if (!corr) return;
    const c = chains.get(corr) ?? { correlation_id: corr, commands: [], notifications: [], first_at: at, last_at: at };
    c[kind].push(rowId);
    c.first_at = Math.min(c.first_at, at);
    c.last_at = Math.max(c.last_at, at);
    chains.set(corr, c);
  };
  for (const c of cmdRows) link(c.correlationId, c.createdAt, "commands", c.id);
  for (const i of inboxRows) link(i.correlationId, i.createdAt, "notifications", i.id);

  const eventRows = cut("events", ev);
  return {
    task: task.name,
    task_id: task.id,
    task_state: task.state,
    content_redacted: !inc,
    count: eventRows.length,
    truncated,
    events: eventRows.map((e) => ({
      id: e.id,
      kind: e.kind,
      task_id: e.taskId,
      session_id: e.sessionId,
      actor: e.actor,
      payload: maybeRedact(e.payload, inc) as Record<string, unknown>,
      created_at: iso(e.createdAt)!,
    })),
    commands: cmdRows.map((c) => wireRow(c, inc)),
    command_attempts: attempts.map((a) => wireRow(a, inc)),
    manager_cycles: cut("manager_cycles", cycles).map((c) => ({
      id: c.id,
      state: c.state,
      worker_state: c.workerState,
      notable_pattern: c.notablePattern,
      worker_session: name_(c.workerSessionId),
      manager_session: name_(c.managerSessionId),
      error: c.error,
      status: maybeRedact(c.status, inc),
      created_at: iso(c.createdAt),
    })),
    routed_notifications: inboxRows.map((i) => ({
      ...wireRow(i, inc),
      source_session: name_(i.sourceSessionId),
      target_session: name_(i.targetSessionId),
    })),
    correlation_chains: [...chains.values()].sort((a, b) => a.first_at - b.first_at).map((c) => ({ ...c, first_at: iso(c.first_at), last_at: iso(c.last_at) })),
    decisions: decisionRows.map((d) => wireRow(d, inc, ["reason"])),
    criteria: cut("criteria", criteria).map((c) => wireRow(c, inc, ["criterion", "rationale"])),
    broker_actions: broker.map((a) => wireRow({ ...a, contextPacket: null }, inc, ["requestText", "draftText", "approvedText", "rejectedReason"])),
    bindings: cut("bindings", binds).map((b) => ({ ...wireRow(b, inc), worker: name_(b.workerSessionId), manager: name_(b.managerSessionId) })),
    sessions: [...ts.byId.values()].map((s) => ({
      id: s.id,
      name: s.name,
      role: s.boundRole,
      state: s.state,
      host: s.host,
      transcript_kind: s.transcriptKind,
    })),
    acknowledgements: cut("acknowledgements", acks).map((a) => wireRow(a, inc)),
    handoffs: cut("handoffs", handoffs).map((h) => wireRow(h, inc, ["summary"])),
    epilogue_runs: cut("epilogue_runs", epilogues).map((e) => wireRow(e, inc)),
    continuations: cut("continuations", conts).map((c) => wireRow(c, inc)),
    continuation_reviews: cut("continuation_reviews", reviews).map((r) => wireRow(r, inc)),
    loop_runs: cut("loop_runs", loops).map((l) => wireRow(l, inc)),
    manager_configs: cut("manager_configs", configs).map((m) => wireRow(m, inc)),
    transcript_segments: cut("transcript_segments", segments).map((s) => wireRow(s, inc, ["content"])),
  };
}
