import type { z } from "@hono/zod-openapi";
import { and, eq, ne, type SQLWrapper, sql } from "drizzle-orm";
import { hookEvents, hookStates, type HookAgent, type HookState, type HookStateRow } from "../../schema/hooks.ts";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { sha256Hex } from "../lib/ids.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { canReach, launchTranscriptRoots } from "../lib/local.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { escalatePermission, reprimeContext, reprimeWanted, routeStopCompletion, workerBinding } from "./effects.ts";
import { resolveHookSession, type MatchedBy } from "./resolve.ts";
import { HookAgentParam, HookAnswer, HookPayload, MAX_HOOK_TEXT } from "./schema.ts";
import { nextHookState, RESET_SOURCES } from "./state.ts";
import { eqLiteral } from "../lib/sql.ts";

export const postHookRoute = defineRoute(
  ["owner", "hook"],
  {
    method: "post",
    path: "/hooks/{agent}",
    tags: ["hooks"],
    summary: "Accept one agent hook event (Claude Code or Codex payload, as the agent sends it)",
    description:
      "Maps the payload to its registered session (hook token's session, else the registered transcript path, which wins over an agent session id a hook reported, then that agent session id, then the Codex thread id), records it once per event (a session's own token cannot claim an agent session id another active session holds), and moves the session's hook state: busy on a prompt or tool call, waiting_for_permission on a permission request, idle on Stop, compacting around compaction, ended on session end. A permission wait puts an item in the bound manager's inbox at once (pull only unless the owner posted it: it carries what the poster reported); a Stop routes the completion to the manager like the transcript's completion of the same turn (deduplicated with it, pushed like it). After /clear or resume, the session switches to the new transcript only once it resolves under the agent's transcript roots, records the agent session the hook reported and belongs to no other active session. The answer is hook output the agent reads: `{}`, or on a SessionStart after /clear, compaction or resume of a task set to re-prime, the worker's context. What happened is in the X-Switchyard-* headers. Install with `switchyard hooks install`.",
    request: { params: HookAgentParam, body: jsonBody(HookPayload) },
    responses: {
      200: jsonResponse(
        HookAnswer,
        "Hook output for the agent (X-Switchyard-Session, -Hook-State, -Hook-Event, -Matched-By, -Duplicate headers say what happened)",
      ),
    },
  },
  // The event and, with an Idempotency-Key, its answer commit in one batch; no pending row
  // first, so a hook post costs no extra write and a duplicate in flight is not a 409.
  { idempotency: "atomic" },
);

export type HookPayloadInput = z.infer<typeof HookPayload>;

/** What the route reports in headers besides the answer. */
export interface HookOutcome {
  answer: z.infer<typeof HookAnswer>;
  session: string | null;
  matchedBy: MatchedBy | null;
  state: HookState | null;
  hookEventId: number | null;
  duplicate: boolean;
  inboxItemId: string | null;
}

const str = (v: unknown): string | null => (typeof v === "string" && v.length > 0 ? v : null);
const clip = (v: unknown): string | null => {
  const s = str(v);
  return s && s.length > MAX_HOOK_TEXT ? `${s.slice(0, MAX_HOOK_TEXT)}…` : s;
};

/** The payload fields kept with the event: identity and what the event was about, never tool output. */
function keptPayload(p: HookPayloadInput): Record<string, unknown> {
  const toolInput = p.tool_input && typeof p.tool_input === "object" ? (p.tool_input as Record<string, unknown>) : null;
  const out: Record<string, unknown> = {
    hook_event_name: p.hook_event_name,
    session_id: p.session_id ?? null,
    cwd: p.cwd ?? null,
    source: p.source ?? null,
    reason: p.reason ?? null,
    notification_type: p.notification_type ?? null,
    trigger: p.trigger ?? null,
    tool_name: p.tool_name ?? null,
    tool_command: clip(toolInput?.command),
    message: clip(p.message),
    prompt: clip(p.prompt),
    last_assistant_message: clip(p.last_assistant_message),
    permission_mode: str(p.permission_mode),
  };
  for (const k of Object.keys(out)) if (out[k] === null) delete out[k];
  return out;
}

/**
 * Records one hook event for the session it belongs to and applies what it means: the session's
 * hook state, a permission escalation to the manager, an early completion route, identity
 * continuity across a context reset. Idempotent per event: the key is the session and a hash of
 * the exact bytes the agent posted, so a retried post changes nothing and answers the same.
 * Costs one principal lookup, one to three indexed session lookups, one insert and one batch;
 * the effects that write inbox items run only on the events that need them.
 */
