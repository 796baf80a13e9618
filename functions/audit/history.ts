import { and, asc, eq, inArray, sql, type SQL } from "drizzle-orm";
import { adviceRequests } from "../../schema/broker.ts";
import { bindings } from "../../schema/bindings.ts";
import { commandAttempts, commands } from "../../schema/commands.ts";
import { events } from "../../schema/events.ts";
import { inboxItems } from "../../schema/messages.ts";
import { managerCycles, transcriptEvents } from "../../schema/observe.ts";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import { acceptanceCriteria, managerDecisions } from "../../schema/supervision.ts";
import type { TaskRow } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { decodeCursor, encodeCursor } from "../lib/paging.ts";
import { iso } from "../lib/sql.ts";
import { maybeRedact, redactText } from "./redact.ts";

/** Where a replay entry comes from. */
export const REPLAY_SOURCES = ["cycle", "audit", "command", "inbox", "decision", "criterion", "broker", "transcript"] as const;
export type ReplaySource = (typeof REPLAY_SOURCES)[number];

/** One line of a task's reconstructed history. */
export interface ReplayEntry {
  at: string;
  source: ReplaySource;
  id: string;
  /** The role of the session the entry is about, when it is about one. */
  role: "worker" | "manager" | null;
  session: string | null;
  /** A one-line description: states, names and ids, never content. */
  summary: string;
  /** The stored details (content redacted unless asked for). */
  detail: Record<string, unknown>;
}

/** The sessions a task ever had bound, by id. */
export interface TaskSessions {
  byId: Map<string, SessionRow & { boundRole: "worker" | "manager" }>;
}

/** The most sessions a task's history names (bindings over a task's life are few). */
const MAX_TASK_SESSIONS = 50;

/** Every session the task was ever bound to, with the role it had. */
export async function taskSessions(ctx: Ctx, taskId: string): Promise<TaskSessions> {
  const rows = await ctx.db
    .select({ worker: bindings.workerSessionId, manager: bindings.managerSessionId })
    .from(bindings)
    .where(eq(bindings.taskId, taskId))
    .orderBy(asc(bindings.taskId), asc(bindings.createdAt))
    .limit(MAX_TASK_SESSIONS);
  const roles = new Map<string, "worker" | "manager">();
  for (const r of rows) {
    roles.set(r.worker, "worker");
    roles.set(r.manager, "manager");
  }
  const byId = new Map<string, SessionRow & { boundRole: "worker" | "manager" }>();
  if (roles.size) {
    const ss = await ctx.db
      .select()
      .from(sessions)
      .where(inArray(sessions.id, [...roles.keys()]));
    for (const s of ss) byId.set(s.id, { ...s, boundRole: roles.get(s.id)! });
  }
  return { byId };
}

/** Per-source positions of a replay page: [cycle id, events at+rowid, commands at+rowid, inbox at+rowid, decision id, criterion id, broker at+rowid, transcript id]. */
type Position = {
  cycle: number;
  audit: [number, number];
  command: [number, number];
  inbox: [number, number];
  decision: number;
  criterion: number;
  broker: [number, number];
  transcript: number;
};

const START: Position = { cycle: 0, audit: [-1, 0], command: [-1, 0], inbox: [-1, 0], decision: 0, criterion: 0, broker: [-1, 0], transcript: 0 };

function decodePosition(cursor: string | undefined): Position {
  const k = decodeCursor(cursor, 12) as number[] | null;
  if (!k) return START;
  if (!k.every((x) => typeof x === "number")) decodeCursor("!", 12);
  return {
    cycle: k[0]!,
    audit: [k[1]!, k[2]!],
    command: [k[3]!, k[4]!],
    inbox: [k[5]!, k[6]!],
    decision: k[7]!,
    criterion: k[8]!,
    broker: [k[9]!, k[10]!],
    transcript: k[11]!,
  };
}

function encodePosition(p: Position): string {
  return encodeCursor([p.cycle, ...p.audit, ...p.command, ...p.inbox, p.decision, p.criterion, ...p.broker, p.transcript]);
}

