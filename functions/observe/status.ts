import { type SQLWrapper, sql } from "drizzle-orm";
import { EVENT_KINDS, type TranscriptEventRow, transcriptEvents, type WorkerState } from "../../schema/observe.ts";
import type { SessionRow } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { iso, rowFromRaw } from "../lib/sql.ts";
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

/** A session's id, as a value or as a scalar subquery that yields it (so reads can share one batch). */
export type IdRef = string | SQLWrapper;

/**
 * The newest event of a session whose kind is one of `kinds` or whose subtype is one of
 * `subtypes`, optionally before event `before`, as an unexecuted read (rows of at most one raw
 * event) that can ride in a `db.batch`. One statement: the max id per kind and per subtype is a
 * single-row read off the (session, kind, id) and (session, subtype, id) indexes, so the cost
 * does not grow with the session's history (an `IN` or `OR` with ORDER BY id would merge and sort
 * every matching row).
 */
export function latestEventRead(ctx: Ctx, sessionId: IdRef, m: { kinds?: readonly string[]; subtypes?: readonly string[]; before?: number | SQLWrapper }) {
  const bound = m.before === undefined ? sql`` : sql` AND id < ${m.before}`;
  const parts = [
    ...(m.kinds ?? []).map((k) => sql`SELECT max(id) AS m FROM ${transcriptEvents} WHERE session_id = ${sessionId} AND kind = ${k}${bound}`),
    ...(m.subtypes ?? []).map((st) => sql`SELECT max(id) AS m FROM ${transcriptEvents} WHERE session_id = ${sessionId} AND subtype = ${st}${bound}`),
  ];
  if (!parts.length) throw new Error("latestEventRead needs at least one kind or subtype");
  // all(), not get(): drizzle's get() of a raw query fails on an empty result.
  return ctx.db.all<Record<string, unknown>>(sql`SELECT * FROM ${transcriptEvents} WHERE id = (SELECT max(m) FROM (${sql.join(parts, sql` UNION ALL `)}))`);
}

/** The event a `latestEventRead` returned, if any. */
export function eventFromRows(rows: Array<Record<string, unknown>>): TranscriptEventRow | undefined {
  const [raw] = rows;
  return raw ? rowFromRaw(transcriptEvents, raw) : undefined;
}

/** The newest event of a session matching `m` (see `latestEventRead`). */
export async function latestEvent(
  ctx: Ctx,
  sessionId: string,
  m: { kinds?: readonly string[]; subtypes?: readonly string[]; before?: number },
): Promise<TranscriptEventRow | undefined> {
  if (!(m.kinds?.length || m.subtypes?.length)) return undefined;
  return eventFromRows(await latestEventRead(ctx, sessionId, m));
}

/** The three reads `eventState` derives from, unexecuted so a caller can batch them with others. */
export function eventStateReads(ctx: Ctx, sessionId: IdRef) {
  return [
    latestEventRead(ctx, sessionId, { kinds: ["user_message", "task_started", "task_complete"], subtypes: ["turn_aborted", "api_error"] }),
    // Every kind but "other", spelled out so each is a one-row read off the (session, kind, id) index.
    latestEventRead(ctx, sessionId, { kinds: EVENT_KINDS.filter((k) => k !== "other") }),
    latestEventRead(ctx, sessionId, { kinds: ["agent_message"] }),
  ] as const;
}

/**
 * Derives state from the event stream: prompts and task starts make a session busy, a
 * completed or aborted turn makes it idle, nothing else moves it. `last_event_subtype` ignores
 * bookkeeping events (token counts, context lines) so a completed turn still reads as completed.
 * `rows` are the results of `eventStateReads`.
 */
export function eventStateFrom(
  ctx: Ctx,
  rows: readonly [Array<Record<string, unknown>>, Array<Record<string, unknown>>, Array<Record<string, unknown>>],
): EventState {
  const stateRow = eventFromRows(rows[0]);
  const last = eventFromRows(rows[1]);
  const agent = eventFromRows(rows[2]);
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

/** A session's busy/idle state from its ingested events, in one round trip. */
export async function eventState(ctx: Ctx, sessionId: string): Promise<EventState> {
  return eventStateFrom(ctx, await ctx.db.batch(eventStateReads(ctx, sessionId)));
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