export async function postHookEvent(ctx: Ctx, agent: HookAgent, p: HookPayloadInput, raw: string, respond?: number): Promise<HookOutcome> {
  const outcome: HookOutcome = { answer: {}, session: null, matchedBy: null, state: null, hookEventId: null, duplicate: false, inboxItemId: null };
  const agentSessionId = str(p.session_id);
  const transcriptPath = str(p.transcript_path);
  const found = await resolveHookSession(ctx, agent, { agentSessionId, transcriptPath });
  if (!found) return outcome;
  const { session } = found;
  outcome.session = session.name;
  outcome.matchedBy = found.by;
  const nowMs = ctx.now().getTime();
  const event = p.hook_event_name;
  const turnId = str(p.turn_id) ?? str(p.prompt_id);
  const prev =
    found.state !== undefined ? (found.state ?? undefined) : (await ctx.db.select().from(hookStates).where(eq(hookStates.sessionId, session.id)).limit(1))[0];
  const next = nextHookState({ event, source: p.source, reason: p.reason, notificationType: p.notification_type, trigger: p.trigger }, prev?.state ?? null);
  // A poster may report any session id (a session's own token, or a host token matching by the
  // transcript path); recording one another session holds would let later events of that agent
  // (a permission wait) be routed to this session's manager. So whoever posted, it is recorded
  // only when no other active session holds it.
  const claimedBy =
    agentSessionId && agentSessionId !== prev?.agentSessionId && agentSessionId !== session.agentSessionId && agentSessionId !== session.threadId
      ? await agentSessionHolder(ctx, session.id, agentSessionId)
      : null;
  const recordedAgentSessionId = claimedBy ? null : agentSessionId;

  const [inserted] = await ctx.db
    .insert(hookEvents)
    .values({
      sessionId: session.id,
      agent,
      eventName: event,
      eventKey: `${session.id}:${await sha256Hex(raw)}`,
      agentSessionId,
      turnId,
      transcriptPath,
      cwd: str(p.cwd),
      stateAfter: next,
      payload: keptPayload(p),
      receivedAt: nowMs,
    })
    .onConflictDoNothing()
    .returning({ id: hookEvents.id });
  if (!inserted) {
    outcome.duplicate = true;
    outcome.state = prev?.state ?? null;
    return outcome;
  }
  const hookEventId = inserted.id;
  outcome.hookEventId = hookEventId;

  // Identity continuity: a reset (or any event naming another transcript than the session's)
  // keeps this Switchyard session and records the agent's new ids.
  const reset = event === "SessionStart" && RESET_SOURCES.has(p.source ?? "");
  const movedTo = transcriptPath && transcriptPath !== session.transcriptPath && found.by === "token" ? transcriptPath : null;
  const pending = movedTo ?? prev?.pendingTranscriptPath ?? null;
  // The new transcript must pass what registration requires of one (see checkNewTranscript).
  const checked = pending ? await checkNewTranscript(ctx, session, pending, movedTo ? agentSessionId : (prev?.agentSessionId ?? agentSessionId)) : null;
  const switchTo = checked?.ok ? checked : null;
  const refused = checked && !checked.ok && !checked.wait ? checked.reason : null;
  const stillPending = switchTo || refused ? null : pending;

  const state = next ?? prev?.state ?? "idle";
  outcome.state = state;
  const changed = next !== null && next !== prev?.state;
  const stmts = [];
  stmts.push(
    ctx.db
      .insert(hookStates)
      .values({
        sessionId: session.id,
        agent,
        state,
        eventName: next ? event : (prev?.eventName ?? event),
        lastEventId: hookEventId,
        agentSessionId: recordedAgentSessionId,
        turnId,
        stateAt: next ? nowMs : (prev?.stateAt ?? nowMs),
        lastEventAt: nowMs,
        events: 1,
        pendingTranscriptPath: stillPending,
      })
      .onConflictDoUpdate({
        target: hookStates.sessionId,
        set: {
          agent,
          state: next ? next : sql`${hookStates.state}`,
          eventName: next ? event : sql`${hookStates.eventName}`,
          stateAt: next ? nowMs : sql`${hookStates.stateAt}`,
          lastEventId: hookEventId,
          agentSessionId: recordedAgentSessionId ?? sql`${hookStates.agentSessionId}`,
          turnId: turnId ?? sql`${hookStates.turnId}`,
          lastEventAt: nowMs,
          events: sql`${hookStates.events} + 1`,
          pendingTranscriptPath: stillPending,
        },
        // Events can overtake each other in flight; only a later one moves the state.
        setWhere: sql`${hookStates.lastEventId} < ${hookEventId}`,
      }),
  );
  if (changed) {
    stmts.push(
      auditInsert(ctx, {
        kind: "hook_state_changed",
        sessionId: session.id,
        payload: { session: session.name, from: prev?.state ?? null, to: next, hook_event: event, hook_event_id: hookEventId },
      }).stmt,
    );
  }
  // Audited once per continuation: at the reset, or when a new transcript is first named.
  if (reset || (movedTo && movedTo !== prev?.pendingTranscriptPath)) {
    stmts.push(
      auditInsert(ctx, {
        kind: "session_identity_continued",
        sessionId: session.id,
        payload: {
          session: session.name,
          source: p.source ?? null,
          hook_event: event,
          agent_session_id: agentSessionId,
          previous_agent_session_id: prev?.agentSessionId ?? null,
          transcript_path: transcriptPath,
          previous_transcript_path: session.transcriptPath,
          switched_now: switchTo !== null,
        },
      }).stmt,
    );
  }
  if (switchTo) {
    const newThread = agent === "codex" ? (switchTo.agentSessionId ?? agentSessionId) : null;
    stmts.push(
      ctx.db
        .update(sessions)
        .set({
          transcriptPath: switchTo.path,
          ...(switchTo.agentSessionId ? { agentSessionId: switchTo.agentSessionId } : {}),
          ...(newThread ? { threadId: newThread } : {}),
          updatedAt: nowMs,
        })
        .where(eq(sessions.id, session.id)),
    );
    stmts.push(
      auditInsert(ctx, {
        kind: "session_transcript_switched",
        sessionId: session.id,
        payload: { session: session.name, from: session.transcriptPath, to: switchTo.path, hook_event_id: hookEventId },
      }).stmt,
    );
  }
  if (claimedBy) {
    stmts.push(
      auditInsert(ctx, {
        kind: "hook_agent_session_refused",
        sessionId: session.id,
        payload: { session: session.name, agent_session_id: agentSessionId, held_by: claimedBy, hook_event_id: hookEventId },
      }).stmt,
    );
  }
  if (refused) {
    stmts.push(
      auditInsert(ctx, {
        kind: "session_transcript_refused",
        sessionId: session.id,
        payload: { session: session.name, transcript_path: pending, reason: refused, hook_event_id: hookEventId },
      }).stmt,
    );
  }

  // Effects for a bound worker: read the binding only for the events that act on it.
  const escalate = next === "waiting_for_permission" && prev?.state !== "waiting_for_permission";
  const wb = escalate || event === "Stop" || reset ? await workerBinding(ctx, session.id) : null;
  // The re-prime is read before the write, so the answer is known when the event commits and
  // an Idempotency-Key's response is stored in that same batch (lib/idempotency.ts).
  if (wb && reset && (await reprimeWanted(ctx, wb.task.id))) {
    const context = await reprimeContext(ctx, session, wb);
    outcome.answer = { hookSpecificOutput: { hookEventName: "SessionStart", additionalContext: context } };
    stmts.push(
      auditInsert(ctx, {
        kind: "session_reprimed",
        taskId: wb.task.id,
        sessionId: session.id,
        payload: { session: session.name, task: wb.task.name, source: p.source ?? null, hook_event_id: hookEventId, chars: context.length },
      }).stmt,
    );
  }
  await batchWithKey(ctx, stmts as [(typeof stmts)[0], ...typeof stmts], respond ? { body: outcome.answer, status: respond } : undefined);

  if (wb) {
    if (escalate) {
      const toolInput = p.tool_input && typeof p.tool_input === "object" ? (p.tool_input as Record<string, unknown>) : null;
      const made = await escalatePermission(ctx, session, wb, {
        hookEventId,
        event,
        tool: str(p.tool_name),
        detail: clip(toolInput?.command) ?? clip(p.message),
      });
      outcome.inboxItemId = made.item.id;
    }
    if (event === "Stop") {
      const made = await routeStopCompletion(ctx, session, wb, { hookEventId, turnId, lastMessage: clip(p.last_assistant_message) });
      outcome.inboxItemId = made.item.id;
    }
  }
  return outcome;
}

