import { desc, eq, inArray, sql, type SQL } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import type { TaskRow } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { decodeIntCursor, encodeCursor } from "../lib/paging.ts";
import { iso as isoDate } from "../lib/sql.ts";
import { maybeRedact, redactText } from "./redact.ts";

const DAY_MS = 86_400_000;
const pad2 = (x: number) => (x < 10 ? `0${x}` : `${x}`);
const pad3 = (x: number) => (x < 10 ? `00${x}` : x < 100 ? `0${x}` : `${x}`);
let cachedDay = Number.NaN;
let cachedDayText = "";

/**
 * `iso` from lib/sql.ts, formatted by hand within a cached day: a full replay formats a few
 * hundred thousand timestamps, most of them on the same day, and Date#toISOString dominated.
 */
function iso(ms: number | null | undefined): string | null {
  if (ms === null || ms === undefined) return null;
  // Outside four-digit years, or a fraction of a millisecond: the exact Date formatting.
  if (!Number.isInteger(ms) || ms < 0 || ms >= 253_402_300_800_000) return isoDate(ms);
  const day = Math.floor(ms / DAY_MS);
  if (day !== cachedDay) {
    cachedDay = day;
    cachedDayText = new Date(day * DAY_MS).toISOString().slice(0, 11);
  }
  let r = ms - day * DAY_MS;
  const milli = r % 1000;
  r = (r - milli) / 1000;
  const sec = r % 60;
  r = (r - sec) / 60;
  const min = r % 60;
  return `${cachedDayText}${pad2((r - min) / 60)}:${pad2(min)}:${pad2(sec)}.${pad3(milli)}Z`;
}

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
  /** The task had more bindings than were read: older sessions may be missing from byId. */
  truncated: boolean;
}

/** The most sessions a task's history names (bindings over a task's life are few). */
const MAX_TASK_SESSIONS = 50;

/**
 * The sessions of the task's newest MAX_TASK_SESSIONS bindings, with the role each had; newest
 * first so the sessions serving the task now are always among them. `truncated` says the task had
 * more bindings than that: its older sessions' transcripts and advice are then left out of
 * replay's ranges, and the entries that name them are resolved page by page (sessionsOnPage).
 */
