import { and, desc, eq, inArray, ne, or } from "drizzle-orm";
import { transcriptEvents, type WorkerState } from "../../schema/observe.ts";
import type { SessionRow } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { iso } from "../lib/sql.ts";
import { stateEffect } from "./normalize.ts";
import { canReach } from "../lib/local.ts";

/** The busy/idle picture of one session, derived from its ingested events. */
export interface EventState {
  state: WorkerState;
  last_state_event_at: string | null;
  staleness_seconds: number | null;
  last_event_subtype: string | null;
  task_completed: boolean;
  last_agent_message: string | null;
}

/**
 * Derives state from the event stream: prompts and task starts make a session busy, a
 * completed or aborted turn makes it idle, nothing else moves it. `last_event_subtype` ignores
 * bookkeeping events (token counts, context lines) so a completed turn still reads as completed.
 */
export async function eventState(ctx: Ctx, sessionId: string): Promise<EventState> {
  const [stateRow] = await ctx.db
    .select()
    .from(transcriptEvents)
    .where(
      and(
        eq(transcriptEvents.sessionId, sessionId),
        or(inArray(transcriptEvents.kind, ["user_message", "task_started", "task_complete"]), inArray(transcriptEvents.subtype, ["turn_aborted", "api_error"])),
      ),
    )
    .orderBy(desc(transcriptEvents.id))
    .limit(1);
  const [last] = await ctx.db
    .select({ subtype: transcriptEvents.subtype })
    .from(transcriptEvents)
    .where(and(eq(transcriptEvents.sessionId, sessionId), ne(transcriptEvents.kind, "other")))
    .orderBy(desc(transcriptEvents.id))
    .limit(1);
  const [agent] = await ctx.db
    .select({ text: transcriptEvents.text })
    .from(transcriptEvents)
    .where(and(eq(transcriptEvents.sessionId, sessionId), eq(transcriptEvents.kind, "agent_message")))
    .orderBy(desc(transcriptEvents.id))
    .limit(1);
  const effect = stateRow ? stateEffect(stateRow) : null;
  // On the server's clock, so a host whose clock is off neither hides nor fakes a stall.
  const at = stateRow ? (stateRow.observedAt ?? stateRow.eventAt ?? stateRow.ingestedAt) : null;
  const lastSubtype = last?.subtype ?? null;
  return {
    state: effect ?? "unknown",
    last_state_event_at: iso(at),
    staleness_seconds: at === null ? null : Math.max(0, Math.round((ctx.now().getTime() - at) / 100) / 10),
    last_event_subtype: lastSubtype,
    task_completed: stateRow?.kind === "task_complete",
    last_agent_message: agent?.text ?? null,
  };
}

/**
 * Whether a session's process is alive: false without a pid (nothing to be alive, as the
 * supervision contract reports it), null when the pid is on a host this process cannot probe.
 */
export async function sessionAlive(ctx: Ctx, s: SessionRow): Promise<boolean | null> {
  if (s.pid === null) return false;
  if (!canReach(ctx, s.host)) return null;
  return ctx.host!.pidAlive(s.pid, s.pidStartedAt);
}