/**
 * The name of another active session that holds `agentSessionId`: verified at registration or
 * a transcript switch, as its Codex thread, or recorded by an earlier hook. Three indexed reads
 * in one round trip, made only when a session's token reports an id new to that session.
 */
async function agentSessionHolder(ctx: Ctx, sessionId: string, agentSessionId: string): Promise<string | null> {
  const others = and(eqLiteral(sessions.state, "active"), ne(sessions.id, sessionId));
  const [byHook, byRegistration, byThread] = await ctx.db.batch([
    ctx.db
      .select({ name: sessions.name })
      .from(hookStates)
      .innerJoin(sessions, eq(sessions.id, hookStates.sessionId))
      .where(and(eq(hookStates.agentSessionId, agentSessionId), others))
      .limit(1),
    ctx.db
      .select({ name: sessions.name })
      .from(sessions)
      .where(and(eq(sessions.agentSessionId, agentSessionId), others))
      .limit(1),
    ctx.db
      .select({ name: sessions.name })
      .from(sessions)
      .where(and(eq(sessions.threadId, agentSessionId), others))
      .limit(1),
  ]);
  return byHook[0]?.name ?? byRegistration[0]?.name ?? byThread[0]?.name ?? null;
}

/** Whether a session may switch to the transcript a hook named: yes (resolved), not yet, or never. */
type TranscriptCheck = { ok: true; path: string; agentSessionId: string | null } | { ok: false; wait: true } | { ok: false; wait: false; reason: string };