/** `(created_at, rowid) > (at, rowid)` for a table with a text primary key, index-served by (task_id, created_at). */
const afterAtRowid = (table: { createdAt: unknown }, name: string, pos: [number, number]): SQL =>
  sql`(${table.createdAt}, ${sql.raw(`"${name}".rowid`)}) > (${pos[0]}, ${pos[1]})`;

const SOURCE_RANK: Record<ReplaySource, number> = { cycle: 0, transcript: 1, audit: 2, command: 3, inbox: 4, decision: 5, criterion: 6, broker: 7 };

export interface ReplayOptions {
  limit: number;
  cursor?: string;
  role: "all" | "worker" | "manager";
  includeContent: boolean;
  /** Include the sessions' own transcript messages (transcript formats). */
  transcript: boolean;
}

/**
 * One page of a task's history, oldest first, merged across every table that records what
 * happened to it. Each source is read after its own keyset position with an index-served
 * range query, all in one batch; the page's cursor carries each source's position, so a page
 * never repeats or skips a row.
 */
export async function replayPage(ctx: Ctx, task: TaskRow, ts: TaskSessions, o: ReplayOptions) {
  const pos = decodePosition(o.cursor);
  const n = o.limit + 1;
  const db = ctx.db;
  const sessionIds = [...ts.byId.keys()];
  const transcriptKinds = ["user_message", "agent_message", "task_complete"] as const;

  const cycleQ = db
    .select()
    .from(managerCycles)
    .where(and(eq(managerCycles.taskId, task.id), sql`${managerCycles.id} > ${pos.cycle}`))
    .orderBy(asc(managerCycles.taskId), asc(managerCycles.id))
    .limit(n);
  const auditQ = db
    .select({ row: events, rowid: sql<number>`"events".rowid` })
    .from(events)
    .where(and(eq(events.taskId, task.id), afterAtRowid(events, "events", pos.audit)))
    .orderBy(asc(events.taskId), asc(events.createdAt), sql`"events".rowid`)
    .limit(n);
  const commandQ = db
    .select({ row: commands, rowid: sql<number>`"commands".rowid` })
    .from(commands)
    .where(and(eq(commands.taskId, task.id), afterAtRowid(commands, "commands", pos.command)))
    .orderBy(asc(commands.taskId), asc(commands.createdAt), sql`"commands".rowid`)
    .limit(n);
  const inboxQ = db
    .select({ row: inboxItems, rowid: sql<number>`"inbox_items".rowid` })
    .from(inboxItems)
    .where(and(eq(inboxItems.taskId, task.id), afterAtRowid(inboxItems, "inbox_items", pos.inbox)))
    .orderBy(asc(inboxItems.taskId), asc(inboxItems.createdAt), sql`"inbox_items".rowid`)
    .limit(n);
  const decisionQ = db
    .select()
    .from(managerDecisions)
    .where(and(eq(managerDecisions.taskId, task.id), sql`${managerDecisions.id} > ${pos.decision}`))
    .orderBy(asc(managerDecisions.taskId), asc(managerDecisions.id))
    .limit(n);
  const criterionQ = db
    .select()
    .from(acceptanceCriteria)
    .where(and(eq(acceptanceCriteria.taskId, task.id), sql`${acceptanceCriteria.id} > ${pos.criterion}`))
    .orderBy(asc(acceptanceCriteria.taskId), asc(acceptanceCriteria.id))
    .limit(n);
  // One query per session and direction, each an index range in order; merged below.
  const brokerQs = sessionIds.flatMap((sid) =>
    (["requester", "to"] as const).map((dir) => {
      const col = dir === "requester" ? adviceRequests.requesterSessionId : adviceRequests.toSessionId;
      return db
        .select({ row: adviceRequests, rowid: sql<number>`"advice_requests".rowid` })
        .from(adviceRequests)
        .where(and(eq(col, sid), afterAtRowid(adviceRequests, "advice_requests", pos.broker)))
        .orderBy(asc(col), asc(adviceRequests.createdAt), sql`"advice_requests".rowid`)
        .limit(n);
    }),
  );
  const transcriptQs = o.transcript
    ? sessionIds.flatMap((sid) =>
        transcriptKinds.map((kind) =>
          db
            .select()
            .from(transcriptEvents)
            .where(and(eq(transcriptEvents.sessionId, sid), eq(transcriptEvents.kind, kind), sql`${transcriptEvents.id} > ${pos.transcript}`))
            .orderBy(asc(transcriptEvents.sessionId), asc(transcriptEvents.kind), asc(transcriptEvents.id))
            .limit(n),
        ),
      )
    : [];

  // biome-ignore lint/suspicious/noExplicitAny: one batch of differently typed selects, typed again below.
  const all = (await db.batch([cycleQ, auditQ, commandQ, inboxQ, decisionQ, criterionQ, ...brokerQs, ...transcriptQs] as any)) as unknown[];
  const cycles = all[0] as Awaited<typeof cycleQ>;
  const audits = all[1] as Awaited<typeof auditQ>;
  const cmds = all[2] as Awaited<typeof commandQ>;
  const inbox = all[3] as Awaited<typeof inboxQ>;
  const decisions = all[4] as Awaited<typeof decisionQ>;
  const criteria = all[5] as Awaited<typeof criterionQ>;
  const rest = all.slice(6);
  const brokerRows = dedupe(
    (rest.slice(0, brokerQs.length) as Array<Array<{ row: typeof adviceRequests.$inferSelect; rowid: number }>>).flat(),
    (r) => r.row.id,
  )
    .sort((a, b) => a.row.createdAt - b.row.createdAt || a.rowid - b.rowid)
    .slice(0, n);
  const transcriptRows = (rest.slice(brokerQs.length) as Array<Array<typeof transcriptEvents.$inferSelect>>)
    .flat()
    .sort((a, b) => a.id - b.id)
    .slice(0, n);

  // Attempts of the commands on this page, by command (index: command_id, started_at).
  const attemptsByCommand = new Map<string, Array<typeof commandAttempts.$inferSelect>>();
  if (cmds.length) {
    const atts = await db
      .select()
      .from(commandAttempts)
      .where(
        inArray(
          commandAttempts.commandId,
          cmds.map((c) => c.row.id),
        ),
      );
    for (const a of atts) attemptsByCommand.set(a.commandId, [...(attemptsByCommand.get(a.commandId) ?? []), a]);
    for (const list of attemptsByCommand.values()) list.sort((a, b) => a.startedAt - b.startedAt);
  }

  const inc = o.includeContent;
  const who = (sid: string | null | undefined) => (sid ? ts.byId.get(sid) : undefined);
  type Cand = { at: number; key: number; src: ReplaySource; advance: (p: Position) => void; entry: () => ReplayEntry };
  const cands: Cand[] = [];
  for (const c of cycles) {
    const st = (c.status ?? {}) as Record<string, any>;
    cands.push({
      at: c.createdAt,
      key: c.id,
      src: "cycle",
      advance: (p) => {
        p.cycle = c.id;
      },
      entry: () => ({
        at: iso(c.createdAt)!,
        source: "cycle",
        id: String(c.id),
        role: "manager",
        session: who(c.managerSessionId)?.name ?? null,
        summary:
          `cycle ${c.id} ${c.state}` +
          (c.workerState ? ` worker ${c.workerState}` : "") +
          (st.ingest ? ` +${st.ingest.new_events ?? 0} events` : "") +
          (c.notablePattern ? ` [pane pattern: ${c.notablePattern}]` : "") +
          (c.error ? ` error: ${c.error.slice(0, 200)}` : ""),
        detail: maybeRedact(
          {
            cycle_id: c.id,
            state: c.state,
            worker_state: c.workerState,
            notable_pane_pattern: c.notablePattern,
            error: c.error,
            ...(inc
              ? { status: c.status }
              : { ingest: st.ingest ?? null, staleness_seconds: st.staleness_seconds ?? null, task_completed: st.task_completed ?? null }),
          },
          inc,
        ),
      }),
    });
  }
  for (const { row: e, rowid } of audits) {
    cands.push({
      at: e.createdAt,
      key: rowid,
      src: "audit",
      advance: (p) => {
        p.audit = [e.createdAt, rowid];
      },
      entry: () => ({
        at: iso(e.createdAt)!,
        source: "audit",
        id: e.id,
        role: who(e.sessionId)?.boundRole ?? null,
        session: who(e.sessionId)?.name ?? null,
        summary: `${e.kind} by ${e.actor}`,
        detail: { kind: e.kind, actor: e.actor, payload: maybeRedact(e.payload, inc) },
      }),
    });
  }
  for (const { row: c, rowid } of cmds) {
    cands.push({
      at: c.createdAt,
      key: rowid,
      src: "command",
      advance: (p) => {
        p.command = [c.createdAt, rowid];
      },
      entry: () => {
        const atts = attemptsByCommand.get(c.id) ?? [];
        return {
          at: iso(c.createdAt)!,
          source: "command",
          id: c.id,
          role: who(c.sessionId)?.boundRole ?? null,
          session: who(c.sessionId)?.name ?? null,
          summary: `command ${c.type} ${c.state} (${atts.length} attempt${atts.length === 1 ? "" : "s"})${c.correlationId ? ` corr ${c.correlationId}` : ""}${c.error ? ` error: ${c.error.slice(0, 200)}` : ""}`,
          detail: {
            type: c.type,
            state: c.state,
            correlation_id: c.correlationId,
            created_by: c.createdBy,
            payload: maybeRedact(c.payload, inc),
            result: maybeRedact(c.result, inc),
            error: c.error,
            completed_at: iso(c.completedAt),
            attempts: atts.map((a) => ({
              id: a.id,
              dispatcher_id: a.dispatcherId,
              side_effect_started: a.sideEffectStarted,
              side_effect_completed: a.sideEffectCompleted,
              error: a.error,
              started_at: iso(a.startedAt),
              finished_at: iso(a.finishedAt),
            })),
          },
        };
      },
    });
  }
  for (const { row: i, rowid } of inbox) {
    cands.push({
      at: i.createdAt,
      key: rowid,
      src: "inbox",
      advance: (p) => {
        p.inbox = [i.createdAt, rowid];
      },
      entry: () => ({
        at: iso(i.createdAt)!,
        source: "inbox",
        id: i.id,
        role: who(i.targetSessionId)?.boundRole ?? null,
        session: who(i.targetSessionId)?.name ?? null,
        summary:
          `routed ${i.signalType} ${who(i.sourceSessionId)?.name ?? i.sourceSessionId ?? "-"} -> ${who(i.targetSessionId)?.name ?? i.targetSessionId} (${i.deliveryMode})` +
          (i.deliveredAt ? ` delivered ${iso(i.deliveredAt)}` : " not delivered") +
          (i.consumedAt ? ` consumed by ${i.consumedBy ?? "-"} ${iso(i.consumedAt)}` : " not consumed"),
        detail: {
          signal_type: i.signalType,
          delivery_mode: i.deliveryMode,
          source_session: who(i.sourceSessionId)?.name ?? i.sourceSessionId,
          target_session: who(i.targetSessionId)?.name ?? i.targetSessionId,
          correlation_id: i.correlationId,
          source_event_id: i.sourceEventId,
          delivery_command_id: i.deliveryCommandId,
          delivered_at: iso(i.deliveredAt),
          consumed_by: i.consumedBy,
          consumed_at: iso(i.consumedAt),
          payload: maybeRedact(i.payload, inc),
        },
      }),
    });
  }
  for (const d of decisions) {
    cands.push({
      at: d.createdAt,
      key: d.id,
      src: "decision",
      advance: (p) => {
        p.decision = d.id;
      },
      entry: () => ({
        at: iso(d.createdAt)!,
        source: "decision",
        id: String(d.id),
        role: "manager",
        session: null,
        summary: `decision ${d.id} ${d.decision}${d.cycleId ? ` (cycle ${d.cycleId})` : ""} by ${d.createdBy}`,
        detail: { decision: d.decision, reason: redactText(d.reason, inc), cycle_id: d.cycleId, created_by: d.createdBy, payload: maybeRedact(d.payload, inc) },
      }),
    });
  }
  for (const c of criteria) {
    cands.push({
      at: c.createdAt,
      key: c.id,
      src: "criterion",
      advance: (p) => {
        p.criterion = c.id;
      },
      entry: () => ({
        at: iso(c.createdAt)!,
        source: "criterion",
        id: String(c.id),
        role: c.source === "worker_proposed" ? "worker" : "manager",
        session: null,
        summary: `criterion ${c.id} ${c.source} now ${c.status}${c.evidenceType ? ` evidence ${c.evidenceType}` : ""}`,
        detail: {
          status: c.status,
          source: c.source,
          criterion: redactText(c.criterion, inc),
          evidence_type: c.evidenceType,
          evidence: maybeRedact(c.evidence, inc),
          created_by: c.createdBy,
          updated_at: iso(c.updatedAt),
        },
      }),
    });
  }
  for (const { row: a, rowid } of brokerRows) {
    cands.push({
      at: a.createdAt,
      key: rowid,
      src: "broker",
      advance: (p) => {
        p.broker = [a.createdAt, rowid];
      },
      entry: () => ({
        at: iso(a.createdAt)!,
        source: "broker",
        id: a.id,
        role: who(a.requesterSessionId)?.boundRole ?? null,
        session: who(a.requesterSessionId)?.name ?? null,
        summary:
          `advice ${a.id} ${a.state}` +
          (a.approvedBy ? ` approved by ${a.approvedBy} ${iso(a.approvedAt)}` : "") +
          (a.rejectedAt ? ` rejected ${iso(a.rejectedAt)}` : "") +
          (a.sentAt ? ` sent ${iso(a.sentAt)}` : ""),
        detail: {
          state: a.state,
          run_id: a.runId,
          requester_session: who(a.requesterSessionId)?.name ?? a.requesterSessionId,
          to_session: who(a.toSessionId)?.name ?? a.toSessionId,
          request_text: redactText(a.requestText, inc),
          draft_text: redactText(a.draftText, inc),
          approved_text: redactText(a.approvedText, inc),
          approved_by: a.approvedBy,
          approved_at: iso(a.approvedAt),
          rejected_reason: redactText(a.rejectedReason, inc),
          sent_message_id: a.sentMessageId,
          sent_at: iso(a.sentAt),
          policy_reason: a.policyReason,
        },
      }),
    });
  }
  for (const t of transcriptRows) {
    const at = t.observedAt ?? t.eventAt ?? t.ingestedAt;
    cands.push({
      at,
      key: t.id,
      src: "transcript",
      advance: (p) => {
        p.transcript = t.id;
      },
      entry: () => ({
        at: iso(at)!,
        source: "transcript",
        id: String(t.id),
        role: who(t.sessionId)?.boundRole ?? null,
        session: who(t.sessionId)?.name ?? null,
        summary: `${who(t.sessionId)?.name ?? t.sessionId} ${t.kind}${t.subtype && t.subtype !== t.kind ? `/${t.subtype}` : ""}${t.text ? ` (${t.text.length} chars)` : ""}`,
        detail: { kind: t.kind, subtype: t.subtype, text: redactText(t.text, inc) },
      }),
    });
  }

  // Per source, rows arrive in key order; a merge by (time, source rank, key) keeps that order.
  cands.sort((a, b) => a.at - b.at || SOURCE_RANK[a.src] - SOURCE_RANK[b.src] || a.key - b.key);
  const taken = cands.slice(0, o.limit);
  const next: Position = structuredClone(pos);
  for (const c of taken) c.advance(next);
  const entries = taken.map((c) => c.entry()).filter((e) => o.role === "all" || e.role === o.role);
  const more = cands.length > taken.length;
  return { entries, next_cursor: more ? encodePosition(next) : null, scanned: taken.length };
}

function dedupe<T>(rows: T[], key: (r: T) => string): T[] {
  const seen = new Set<string>();
  return rows.filter((r) => {
    const k = key(r);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
