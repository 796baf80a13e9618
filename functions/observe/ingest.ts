import { and, eq, type SQLWrapper } from "drizzle-orm";
import { ingestCursors, type IngestCursorRow } from "../../schema/observe.ts";
import type { SessionRow } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import type { Host, PreparedTranscriptChunk, TranscriptChunkJob } from "../lib/host.ts";
import { hostErrorToApi, hostFor, launchTranscriptRoots } from "../lib/local.ts";
import { type FileLook, SKEW_TOLERANCE_MS } from "./clock-skew.ts";
import { MAX_LINE_BYTES, prepareTranscriptChunk, warn } from "./ingest-chunk.ts";

export { MAX_LINE_BYTES };

/** Bytes read from the transcript per step; also the unit of one write transaction. */
const CHUNK_BYTES = 4 * 1024 * 1024;
/** Chunks read ahead of the one being parsed and committed (see commitUnits). */
const READ_AHEAD = 2;
const NEWLINE = 0x0a;

/**
 * One statement stores a whole chunk: SQLite unpacks the chunk's JSON rows (ingest-chunk.ts) and
 * places each event on the server's clock (clock-skew.ts `observedAt`: the stamp corrected by
 * the session's skew, clamped to the line's bounds lo/hi, or hi when the line has no stamp).
 * Binding thousands of values per chunk and preparing statements that long cost the main thread
 * more than the inserts themselves. It runs after ADVANCE_CURSOR in the same batch and joins the
 * cursor as that left it (at ?4, the chunk's end): the skew it uses is the one just updated, and
 * when the cursor did not move (another ingest got there first) nothing is inserted.
 */
const INSERT_EVENTS = `INSERT INTO transcript_events (session_id, generation, offset, seq, kind, subtype, event_at, text, tool, ingested_at, observed_at, turn_id)
SELECT ?1, ?2, e.value->>0, e.value->>1, e.value->>2, e.value->>3, e.value->>4, e.value->>5, e.value->>6, ?3,
  CASE WHEN e.value->>4 IS NULL THEN e.value->>9
       WHEN e.value->>8 IS NULL THEN min(e.value->>9, e.value->>4 - c.clock_skew_ms)
       ELSE min(e.value->>9, max(e.value->>8, e.value->>4 - c.clock_skew_ms)) END,
  e.value->>7
FROM ingest_cursors AS c, json_each(?5) AS e
WHERE c.session_id = ?1 AND c.generation = ?2 AND c.offset = ?4 ON CONFLICT DO NOTHING`;

/**
 * The session's skew estimate (column `clock_skew_ms`) after a chunk's evidence, in SQL, as
 * clock-skew.ts `applySkewEvidence` computes it: ?11 at least and ?12 at most (null where nothing
 * bounds it), ?13 the tolerance. Evidence comes in whole milliseconds, so nothing needs rounding.
 */
export const SKEW_AFTER_EVIDENCE = `CASE
    WHEN ?11 IS NOT NULL AND ?12 IS NOT NULL AND ?11 > ?12 THEN clock_skew_ms
    WHEN (?11 IS NULL OR clock_skew_ms >= ?11 - ?13) AND (?12 IS NULL OR clock_skew_ms <= ?12 + ?13) THEN clock_skew_ms
    WHEN ?12 IS NULL THEN max(clock_skew_ms, ?11)
    WHEN ?11 IS NULL THEN min(clock_skew_ms, ?12)
    ELSE min(max(clock_skew_ms, ?11), ?12) END`;

/**
 * Moves the cursor over one chunk, only from the offset (?9) and generation (?10) this ingest
 * started from, and returns the new skew estimate; no row means another ingest moved it first.
 */
const ADVANCE_CURSOR = `UPDATE ingest_cursors SET offset = ?1, lines_total = lines_total + ?2, skipped_total = skipped_total + ?3,
  updated_at = ?4, seen_size = ?5, seen_at = ?6, skipping_line = ?7, clock_skew_ms = ${SKEW_AFTER_EVIDENCE}
WHERE session_id = ?8 AND offset = ?9 AND generation = ?10
RETURNING clock_skew_ms`;