/**
 * The transcript a session switches to after /clear, compaction or resume, held to what
 * registration requires of a transcript (docs/security.md), since a hook token would otherwise
 * be a way round it: the path resolves (after symlinks) to a regular file under the agent's
 * transcript roots on this host, starts with that agent's records, and those records name the
 * agent session the hook reported; and no other active session has it, nor the agent session id
 * it records. An agent announces the
 * transcript of its fresh context before writing it (Claude creates the file at the next
 * prompt), so a file that is missing or still empty is waited for. When this process cannot
 * look (the session is on another host), the announcement is taken as it is, like a
 * registration through such a server, and the host that ingests checks the roots before it
 * reads.
 */
async function checkNewTranscript(ctx: Ctx, session: SessionRow, path: string, agentSessionId: string | null): Promise<TranscriptCheck> {
  let resolved = path;
  let recorded: string | null = null;
  if (canReach(ctx, session.host) && session.transcriptKind) {
    const r = await ctx.host!.inspectTranscript(path, session.transcriptKind, { extraRoots: launchTranscriptRoots(ctx), header: true }).catch(() => null);
    if (!r || (!r.ok && r.reason === "missing")) return { ok: false, wait: true };
    if (!r.ok) return { ok: false, wait: false, reason: r.message };
    if (r.agentSessionId === null) return { ok: false, wait: true };
    if (agentSessionId && r.agentSessionId !== agentSessionId) {
      return { ok: false, wait: false, reason: `'${path}' records agent session '${r.agentSessionId}', not '${agentSessionId}' that the hook reported` };
    }
    resolved = r.path;
    recorded = r.agentSessionId;
  } else if (canReach(ctx, session.host)) {
    return { ok: false, wait: false, reason: "the session was registered without a transcript kind, so a new transcript cannot be checked" };
  }
  const [holder] = await ctx.db
    .select({ name: sessions.name })
    .from(sessions)
    .where(and(eq(sessions.transcriptPath, resolved), eqLiteral(sessions.state, "active"), ne(sessions.id, session.id)))
    .limit(1);
  if (holder) return { ok: false, wait: false, reason: `'${resolved}' already belongs to active session '${holder.name}'` };
  // The switch records the file's agent id as the session's: never one another active session
  // holds, or host-token events of that agent would be placed here. A hook that reported no id
  // has nothing for the header to be compared with, so this is the check that applies to it.
  const id = recorded ?? agentSessionId;
  if (id && id !== session.agentSessionId && id !== session.threadId) {
    const other = await agentSessionHolder(ctx, session.id, id);
    if (other) return { ok: false, wait: false, reason: `'${resolved}' records agent session '${id}', which active session '${other}' holds` };
  }
  return { ok: true, path: resolved, agentSessionId: id };
}

/** The hook state row of a session, if any hook has arrived for it. */
export async function hookStateOf(ctx: Ctx, sessionId: string): Promise<HookStateRow | null> {
  const [row] = await hookStateRead(ctx, sessionId);
  return row ?? null;
}

/** The read behind `hookStateOf`, unexecuted so it can ride in a batch (`sessionId` may be a subquery). */
export function hookStateRead(ctx: Ctx, sessionId: string | SQLWrapper) {
  return ctx.db.select().from(hookStates).where(eq(hookStates.sessionId, sessionId)).limit(1);
}
