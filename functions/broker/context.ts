import { and, desc, eq, inArray, or, sql } from "drizzle-orm";
import type { AdviceRequestRow } from "../../schema/broker.ts";
import { bindings } from "../../schema/bindings.ts";
import { messages } from "../../schema/messages.ts";
import { events } from "../../schema/events.ts";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import { tasks } from "../../schema/tasks.ts";
import { redactContent } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { iso, eqLiteral } from "../lib/sql.ts";
import { researchPolicyOf } from "./wire.ts";

/** Bumped whenever the packet's shape changes, so stored packets say which shape they have. */
export const CONTEXT_PACKET_VERSION = 1;
/** How many of the requester's (and its task's) latest audit events go into a packet. */
export const RECENT_AUDIT_EVENTS = 20;
/** Longest thread copied into a packet; older messages are counted, not copied. */
export const MAX_THREAD_MESSAGES = 50;

function sessionSummary(s: SessionRow) {
  return {
    id: s.id,
    name: s.name,
    role: s.role,
    state: s.state,
    host: s.host,
    cwd: s.cwd,
    tmux_session: s.tmuxSession,
    last_heartbeat_at: iso(s.lastHeartbeatAt),
    created_at: iso(s.createdAt),
  };
}

/**
 * Everything a drafter (built-in or external) and the reviewing owner see about one request:
 * the request, its whole thread, the requesting session with its task and binding, and the
 * requester's recent audit activity. It is stored on the advice row as assembled, so a review
 * shows exactly what the draft was made from. Audit payloads are redacted: they can hold other
 * agents' content, and the packet may be handed to an external command.
 */
export async function buildContextPacket(ctx: Ctx, advice: AdviceRequestRow): Promise<Record<string, unknown>> {
  const [request] = await ctx.db.select().from(messages).where(eq(messages.id, advice.sourceMessageId)).limit(1);
  // The newest messages only, and the rest counted off the thread index: a long thread is not
  // read whole for the page of it the packet copies.
  const [[{ total } = { total: 0 }], lastPage] = await ctx.db.batch([
    ctx.db.select({ total: sql<number>`count(*)` }).from(messages).where(eq(messages.threadId, advice.threadId)),
    ctx.db
      .select()
      .from(messages)
      .where(eq(messages.threadId, advice.threadId))
      .orderBy(desc(messages.createdAt), desc(messages.id))
      .limit(MAX_THREAD_MESSAGES),
  ]);
  const shown = lastPage.reverse();
  const sessionIds = [
    ...new Set([
      advice.toSessionId,
      ...(advice.requesterSessionId ? [advice.requesterSessionId] : []),
      ...shown.flatMap((m) => [m.toSessionId, ...(m.fromSessionId ? [m.fromSessionId] : [])]),
    ]),
  ];
  const known = new Map((await ctx.db.select().from(sessions).where(inArray(sessions.id, sessionIds))).map((s) => [s.id, s]));
  const nameOf = (id: string | null) => (id ? (known.get(id)?.name ?? null) : null);

  const requester = advice.requesterSessionId ? (known.get(advice.requesterSessionId) ?? null) : null;
  let binding = null;
  let task = null;
  if (requester) {
    const [b] = await ctx.db
      .select()
      .from(bindings)
      .where(and(eqLiteral(bindings.state, "active"), or(eq(bindings.workerSessionId, requester.id), eq(bindings.managerSessionId, requester.id))))
      .limit(1);
    if (b) {
      const [t] = await ctx.db.select().from(tasks).where(eq(tasks.id, b.taskId)).limit(1);
      const peerIds = [b.workerSessionId, b.managerSessionId];
      const peers = new Map(
        (await ctx.db.select({ id: sessions.id, name: sessions.name, state: sessions.state }).from(sessions).where(inArray(sessions.id, peerIds))).map((s) => [
          s.id,
          s,
        ]),
      );
      binding = {
        id: b.id,
        requester_role: b.workerSessionId === requester.id ? "worker" : "manager",
        worker: peers.get(b.workerSessionId)?.name ?? b.workerSessionId,
        worker_state: peers.get(b.workerSessionId)?.state ?? null,
        manager: peers.get(b.managerSessionId)?.name ?? b.managerSessionId,
        manager_state: peers.get(b.managerSessionId)?.state ?? null,
        created_at: iso(b.createdAt),
      };
      if (t) task = { id: t.id, name: t.name, goal: t.goal, summary: t.summary, state: t.state };
    }
  }

  // One indexed, limited query per scope (session, task), merged here: an OR across the two
  // would make SQLite sort every event of a long-lived session on each packet.
  const newest = (where: ReturnType<typeof eq>) =>
    ctx.db.select().from(events).where(where).orderBy(desc(events.createdAt), desc(events.id)).limit(RECENT_AUDIT_EVENTS);
  const scoped = [...(requester ? [await newest(eq(events.sessionId, requester.id))] : []), ...(task ? [await newest(eq(events.taskId, task.id))] : [])];
  const seen = new Set<string>();
  const recent = scoped
    .flat()
    .filter((e) => !seen.has(e.id) && seen.add(e.id))
    .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .slice(0, RECENT_AUDIT_EVENTS);

  return {
    version: CONTEXT_PACKET_VERSION,
    advice_id: advice.id,
    assembled_at: ctx.now().toISOString(),
    policy: { research: researchPolicyOf(advice) },
    request: {
      message_id: advice.sourceMessageId,
      thread_id: advice.threadId,
      from_session_id: advice.requesterSessionId,
      from_session: nameOf(advice.requesterSessionId),
      from_actor: request?.fromActor ?? null,
      to_session_id: advice.toSessionId,
      to_session: nameOf(advice.toSessionId),
      project: advice.project,
      subject: request?.subject ?? null,
      body: advice.requestText,
      created_at: iso(request?.createdAt),
    },
    thread: {
      total_messages: Number(total),
      messages: shown.map((m) => ({
        id: m.id,
        msg_type: m.msgType,
        from_session: nameOf(m.fromSessionId),
        from_actor: m.fromActor,
        to_session: nameOf(m.toSessionId),
        in_reply_to: m.inReplyTo,
        subject: m.subject,
        body: m.body,
        created_at: iso(m.createdAt),
      })),
    },
    requester: {
      session: requester ? sessionSummary(requester) : null,
      binding,
      task,
    },
    recent_activity: recent.map((e) => ({
      id: e.id,
      kind: e.kind,
      actor: e.actor,
      task_id: e.taskId,
      session_id: e.sessionId,
      created_at: iso(e.createdAt),
      payload: redactContent(e.payload),
    })),
  };
}