/** What one ingest did. */
export interface IngestReport {
  session: string;
  path: string;
  previous_offset: number;
  new_offset: number;
  file_size: number;
  new_lines: number;
  new_events: number;
  skipped_lines: number;
  /** Bytes after the last newline, left for the next ingest. */
  partial_line_bytes: number;
  /** The cursor is inside an over-long line being skipped. */
  skipping_line: boolean;
  generation: number;
  truncated: boolean;
  rotated: boolean;
  /** Estimated offset of the agent host's clock from this server's, in ms (agent minus server). */
  clock_skew_ms: number;
  warnings: string[];
}

/** When the ingest looked at the file, and what the look before it saw (null after a reset). */
interface Looks {
  previous: FileLook | null;
  current: FileLook;
}

/** One commit: the cursor moves to `to` with the events of `parsed`. */
interface CommitUnit {
  to: number;
  parsed: PreparedTranscriptChunk;
  /** The cursor is left inside an over-long line. */
  skipping: boolean;
}

/**
 * The file to read for a session: its registered transcript, resolved again and still under the
 * agent's transcript roots on this host (a session registered through a server that could not
 * check it, or a path whose directories changed since, is refused here). Only the owner learns
 * why; others cannot tell a missing file from a forbidden one.
 */
async function readablePath(ctx: Ctx, host: Host, session: SessionRow): Promise<string> {
  const path = session.transcriptPath!;
  let r;
  try {
    r = await host.inspectTranscript(path, session.transcriptKind!, { extraRoots: launchTranscriptRoots(ctx) });
  } catch (e) {
    throw hostErrorToApi(e);
  }
  if (r.ok) return r.path;
  if (r.reason === "missing" || ctx.auth.kind !== "owner") {
    throw new ApiError("PATH_NOT_FOUND", `transcript of session '${session.name}' is not readable here`, {
      hint: "The agent may have rotated or deleted it, or it is not under this host's transcript roots; re-register the session with its current transcript.",
    });
  }
  throw new ApiError("PATH_NOT_ALLOWED", `transcript of session '${session.name}': ${r.message}`, {
    hint: `Allowed roots here: ${r.roots.join(", ") || "(none exist)"}; SWITCHYARD_TRANSCRIPT_ROOTS adds more.`,
  });
}

/**
 * Ingests new complete lines of a session's transcript into transcript_events. Incremental by
 * byte offset; a partial last line waits for the next ingest; malformed lines are counted and
 * skipped; a shrunk file (truncation) or a new inode (replacement) restarts from byte 0 under a
 * new generation and is reported. Each chunk commits together with the cursor, guarded by the
 * offset it started from, so concurrent ingests of one session never double-count.
 */
export async function ingestSession(ctx: Ctx, session: SessionRow): Promise<IngestReport> {
  return (await ingestFromCursor(ctx, session, null)).report;
}

/** The read of a session's ingest cursor, unexecuted so a caller can batch it (`sessionId` may be a subquery). */
export function ingestCursorRead(ctx: Ctx, sessionId: string | SQLWrapper) {
  return ctx.db.select().from(ingestCursors).where(eq(ingestCursors.sessionId, sessionId)).limit(1);
}

/**
 * `ingestSession` for a caller that has already read the session's cursor (`known.cursor`, from
 * `ingestCursorRead`, read before this call so before the file is looked at); null reads it here.
 * `wrote` says whether the ingest sent any statement after that read (created, reset or advanced
 * the cursor, stored events, or found another ingest ahead of it): when it did not, reads taken
 * together with the cursor still describe the transcript as stored.
 */