export async function taskSessions(ctx: Ctx, taskId: string): Promise<TaskSessions> {
  const rows = await ctx.db
    .select({ worker: bindings.workerSessionId, manager: bindings.managerSessionId })
    .from(bindings)
    .where(eq(bindings.taskId, taskId))
    .orderBy(desc(bindings.taskId), desc(bindings.createdAt))
    .limit(MAX_TASK_SESSIONS + 1);
  const roles = new Map<string, "worker" | "manager">();
  // Oldest first, so a session's latest role is the one kept.
  for (const r of rows.slice(0, MAX_TASK_SESSIONS).reverse()) {
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
  return { byId, truncated: rows.length > MAX_TASK_SESSIONS };
}

/**
 * Adds to `ts` the sessions among `ids` it does not hold but the task was bound to (a task with
 * more bindings than taskSessions reads): one read, only when a page names such a session.
 */
async function sessionsOnPage(ctx: Ctx, taskId: string, ts: TaskSessions, ids: Iterable<string>): Promise<TaskSessions> {
  const missing = [...new Set(ids)].filter((id) => !ts.byId.has(id));
  if (!missing.length || !ts.truncated) return ts;
  const rows = await ctx.db
    .select({
      session: sessions,
      role: sql<
        "worker" | "manager" | null
      >`CASE WHEN ${sql`EXISTS (SELECT 1 FROM ${bindings} b WHERE b.task_id = ${taskId} AND b.manager_session_id = "sessions"."id")`} THEN 'manager'
        WHEN ${sql`EXISTS (SELECT 1 FROM ${bindings} b WHERE b.task_id = ${taskId} AND b.worker_session_id = "sessions"."id")`} THEN 'worker' END`,
    })
    .from(sessions)
    .where(inArray(sessions.id, missing));
  const byId = new Map(ts.byId);
  for (const r of rows) if (r.role) byId.set(r.session.id, { ...r.session, boundRole: r.role });
  return { ...ts, byId };
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

/**
 * A replay cursor belongs to one task and one view of it (role, with or without transcripts): a
 * position in another is meaningless, so it is refused rather than silently skipping rows.
 */
function positionTag(task: TaskRow, o: ReplayOptions): string {
  return `replay:${task.id}:${o.role}:${o.transcript ? "transcript" : "events"}`;
}

function decodePosition(cursor: string | undefined, tag: string): Position {
  // Positions are row ids and offsets; -1 is the "before the first row" of a (key, id) pair.
  const k = decodeIntCursor(cursor, 12, tag, -1);
  if (!k) return START;
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

function encodePosition(p: Position, tag: string): string {
  return encodeCursor([p.cycle, ...p.audit, ...p.command, ...p.inbox, p.decision, p.criterion, ...p.broker, p.transcript], tag);
}

const SOURCE_RANK: Record<ReplaySource, number> = { cycle: 0, transcript: 1, audit: 2, command: 3, inbox: 4, decision: 5, criterion: 6, broker: 7 };

export interface ReplayOptions {
  limit: number;
  cursor?: string;
  role: "all" | "worker" | "manager";
  includeContent: boolean;
  /** Include the sessions' own transcript messages (transcript formats). */
  transcript: boolean;
}

/** The transcript kinds the transcript formats replay (index: session_id, kind, id). */
const TRANSCRIPT_KINDS = ["user_message", "agent_message", "task_complete"] as const;

/** A source's sort position: its time, and its key within the source (an id or a rowid). */
type Head = { at: number; key: number };

/** Reads the `[[at, …], [key, …]]` lists a keys query returns. */
function parseHeads(text: unknown): Head[] {
  const [ats, ks] = JSON.parse(typeof text === "string" ? text : "[[],[]]") as [number[], number[]];
  const out: Head[] = new Array(ats.length);
  for (let i = 0; i < ats.length; i++) out[i] = { at: ats[i]!, key: ks[i]! };
  return out;
}

/**
 * SQL text that renders one row as a JSON object named `r`: `cols` are [key, column expression, and
 * whether the column already holds JSON]. Formatted as text rather than built with json_object so
 * SQLite parses no JSON (stored JSON columns are written by JSON.stringify, so always valid).
 */
function rowJson(cols: Array<[string, string, "json"?]>): SQL {
  return sql.raw(`${rowJsonText(cols)} AS r`);
}

function rowJsonText(cols: Array<[string, string, "json"?]>): string {
  // One printf per row: a chain of || would copy the growing text once per column.
  const format = `{${cols.map(([k]) => `"${k}":%s`).join(",")}}`;
  return `printf('${format}', ${cols.map(([, e, j]) => (j ? `ifnull(${e}, 'null')` : `json_quote(${e})`)).join(", ")})`;
}

/** Sorts by (at, key) unless already in that order (the usual case: keys grow with time). */
function byAtKey<T extends Head>(list: T[]): T[] {
  for (let i = 1; i < list.length; i++) {
    const a = list[i - 1]!;
    const b = list[i]!;
    if (a.at > b.at || (a.at === b.at && a.key > b.key)) return list.sort((x, y) => x.at - y.at || x.key - y.key);
  }
  return list;
}

/**
 * Merges per-source lists, each in (at, key) order, by (at, source rank, key) and takes the
 * first `limit`: the same order as sorting all of them together, in linear time.
 */
function mergeTake<T extends Head>(lists: Array<{ src: ReplaySource; rows: T[] }>, limit: number): Array<{ src: ReplaySource; row: T }> {
  const live = lists.filter((l) => l.rows.length).map((l) => ({ src: l.src, rank: SOURCE_RANK[l.src], rows: l.rows, i: 0 }));
  const out: Array<{ src: ReplaySource; row: T }> = [];
  while (out.length < limit && live.length) {
    let best = 0;
    for (let j = 1; j < live.length; j++) {
      const x = live[j]!.rows[live[j]!.i]!;
      const y = live[best]!.rows[live[best]!.i]!;
      if (x.at < y.at || (x.at === y.at && (live[j]!.rank < live[best]!.rank || (live[j]!.rank === live[best]!.rank && x.key < y.key)))) best = j;
    }
    const l = live[best]!;
    out.push({ src: l.src, row: l.rows[l.i++]! });
    if (l.i === l.rows.length) live.splice(best, 1);
  }
  return out;
}

/** Merges lists of rows of one source read through several index ranges: each row once, in (at, key) order. */
function unionByKey<T extends Head>(lists: T[][]): T[] {
  if (lists.length === 1) return lists[0]!;
  const seen = new Set<number>();
  const out: T[] = [];
  for (const list of lists)
    for (const r of list) {
      if (seen.has(r.key)) continue;
      seen.add(r.key);
      out.push(r);
    }
  return out.sort((x, y) => x.at - y.at || x.key - y.key);
}

/** A row-value keyset bound on (created_at, rowid), which SQLite seeks in an index ending in created_at. */
/** A command attempt as the replay shows it (booleans stored as 0/1). */
const ATTEMPT_JSON = rowJsonText([
  ["id", "a.id"],
  ["dispatcher_id", "a.dispatcher_id"],
  ["side_effect_started", "iif(a.side_effect_started = 1, 'true', 'false')", "json"],
  ["side_effect_completed", "iif(a.side_effect_completed = 1, 'true', 'false')", "json"],
  ["error", "a.error"],
  ["started_at", "a.started_at"],
  ["finished_at", "a.finished_at"],
]);

const atRowid = (table: string, op: ">" | "<=", pos: [number, number]) =>
  sql`(${sql.raw(`${table}.created_at, ${table}.rowid`)}) ${sql.raw(op)} (${pos[0]}, ${pos[1]})`;

/**
 * One page of a task's history, oldest first, merged across every table that records what
 * happened to it. The page's cursor carries each source's position, so a page never repeats
 * or skips a row.
 *
 * Two batches of index range reads, each answered by SQLite as one row per range. The first
 * reads only the sort keys of up to `limit + 1` rows per source after its position, so the
 * merge that decides which rows make the page costs no row fetching; the second reads those
 * rows whole (as JSON text SQLite formats, which is far cheaper than mapping driver rows)
 * through the same indexes, bounded by the last key of each source on the page. A row inserted
 * inside that bound between the two batches is shown on this page (one entry over `limit`)
 * rather than skipped.
 */
export async function replayPage(ctx: Ctx, task: TaskRow, ts: TaskSessions, o: ReplayOptions) {
  const tag = positionTag(task, o);
  const pos = decodePosition(o.cursor, tag);
  const n = o.limit + 1;
  const db = ctx.db;
  const sessionIds = [...ts.byId.keys()];
  const brokerRanges = sessionIds.flatMap((sid) => (["requester_session_id", "to_session_id"] as const).map((col) => ({ sid, col })));
  const transcriptRanges = o.transcript ? sessionIds.flatMap((sid) => TRANSCRIPT_KINDS.map((kind) => ({ sid, kind }))) : [];
  const tid = task.id;
  // Two lists side by side: one aggregate per column is much cheaper than text built per row.
  const keys = (inner: SQL) =>
    db.values<[string | null]>(sql`SELECT '[[' || ifnull(group_concat(at), '') || '],[' || ifnull(group_concat(k), '') || ']]' FROM (${inner})`);

  // 1. Sort keys only, each range in its index order.
  const keyQs = [
    keys(sql`SELECT created_at AS at, id AS k FROM manager_cycles WHERE task_id = ${tid} AND id > ${pos.cycle} ORDER BY task_id, id LIMIT ${n}`),
    keys(
      sql`SELECT created_at AS at, rowid AS k FROM events WHERE task_id = ${tid} AND ${atRowid("events", ">", pos.audit)} ORDER BY task_id, created_at, rowid LIMIT ${n}`,
    ),
    keys(
      sql`SELECT created_at AS at, rowid AS k FROM commands WHERE task_id = ${tid} AND ${atRowid("commands", ">", pos.command)} ORDER BY task_id, created_at, rowid LIMIT ${n}`,
    ),
    keys(
      sql`SELECT created_at AS at, rowid AS k FROM inbox_items WHERE task_id = ${tid} AND ${atRowid("inbox_items", ">", pos.inbox)} ORDER BY task_id, created_at, rowid LIMIT ${n}`,
    ),
    keys(sql`SELECT created_at AS at, id AS k FROM manager_decisions WHERE task_id = ${tid} AND id > ${pos.decision} ORDER BY task_id, id LIMIT ${n}`),
    keys(sql`SELECT created_at AS at, id AS k FROM acceptance_criteria WHERE task_id = ${tid} AND id > ${pos.criterion} ORDER BY task_id, id LIMIT ${n}`),
    // The task's broker actions are the advice its sessions asked for or were sent: one range per session and direction.
    ...brokerRanges.map(({ sid, col }) =>
      keys(
        sql`SELECT created_at AS at, rowid AS k FROM advice_requests WHERE ${sql.raw(col)} = ${sid} AND ${atRowid("advice_requests", ">", pos.broker)} ORDER BY ${sql.raw(col)}, created_at, rowid LIMIT ${n}`,
      ),
    ),
    ...transcriptRanges.map(({ sid, kind }) =>
      keys(
        sql`SELECT coalesce(observed_at, event_at, ingested_at) AS at, id AS k FROM transcript_events WHERE session_id = ${sid} AND kind = ${kind} AND id > ${pos.transcript} ORDER BY session_id, kind, id LIMIT ${n}`,
      ),
    ),
  ];
  // drizzle types a batch by its literal tuple; this one is built from lists.
  const keyRows = (await db.batch(keyQs as any)) as Array<Array<[string | null]>>;
  const heads = keyRows.map((r) => parseHeads(r[0]?.[0]));
  const b = 6 + brokerRanges.length;
  const byIdOrder = (list: Head[]) => byAtKey(list);
  const candidates: Array<{ src: ReplaySource; rows: Head[] }> = [
    { src: "cycle", rows: byIdOrder(heads[0]!) },
    { src: "audit", rows: heads[1]! },
    { src: "command", rows: heads[2]! },
    { src: "inbox", rows: heads[3]! },
    { src: "decision", rows: byIdOrder(heads[4]!) },
    { src: "criterion", rows: byIdOrder(heads[5]!) },
    { src: "broker", rows: unionByKey(heads.slice(6, b)).slice(0, n) },
    { src: "transcript", rows: byAtKey(mergeById(heads.slice(b)).slice(0, n)) },
  ];
  const total = candidates.reduce((acc, c) => acc + c.rows.length, 0);
  const taken = mergeTake(candidates, o.limit);
  const next: Position = structuredClone(pos);
  const first: Partial<Record<ReplaySource, Head>> = {};
  for (const { src, row } of taken) {
    first[src] ??= row;
    if (src === "cycle") next.cycle = row.key;
    else if (src === "audit") next.audit = [row.at, row.key];
    else if (src === "command") next.command = [row.at, row.key];
    else if (src === "inbox") next.inbox = [row.at, row.key];
    else if (src === "decision") next.decision = row.key;
    else if (src === "criterion") next.criterion = row.key;
    else if (src === "broker") next.broker = [row.at, row.key];
    else next.transcript = row.key;
  }

  // 2. The page's rows, whole, per source between its old position and its last key on the page.
  const json = (inner: SQL) => db.values<[string | null]>(sql`SELECT '[' || ifnull(group_concat(r), '') || ']' FROM (${inner})`);
  const rowQs: Array<{ src: ReplaySource; q: Promise<unknown> }> = [];
  if (first.cycle)
    rowQs.push({
      src: "cycle",
      q: json(sql`SELECT ${rowJson([
        ["id", "id"],
        ["managerSessionId", "manager_session_id"],
        ["state", "state"],
        ["workerState", "worker_state"],
        ["notablePattern", "notable_pattern"],
        ["status", "status_json", "json"],
        ["error", "error"],
        ["at", "created_at"],
        ["key", "id"],
      ])}
        FROM manager_cycles WHERE task_id = ${tid} AND id > ${pos.cycle} AND id <= ${next.cycle} ORDER BY task_id, id`),
    });
  if (first.audit)
    rowQs.push({
      src: "audit",
      q: json(sql`SELECT ${rowJson([
        ["id", "id"],
        ["kind", "kind"],
        ["sessionId", "session_id"],
        ["actor", "actor"],
        ["payload", "payload_json", "json"],
        ["at", "created_at"],
        ["key", "rowid"],
      ])}
        FROM events WHERE task_id = ${tid} AND ${atRowid("events", ">", pos.audit)} AND ${atRowid("events", "<=", next.audit)} ORDER BY task_id, created_at, rowid`),
    });
  if (first.command)
    rowQs.push({
      src: "command",
      q: json(sql`SELECT ${rowJson([
        ["id", "c.id"],
        ["type", "c.type"],
        ["state", "c.state"],
        ["sessionId", "c.session_id"],
        ["correlationId", "c.correlation_id"],
        ["createdBy", "c.created_by"],
        ["payload", "c.payload_json", "json"],
        ["result", "c.result_json", "json"],
        ["error", "c.error"],
        ["completedAt", "c.completed_at"],
        ["at", "c.created_at"],
        ["key", "c.rowid"],
        [
          "attempts",
          `(SELECT '[' || ifnull(group_concat(r), '') || ']' FROM (SELECT ${ATTEMPT_JSON} AS r FROM command_attempts a WHERE a.command_id = c.id ORDER BY a.command_id, a.started_at, a.rowid))`,
          "json",
        ],
      ])}
        FROM commands c WHERE c.task_id = ${tid} AND ${atRowid("c", ">", pos.command)} AND ${atRowid("c", "<=", next.command)} ORDER BY c.task_id, c.created_at, c.rowid`),
    });
  if (first.inbox)
    rowQs.push({
      src: "inbox",
      q: json(sql`SELECT ${rowJson([
        ["id", "id"],
        ["signalType", "signal_type"],
        ["deliveryMode", "delivery_mode"],
        ["sourceSessionId", "source_session_id"],
        ["targetSessionId", "target_session_id"],
        ["correlationId", "correlation_id"],
        ["sourceEventId", "source_event_id"],
        ["deliveryCommandId", "delivery_command_id"],
        ["deliveredAt", "delivered_at"],
        ["consumedBy", "consumed_by"],
        ["consumedAt", "consumed_at"],
        ["payload", "payload_json", "json"],
        ["at", "created_at"],
        ["key", "rowid"],
      ])}
        FROM inbox_items WHERE task_id = ${tid} AND ${atRowid("inbox_items", ">", pos.inbox)} AND ${atRowid("inbox_items", "<=", next.inbox)} ORDER BY task_id, created_at, rowid`),
    });
  if (first.decision)
    rowQs.push({
      src: "decision",
      q: json(sql`SELECT ${rowJson([
        ["id", "id"],
        ["decision", "decision"],
        ["reason", "reason"],
        ["cycleId", "cycle_id"],
        ["createdBy", "created_by"],
        ["payload", "payload_json", "json"],
        ["at", "created_at"],
        ["key", "id"],
      ])}
        FROM manager_decisions WHERE task_id = ${tid} AND id > ${pos.decision} AND id <= ${next.decision} ORDER BY task_id, id`),
    });
  if (first.criterion)
    rowQs.push({
      src: "criterion",
      q: json(sql`SELECT ${rowJson([
        ["id", "id"],
        ["criterion", "criterion"],
        ["source", "source"],
        ["status", "status"],
        ["evidenceType", "evidence_type"],
        ["evidence", "evidence_json", "json"],
        ["createdBy", "created_by"],
        ["updatedAt", "updated_at"],
        ["at", "created_at"],
        ["key", "id"],
      ])}
        FROM acceptance_criteria WHERE task_id = ${tid} AND id > ${pos.criterion} AND id <= ${next.criterion} ORDER BY task_id, id`),
    });
  if (first.broker)
    for (const { sid, col } of brokerRanges)
      rowQs.push({
        src: "broker",
        q: json(sql`SELECT ${rowJson([
          ["id", "id"],
          ["state", "state"],
          ["runId", "run_id"],
          ["requesterSessionId", "requester_session_id"],
          ["toSessionId", "to_session_id"],
          ["requestText", "request_text"],
          ["draftText", "draft_text"],
          ["approvedText", "approved_text"],
          ["approvedBy", "approved_by"],
          ["approvedAt", "approved_at"],
          ["rejectedReason", "rejected_reason"],
          ["rejectedAt", "rejected_at"],
          ["sentMessageId", "sent_message_id"],
          ["sentAt", "sent_at"],
          ["policyReason", "policy_reason"],
          ["at", "created_at"],
          ["key", "rowid"],
        ])}
          FROM advice_requests WHERE ${sql.raw(col)} = ${sid} AND ${atRowid("advice_requests", ">", pos.broker)} AND ${atRowid("advice_requests", "<=", next.broker)}
          ORDER BY ${sql.raw(col)}, created_at, rowid`),
      });
  if (first.transcript)
    for (const { sid, kind } of transcriptRanges)
      rowQs.push({
        src: "transcript",
        q: json(sql`SELECT ${rowJson([
          ["id", "id"],
          ["sessionId", "session_id"],
          ["kind", "kind"],
          ["subtype", "subtype"],
          ["text", "text"],
          ["at", "coalesce(observed_at, event_at, ingested_at)"],
          ["key", "id"],
        ])}
          FROM transcript_events WHERE session_id = ${sid} AND kind = ${kind} AND id > ${pos.transcript} AND id <= ${next.transcript}
          ORDER BY session_id, kind, id`),
      });
  const rowSets = rowQs.length
    ? ((await db.batch(rowQs.map((r) => r.q) as any)) as Array<Array<[string | null]>>).map((r) => JSON.parse(r[0]?.[0] ?? "[]") as Head[])
    : [];
  const rowsOf = (src: ReplaySource) => rowSets.filter((_, i) => rowQs[i]!.src === src);
  const pageRows: Array<{ src: ReplaySource; rows: Head[] }> = [
    { src: "cycle", rows: byAtKey(rowsOf("cycle").flat()) },
    { src: "audit", rows: byAtKey(rowsOf("audit").flat()) },
    { src: "command", rows: byAtKey(rowsOf("command").flat()) },
    { src: "inbox", rows: byAtKey(rowsOf("inbox").flat()) },
    { src: "decision", rows: byAtKey(rowsOf("decision").flat()) },
    { src: "criterion", rows: byAtKey(rowsOf("criterion").flat()) },
    { src: "broker", rows: unionByKey(rowsOf("broker")) },
    { src: "transcript", rows: byAtKey(mergeById(rowsOf("transcript"))) },
  ];
  const page = mergeTake(pageRows, Number.POSITIVE_INFINITY);

  const inc = o.includeContent;
  const named = await sessionsOnPage(
    ctx,
    tid,
    ts,
    page.flatMap(({ row }) => {
      const r = row as J;
      return [r.sessionId, r.targetSessionId, r.requesterSessionId].filter((v): v is string => typeof v === "string");
    }),
  );
  const who = (sid: string | null | undefined) => (sid ? named.byId.get(sid) : undefined);
  const entries: ReplayEntry[] = [];
  for (const { src, row } of page) {
    const e = entryOf(src, row as never, inc, who);
    if (o.role === "all" || e.role === o.role) entries.push(e);
  }
  return { entries, next_cursor: total > taken.length ? encodePosition(next, tag) : null, scanned: taken.length };
}

/** Merges lists of transcript rows (one per session and kind) by id. */
function mergeById<T extends Head>(lists: T[][]): T[] {
  return lists.flat().sort((x, y) => x.key - y.key);
}

type Who = (sid: string | null | undefined) => (SessionRow & { boundRole: "worker" | "manager" }) | undefined;
type J = Record<string, any>;

/** One replay entry from a row as the page query shaped it. */
function entryOf(src: ReplaySource, r: J, inc: boolean, who: Who): ReplayEntry {
  switch (src) {
    case "cycle": {
      const st = (r.status ?? {}) as J;
      return {
        at: iso(r.at)!,
        source: "cycle",
        id: String(r.id),
        role: "manager",
        session: who(r.managerSessionId)?.name ?? null,
        summary:
          `cycle ${r.id} ${r.state}` +
          (r.workerState ? ` worker ${r.workerState}` : "") +
          (st.ingest ? ` +${st.ingest.new_events ?? 0} events` : "") +
          (r.notablePattern ? ` [pane pattern: ${r.notablePattern}]` : "") +
          (r.error ? ` error: ${r.error.slice(0, 200)}` : ""),
        detail: maybeRedact(
          {
            cycle_id: r.id,
            state: r.state,
            worker_state: r.workerState,
            notable_pane_pattern: r.notablePattern,
            error: r.error,
            ...(inc
              ? { status: r.status }
              : { ingest: st.ingest ?? null, staleness_seconds: st.staleness_seconds ?? null, task_completed: st.task_completed ?? null }),
          },
          inc,
        ),
      };
    }
    case "audit":
      return {
        at: iso(r.at)!,
        source: "audit",
        id: r.id,
        role: who(r.sessionId)?.boundRole ?? null,
        session: who(r.sessionId)?.name ?? null,
        summary: `${r.kind} by ${r.actor}`,
        detail: { kind: r.kind, actor: r.actor, payload: maybeRedact(r.payload, inc) },
      };
    case "command": {
      const atts = r.attempts as J[];
      return {
        at: iso(r.at)!,
        source: "command",
        id: r.id,
        role: who(r.sessionId)?.boundRole ?? null,
        session: who(r.sessionId)?.name ?? null,
        summary: `command ${r.type} ${r.state} (${atts.length} attempt${atts.length === 1 ? "" : "s"})${r.correlationId ? ` corr ${r.correlationId}` : ""}${r.error ? ` error: ${r.error.slice(0, 200)}` : ""}`,
        detail: {
          type: r.type,
          state: r.state,
          correlation_id: r.correlationId,
          created_by: r.createdBy,
          payload: maybeRedact(r.payload, inc),
          result: maybeRedact(r.result, inc),
          error: r.error,
          completed_at: iso(r.completedAt),
          // Oldest attempt first; the sort is stable, so equal start times keep their rowid order.
          attempts: atts.sort((x, y) => x.started_at - y.started_at).map((a) => ({ ...a, started_at: iso(a.started_at), finished_at: iso(a.finished_at) })),
        },
      };
    }
    case "inbox":
      return {
        at: iso(r.at)!,
        source: "inbox",
        id: r.id,
        role: who(r.targetSessionId)?.boundRole ?? null,
        session: who(r.targetSessionId)?.name ?? null,
        summary:
          `routed ${r.signalType} ${who(r.sourceSessionId)?.name ?? r.sourceSessionId ?? "-"} -> ${who(r.targetSessionId)?.name ?? r.targetSessionId} (${r.deliveryMode})` +
          (r.deliveredAt ? ` delivered ${iso(r.deliveredAt)}` : " not delivered") +
          (r.consumedAt ? ` consumed by ${r.consumedBy ?? "-"} ${iso(r.consumedAt)}` : " not consumed"),
        detail: {
          signal_type: r.signalType,
          delivery_mode: r.deliveryMode,
          source_session: who(r.sourceSessionId)?.name ?? r.sourceSessionId,
          target_session: who(r.targetSessionId)?.name ?? r.targetSessionId,
          correlation_id: r.correlationId,
          source_event_id: r.sourceEventId,
          delivery_command_id: r.deliveryCommandId,
          delivered_at: iso(r.deliveredAt),
          consumed_by: r.consumedBy,
          consumed_at: iso(r.consumedAt),
          payload: maybeRedact(r.payload, inc),
        },
      };
    case "decision":
      return {
        at: iso(r.at)!,
        source: "decision",
        id: String(r.id),
        role: "manager",
        session: null,
        summary: `decision ${r.id} ${r.decision}${r.cycleId ? ` (cycle ${r.cycleId})` : ""} by ${r.createdBy}`,
        detail: { decision: r.decision, reason: redactText(r.reason, inc), cycle_id: r.cycleId, created_by: r.createdBy, payload: maybeRedact(r.payload, inc) },
      };
    case "criterion":
      return {
        at: iso(r.at)!,
        source: "criterion",
        id: String(r.id),
        role: r.source === "worker_proposed" ? "worker" : "manager",
        session: null,
        summary: `criterion ${r.id} ${r.source} now ${r.status}${r.evidenceType ? ` evidence ${r.evidenceType}` : ""}`,
        detail: {
          status: r.status,
          source: r.source,
          criterion: redactText(r.criterion, inc),
          evidence_type: r.evidenceType,
          evidence: maybeRedact(r.evidence, inc),
          created_by: r.createdBy,
          updated_at: iso(r.updatedAt),
        },
      };
    case "broker":
      return {
        at: iso(r.at)!,
        source: "broker",
        id: r.id,
        role: who(r.requesterSessionId)?.boundRole ?? null,
        session: who(r.requesterSessionId)?.name ?? null,
        summary:
          `advice ${r.id} ${r.state}` +
          (r.approvedBy ? ` approved by ${r.approvedBy} ${iso(r.approvedAt)}` : "") +
          (r.rejectedAt ? ` rejected ${iso(r.rejectedAt)}` : "") +
          (r.sentAt ? ` sent ${iso(r.sentAt)}` : ""),
        detail: {
          state: r.state,
          run_id: r.runId,
          requester_session: who(r.requesterSessionId)?.name ?? r.requesterSessionId,
          to_session: who(r.toSessionId)?.name ?? r.toSessionId,
          request_text: redactText(r.requestText, inc),
          draft_text: redactText(r.draftText, inc),
          approved_text: redactText(r.approvedText, inc),
          approved_by: r.approvedBy,
          approved_at: iso(r.approvedAt),
          rejected_reason: redactText(r.rejectedReason, inc),
          sent_message_id: r.sentMessageId,
          sent_at: iso(r.sentAt),
          policy_reason: r.policyReason,
        },
      };
    default:
      return {
        at: iso(r.at)!,
        source: "transcript",
        id: String(r.id),
        role: who(r.sessionId)?.boundRole ?? null,
        session: who(r.sessionId)?.name ?? null,
        summary: `${who(r.sessionId)?.name ?? r.sessionId} ${r.kind}${r.subtype && r.subtype !== r.kind ? `/${r.subtype}` : ""}${r.text ? ` (${r.text.length} chars)` : ""}`,
        detail: { kind: r.kind, subtype: r.subtype, text: redactText(r.text, inc) },
      };
  }
}