export async function ingestFromCursor(
  ctx: Ctx,
  session: SessionRow,
  known: { cursor: IngestCursorRow | undefined } | null,
): Promise<{ report: IngestReport; wrote: boolean }> {
  let wrote = false;
  if (!session.transcriptPath || !session.transcriptKind) {
    throw new ApiError("CONFLICT", `session '${session.name}' has no transcript to ingest`, {
      hint: "Register it with --codex-session PATH, --claude-session PATH or --pid PID.",
    });
  }
  const host = hostFor(ctx, session);
  const path = session.transcriptPath;
  const kind = session.transcriptKind;
  const file = await readablePath(ctx, host, session);
  // The cursor is read before the file is looked at: another ingest (another server, or a
  // concurrent request here) may advance it at any time, and a look taken before that advance
  // would see a file "smaller" than the cursor and mistake growth for truncation, ingesting
  // everything again under a new generation. Read in this order the look is never older.
  const cursor = known ? known.cursor : (await ingestCursorRead(ctx, session.id))[0];
  let info;
  try {
    info = await host.fileInfo(file);
  } catch (e) {
    throw hostErrorToApi(e);
  }
  // The server time of this look bounds every line it covers (see clock-skew.ts).
  const lookedAt = ctx.now().getTime();
  if (!info) {
    throw new ApiError("PATH_NOT_FOUND", `transcript of session '${session.name}' is not readable here`, {
      hint: "The agent may have rotated or deleted it; re-register the session with its current transcript.",
    });
  }

  const previous = cursor?.offset ?? 0;
  let generation = cursor?.generation ?? 1;
  let offset = previous;
  let rotated = false;
  let truncated = false;
  let skipping = cursor?.skippingLine ?? false;
  if (cursor && cursor.identity !== info.identity) {
    rotated = true;
    generation++;
    offset = 0;
  } else if (cursor && info.size < cursor.offset) {
    truncated = true;
    generation++;
    offset = 0;
  }
  if (rotated || truncated) skipping = false;
  if (!cursor || rotated || truncated) {
    wrote = true;
    const nowMs = ctx.now().getTime();
    const row = {
      sessionId: session.id,
      path,
      identity: info.identity,
      generation,
      offset,
      linesTotal: cursor?.linesTotal ?? 0,
      skippedTotal: cursor?.skippedTotal ?? 0,
      updatedAt: nowMs,
      // A replaced or shrunk file starts over: nothing bounds its lines from below yet.
      seenSize: null,
      seenAt: null,
      skippingLine: false,
    };
    // Guarded by what this ingest saw: a concurrent ingest that created or reset the cursor
    // first wins, and this one then starts from the cursor as it now stands.
    const written = cursor
      ? await ctx.db
          .update(ingestCursors)
          .set(row)
          .where(and(eq(ingestCursors.sessionId, session.id), eq(ingestCursors.generation, cursor.generation), eq(ingestCursors.identity, cursor.identity)))
          .returning({ id: ingestCursors.sessionId })
      : await ctx.db.insert(ingestCursors).values(row).onConflictDoNothing().returning({ id: ingestCursors.sessionId });
    if (written.length === 0) {
      const [now] = await ctx.db.select().from(ingestCursors).where(eq(ingestCursors.sessionId, session.id)).limit(1);
      if (!now || now.identity !== info.identity) {
        throw new ApiError("CONFLICT", `transcript of session '${session.name}' changed while another ingest was reading it`, { hint: "Retry the ingest." });
      }
      generation = now.generation;
      offset = now.offset;
      skipping = now.skippingLine;
      rotated = truncated = false;
    }
  }

  const report: IngestReport = {
    session: session.name,
    path,
    previous_offset: previous,
    new_offset: offset,
    file_size: info.size,
    new_lines: 0,
    new_events: 0,
    skipped_lines: 0,
    partial_line_bytes: 0,
    skipping_line: skipping,
    generation,
    truncated,
    rotated,
    clock_skew_ms: cursor?.clockSkewMs ?? 0,
    warnings: rotated
      ? ["transcript was replaced (new inode); re-ingesting from byte 0"]
      : truncated
        ? ["transcript shrank (truncated); re-ingesting from byte 0"]
        : [],
  };
  const looks: Looks = {
    previous: cursor && !rotated && !truncated && cursor.seenSize !== null && cursor.seenAt !== null ? { size: cursor.seenSize, at: cursor.seenAt } : null,
    current: { size: info.size, at: lookedAt },
  };
  let committedTo = offset;
  const commit = async (unit: CommitUnit): Promise<boolean> => {
    wrote = true;
    const { parsed, to } = unit;
    const committed = await commitChunk(ctx, session.id, generation, committedTo, to, parsed, looks, unit.skipping);
    if (committed === null) {
      report.warnings.push("another ingest advanced this transcript concurrently; stopped early");
      return false;
    }
    report.new_lines += parsed.lines;
    report.skipped_lines += parsed.skipped;
    // Events already stored (a re-scan after the cursor was reset) are not new.
    report.new_events += committed.inserted;
    report.new_offset = committedTo = to;
    report.clock_skew_ms = committed.skewMs;
    report.skipping_line = unit.skipping;
    return true;
  };
  // Two stages overlap: while one chunk commits (SQLite, on this thread), the next is read and
  // parsed (on the host's parser thread when it has one), and the chunk after it is being read.
  const units = commitUnits(ctx, host, session, file, info.size, { offset, skipping, kind, looks });
  let ahead = units.next();
  for (;;) {
    const r = await ahead;
    if (r.done) break;
    ahead = units.next();
    // Handled where it is awaited, or not at all when the loop stops early.
    ahead.catch(() => {});
    for (const w of r.value.parsed.warnings) warn(report.warnings, w);
    if (!(await commit(r.value))) break;
  }
  report.partial_line_bytes = info.size - report.new_offset;
  if (report.skipped_lines) ctx.log.warn("ingest skipped malformed lines", { session: session.name, skipped: report.skipped_lines });
  return { report, wrote };
}

const none = (lines = 0, skipped = 0, warnings: string[] = []): PreparedTranscriptChunk => ({
  lines,
  skipped,
  warnings,
  events: 0,
  rowsJson: "[]",
  skew: { atLeast: Number.NEGATIVE_INFINITY, atMost: Number.POSITIVE_INFINITY },
  turn: null,
});

/**
 * The commits that take the cursor from `start.offset` to the file's last complete line: one per
 * chunk read, plus one for each stretch of an over-long line being skipped. A partial last line
 * waits for the next ingest.
 */
async function* commitUnits(
  ctx: Ctx,
  host: Host,
  session: SessionRow,
  file: string,
  size: number,
  start: { offset: number; skipping: boolean; kind: "codex" | "claude"; looks: Looks },
): AsyncGenerator<CommitUnit> {
  const { kind, looks } = start;
  let skipping = start.skipping;
  // Claude marks only the prompt with its turn id; the turn's end inherits it (ingest-chunk.ts).
  let turn: string | null | undefined;
  // The start of a line not yet complete, as the chunks that hold it (never over MAX_LINE_BYTES).
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let readPos = start.offset;
  let emittedTo = start.offset;
  const unit = (to: number, parsed: PreparedTranscriptChunk, stillSkipping: boolean): CommitUnit => {
    emittedTo = to;
    return { to, parsed, skipping: stillSkipping };
  };
  // Chunks are read ahead, two at a time: the host reads them off the main thread while this one
  // is parsed and committed. A read takes several turns of the event loop (open, stat, read,
  // close) and this thread is mostly busy inside SQLite, so with one read ahead the next chunk was
  // often not there when the parser thread could have started on it. A failure is handled where
  // the read is awaited, or not at all when the loop stops early, so each is marked handled here.
  const queued: Array<{ length: number; bytes: Promise<Uint8Array> }> = [];
  let issuedTo = readPos;
  const readAhead = () => {
    while (queued.length < READ_AHEAD && issuedTo < size) {
      const length = Math.min(CHUNK_BYTES, size - issuedTo);
      const bytes = host.readBytes(file, issuedTo, length);
      bytes.catch(() => {});
      queued.push({ length, bytes });
      issuedTo += length;
    }
  };
  readAhead();
  for (let read = queued.shift(); read; read = queued.shift()) {
    let chunk: Uint8Array;
    try {
      chunk = await read.bytes;
    } catch (e) {
      throw hostErrorToApi(e);
    }
    if (chunk.length === 0) break;
    readPos += chunk.length;
    // A short read (the file shrank under us): the reads queued after it start at the wrong place.
    if (chunk.length < read.length) {
      queued.length = 0;
      issuedTo = readPos;
    }
    readAhead();
    if (skipping) {
      // Inside an over-long line: look only for its end, keeping nothing.
      const nl = chunk.indexOf(NEWLINE);
      if (nl === -1) {
        yield unit(readPos, none(), true);
        continue;
      }
      const end = readPos - chunk.length + nl + 1;
      yield unit(end, none(1, 1, [`skipped a line longer than ${MAX_LINE_BYTES} bytes ending at byte ${end}`]), false);
      skipping = false;
      chunk = chunk.subarray(nl + 1);
    }
    const lastNl = chunk.lastIndexOf(NEWLINE);
    if (lastNl === -1) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes > MAX_LINE_BYTES) {
        // Too long to ever ingest: drop what is buffered and skip to the line's end.
        pending = [];
        pendingBytes = 0;
        skipping = true;
        yield unit(readPos, none(), true);
      }
      continue;
    }
    // The partial line carried over is joined to this chunk's lines by whoever parses them.
    const head = pending.length > 1 ? concat(pending) : (pending[0] ?? new Uint8Array(0));
    const bytes = chunk.subarray(0, lastNl + 1);
    const base = emittedTo;
    const to = base + head.length + bytes.length;
    pending = [chunk.slice(lastNl + 1)];
    pendingBytes = pending[0]!.length;
    if (kind === "claude" && turn === undefined) turn = await lastPromptTurn(ctx, session.id);
    const job: TranscriptChunkJob = { head, bytes, base, kind, looks, turn: turn ?? null };
    const parsed = await (host.prepareTranscriptChunk?.(job) ?? prepareTranscriptChunk(job));
    turn = parsed.turn;
    yield unit(to, parsed, false);
  }
}

/** The turn id of the session's latest ingested prompt, or null. */
async function lastPromptTurn(ctx: Ctx, sessionId: string): Promise<string | null> {
  const rs = await ctx.database.client.execute({
    sql: "SELECT turn_id FROM transcript_events WHERE session_id = ? AND kind = 'user_message' ORDER BY id DESC LIMIT 1",
    args: [sessionId],
  });
  const v = rs.rows[0]?.turn_id;
  return typeof v === "string" ? v : null;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Writes one chunk's events and advances the cursor, unless another ingest moved it first.
 * Returns the session's clock skew estimate after the chunk and how many events were stored,
 * or null when it did not commit.
 */
async function commitChunk(
  ctx: Ctx,
  sessionId: string,
  generation: number,
  from: number,
  to: number,
  parsed: PreparedTranscriptChunk,
  looks: Looks,
  skipping: boolean,
): Promise<{ skewMs: number; inserted: number } | null> {
  const nowMs = ctx.now().getTime();
  const finite = (n: number) => (Number.isFinite(n) ? n : null);
  // One batch, no transaction held across round trips: the cursor moves only from where this
  // ingest started, and the events go in only when it moved (joined on the cursor now at `to`).
  const [moved, stored] = await ctx.database.client.batch(
    [
      {
        sql: ADVANCE_CURSOR,
        args: [
          to,
          parsed.lines,
          parsed.skipped,
          nowMs,
          looks.current.size,
          looks.current.at,
          skipping ? 1 : 0,
          sessionId,
          from,
          generation,
          finite(parsed.skew.atLeast),
          finite(parsed.skew.atMost),
          SKEW_TOLERANCE_MS,
        ],
      },
      ...(parsed.events ? [{ sql: INSERT_EVENTS, args: [sessionId, generation, nowMs, to, parsed.rowsJson] }] : []),
    ],
    "write",
  );
  const row = moved!.rows[0];
  if (!row) return null;
  return { skewMs: Number(row[0]), inserted: stored ? stored.rowsAffected : 0 };
}
