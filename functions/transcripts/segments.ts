import { z } from "@hono/zod-openapi";
import { and, asc, desc, eq, inArray, isNotNull, sql } from "drizzle-orm";
import { transcriptEvents } from "../../schema/observe.ts";
import { SEGMENT_MODES, transcriptSegments, type TranscriptSegmentRow } from "../../schema/telemetry.ts";
import { redactText } from "../audit/redact.ts";
import { taskSessions } from "../audit/history.ts";
import { auditInsert } from "../lib/audit.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { sha256Hex } from "../lib/ids.ts";
import { assertPaneOwned, hostErrorToApi, hostFor } from "../lib/local.ts";
import { QueryBool } from "../lib/names.ts";
import { decodeTypedCursor, NextCursorField, pageOf, PageQueryFields } from "../lib/paging.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { ingestSession } from "../observe/ingest.ts";
import { taskByName } from "../tasks/lookup.ts";
import { TaskNameParam } from "../tasks/schema.ts";

const Role = z.enum(["all", "worker", "manager"]).optional().default("all");

export const CaptureBody = z.object({
  role: Role,
  mode: z
    .enum(["events", "pane", "both"])
    .optional()
    .default("events")
    .openapi({ description: "events: the transcript's messages since the last capture; pane: the tmux screen; both" }),
});

export const Segment = z
  .object({
    id: z.number().int(),
    session: z.string(),
    role: z.string(),
    mode: z.enum(SEGMENT_MODES),
    content_hash: z.string(),
    bytes: z.number().int(),
    lines: z.number().int(),
    first_event_id: z.number().int().nullable(),
    last_event_id: z.number().int().nullable(),
    content: z.string().nullable().openapi({ description: "Redacted unless include_content; null once pruned" }),
    pruned_at: z.string().nullable(),
    created_at: z.string(),
  })
  .openapi("TranscriptSegment");

export const CaptureResult = z
  .object({
    task: z.string(),
    captured: z.array(Segment),
    duplicates: z.number().int().openapi({ description: "Captures identical to a kept segment, not stored again" }),
    skipped: z.array(z.object({ session: z.string(), mode: z.string(), reason: z.string() })),
  })
  .openapi("TranscriptCaptureResult");

export const SegmentsQuery = z.object({ role: Role, include_content: QueryBool, ...PageQueryFields });
export const SegmentsResult = z
  .object({ task: z.string(), segments: z.array(Segment), count: z.number().int(), content_redacted: z.boolean(), ...NextCursorField })
  .openapi("TranscriptSegments");

export const PruneBody = z.object({
  keep_latest: z.number().int().min(0).max(100000).optional().default(5).openapi({ description: "Segments per session that keep their content (default 5)" }),
  dry_run: z.boolean().optional().default(false),
});
export const PruneResult = z
  .object({
    task: z.string().nullable(),
    keep_latest: z.number().int(),
    dry_run: z.boolean(),
    sessions: z.number().int(),
    segments_pruned: z.number().int(),
    bytes_dropped: z.number().int(),
    segment_ids: z.array(z.number().int()),
  })
  .openapi("TranscriptPruneResult");

export const captureRoute = defineRoute(
  ["owner", "daemon"],
  {
    method: "post",
    path: "/tasks/{name}/transcript-capture",
    tags: ["transcripts"],
    summary: "Keep the sessions' new transcript text (or pane screen) as deduplicated segments",
    description:
      "Ingests each bound session's transcript first. A segment identical to one already kept for that session is counted as a duplicate and not stored. Content is never in the answer (see transcript-show). CLI: transcript-capture TASK [--role R] [--mode events|pane|both].",
    request: { params: TaskNameParam, body: { ...jsonBody(CaptureBody), required: false } },
    responses: { 200: jsonResponse(CaptureResult, "Captured") },
  },
  { rateLimited: true },
);

export const segmentsRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/tasks/{name}/transcript-segments",
  tags: ["transcripts"],
  summary: "Kept transcript segments of a task, oldest first",
  description: "Segment text is redacted unless include_content=true. CLI: transcript-show TASK [--role R] [--include-content].",
  request: { params: TaskNameParam, query: SegmentsQuery },
  responses: { 200: jsonResponse(SegmentsResult, "Segments") },
});

export const taskPruneRoute = defineRoute(["owner"], {
  method: "post",
  path: "/tasks/{name}/transcript-prune",
  tags: ["transcripts"],
  summary: "Drop the content of a task's older segments, keeping their metadata",
  description: "CLI: transcript-prune TASK [--keep-latest N] [--dry-run].",
  request: { params: TaskNameParam, body: { ...jsonBody(PruneBody), required: false } },
  responses: { 200: jsonResponse(PruneResult, "Pruned") },
});

export const pruneRoute = defineRoute(["owner"], {
  method: "post",
  path: "/admin/prune",
  tags: ["transcripts"],
  summary: "Drop the content of older segments of every session, keeping their metadata",
  description: "CLI: prune [--keep-latest N] [--dry-run].",
  request: { body: { ...jsonBody(PruneBody), required: false } },
  responses: { 200: jsonResponse(PruneResult, "Pruned") },
});

/** Transcript messages read per session and capture. */
const CAPTURE_EVENTS = 2000;
const MESSAGE_KINDS = ["user_message", "agent_message", "task_complete"] as const;

function wireSegment(s: TranscriptSegmentRow, session: string, include: boolean) {
  return {
    id: s.id,
    session,
    role: s.role,
    mode: s.mode,
    content_hash: s.contentHash,
    bytes: s.bytes,
    lines: s.lines,
    first_event_id: s.firstEventId,
    last_event_id: s.lastEventId,
    content: redactText(s.content, include),
    pruned_at: iso(s.prunedAt),
    created_at: iso(s.createdAt)!,
  };
}

/** The messages of a session after event `afterId`, oldest first (one index range per kind). */
async function messagesAfter(ctx: Ctx, sessionId: string, afterId: number) {
  const db = ctx.db;
  // `as any`: db.batch wants a non-empty tuple, not a mapped array of identical selects.
  const per = await db.batch(
    MESSAGE_KINDS.map((kind) =>
      db
        .select({ id: transcriptEvents.id, kind: transcriptEvents.kind, text: transcriptEvents.text })
        .from(transcriptEvents)
        .where(and(eq(transcriptEvents.sessionId, sessionId), eq(transcriptEvents.kind, kind), sql`${transcriptEvents.id} > ${afterId}`))
        .orderBy(asc(transcriptEvents.sessionId), asc(transcriptEvents.kind), asc(transcriptEvents.id))
        .limit(CAPTURE_EVENTS),
    ) as any,
  );
  return (per as unknown as Array<Array<{ id: number; kind: string; text: string | null }>>)
    .flat()
    .sort((a, b) => a.id - b.id)
    .slice(0, CAPTURE_EVENTS);
}

/** Captures segments for the task's bound sessions. */
export async function captureTranscripts(ctx: Ctx, name: string, input: z.output<typeof CaptureBody>) {
  const task = await taskByName(ctx, name);
  const ts = await taskSessions(ctx, task.id);
  const targets = [...ts.byId.values()].filter((s) => s.state === "active" && (input.role === "all" || s.boundRole === input.role));
  if (!targets.length) {
    throw new ApiError("NOT_FOUND", `task '${task.name}' has no active ${input.role === "all" ? "" : `${input.role} `}session to capture`, {
      hint: `Bind sessions first: switchyard bind --task ${task.name} --worker W --manager M`,
    });
  }
  const modes = input.mode === "both" ? (["events", "pane"] as const) : ([input.mode] as const);
  const captured: Array<z.infer<typeof Segment>> = [];
  const skipped: Array<{ session: string; mode: string; reason: string }> = [];
  let duplicates = 0;
  for (const s of targets) {
    for (const mode of modes) {
      let content: string;
      let first: number | null = null;
      let last: number | null = null;
      if (mode === "events") {
        if (!s.transcriptPath) {
          skipped.push({ session: s.name, mode, reason: "the session has no transcript" });
          continue;
        }
        try {
          await ingestSession(ctx, s);
        } catch (e) {
          skipped.push({ session: s.name, mode, reason: `ingest failed: ${(e as Error).message}` });
          continue;
        }
        const [prev] = await ctx.db
          .select({ last: transcriptSegments.lastEventId })
          .from(transcriptSegments)
          .where(and(eq(transcriptSegments.sessionId, s.id), eq(transcriptSegments.mode, "events")))
          .orderBy(desc(transcriptSegments.sessionId), desc(transcriptSegments.mode), desc(transcriptSegments.id))
          .limit(1);
        const msgs = await messagesAfter(ctx, s.id, prev?.last ?? 0);
        if (!msgs.length) {
          skipped.push({ session: s.name, mode, reason: "no new messages since the last capture" });
          continue;
        }
        first = msgs[0]!.id;
        last = msgs[msgs.length - 1]!.id;
        content = msgs.map((m) => `[${m.kind}] ${m.text ?? ""}`).join("\n");
      } else {
        if (!s.tmuxSession) {
          skipped.push({ session: s.name, mode, reason: "the session has no tmux pane" });
          continue;
        }
        try {
          const host = hostFor(ctx, s);
          await assertPaneOwned(host, s.tmuxSession, { pid: s.pid, startedAt: s.pidStartedAt, transcriptPath: s.transcriptPath });
          content = await host.tmuxCapturePane(s.tmuxSession);
        } catch (e) {
          const err = hostErrorToApi(e) as Error;
          skipped.push({ session: s.name, mode, reason: `pane capture failed: ${err.message}` });
          continue;
        }
      }
      const hash = await sha256Hex(content);
      const row = {
        taskId: task.id,
        sessionId: s.id,
        role: s.boundRole,
        mode,
        contentHash: hash,
        content,
        bytes: new TextEncoder().encode(content).length,
        lines: content.split("\n").length,
        firstEventId: first,
        lastEventId: last,
        createdBy: actorOf(ctx.auth),
        createdAt: ctx.now().getTime(),
      };
      const audit = auditInsert(ctx, {
        kind: "transcript_segment_captured",
        taskId: task.id,
        sessionId: s.id,
        payload: { session: s.name, mode, content_hash: hash, bytes: row.bytes, first_event_id: first, last_event_id: last },
      });
      const [inserted] = await ctx.db.batch([
        ctx.db.insert(transcriptSegments).values(row).onConflictDoNothing().returning(),
        // The audit row only when the segment is new: a duplicate changes nothing.
        ctx.db.run(sql`INSERT INTO events (id, kind, task_id, session_id, actor, payload_json, created_at)
          SELECT ${audit.row.id}, ${audit.row.kind}, ${audit.row.taskId}, ${audit.row.sessionId}, ${audit.row.actor}, ${JSON.stringify(audit.row.payload)}, ${audit.row.createdAt}
          WHERE changes() > 0`),
      ]);
      if (inserted.length) captured.push(wireSegment(inserted[0]!, s.name, false));
      else duplicates += 1;
    }
  }
  return { task: task.name, captured, duplicates, skipped };
}

/** A task's kept segments, oldest first, content redacted unless asked. */
export async function listSegments(ctx: Ctx, name: string, q: z.output<typeof SegmentsQuery>) {
  const task = await taskByName(ctx, name);
  const ts = await taskSessions(ctx, task.id);
  const after = decodeTypedCursor(q.cursor, ["int"], "transcripts/segments");
  const rows = await ctx.db
    .select()
    .from(transcriptSegments)
    .where(
      and(
        eq(transcriptSegments.taskId, task.id),
        // The role in the query, not after it: filtered after the limit, a page could come back
        // empty while its cursor said there was more.
        q.role === "all" ? undefined : eq(transcriptSegments.role, q.role),
        after ? sql`${transcriptSegments.id} > ${after[0]}` : undefined,
      ),
    )
    .orderBy(asc(transcriptSegments.taskId), asc(transcriptSegments.id))
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.id], "transcripts/segments");
  const segments = page.items.map((s) => wireSegment(s, ts.byId.get(s.sessionId)?.name ?? s.sessionId, q.include_content));
  return { task: task.name, segments, count: segments.length, content_redacted: !q.include_content, next_cursor: page.next_cursor };
}

/** Most sessions one prune walks. */
const PRUNE_SESSIONS = 10000;

/**
 * Drops the content of all but the newest `keep_latest` segments of each session (of one task,
 * or all), keeping hash, sizes, event range and times. Reads only segments that still hold
 * content (a partial index); one batch writes the change and its audit row.
 */
export async function pruneSegments(ctx: Ctx, taskName: string | null, input: z.output<typeof PruneBody>) {
  const task = taskName ? await taskByName(ctx, taskName) : null;
  const seg = transcriptSegments;
  // A task's sessions come from its bindings; all sessions with text from the partial index.
  const sessionRows = task
    ? [...(await taskSessions(ctx, task.id)).byId.keys()].map((sessionId) => ({ sessionId }))
    : await ctx.db.selectDistinct({ sessionId: seg.sessionId }).from(seg).where(isNotNull(seg.content)).limit(PRUNE_SESSIONS);
  const victims: Array<{ id: number; bytes: number }> = [];
  for (const { sessionId } of sessionRows) {
    const rows = await ctx.db
      .select({ id: seg.id, bytes: seg.bytes, taskId: seg.taskId })
      .from(seg)
      .where(and(eq(seg.sessionId, sessionId), isNotNull(seg.content)))
      .orderBy(desc(seg.sessionId), desc(seg.id))
      .limit(100000)
      .offset(input.keep_latest);
    for (const r of rows) if (!task || r.taskId === task.id) victims.push({ id: r.id, bytes: r.bytes });
  }
  const ids = victims.map((v) => v.id).sort((a, b) => a - b);
  const bytes = victims.reduce((n, v) => n + v.bytes, 0);
  if (!input.dry_run && ids.length) {
    const audit = auditInsert(ctx, {
      kind: "transcript_pruned",
      taskId: task?.id ?? null,
      payload: { keep_latest: input.keep_latest, segments_pruned: ids.length, bytes_dropped: bytes, scope: task ? "task" : "all" },
    });
    const now = ctx.now().getTime();
    const stmts = [];
    for (let i = 0; i < ids.length; i += 500) {
      stmts.push(
        ctx.db
          .update(seg)
          .set({ content: null, prunedAt: now })
          .where(inArray(seg.id, ids.slice(i, i + 500))),
      );
    }
    await ctx.db.batch([...stmts, audit.stmt] as unknown as [typeof audit.stmt]);
  }
  return {
    task: task?.name ?? null,
    keep_latest: input.keep_latest,
    dry_run: input.dry_run,
    sessions: sessionRows.length,
    segments_pruned: ids.length,
    bytes_dropped: bytes,
    segment_ids: ids.slice(0, 1000),
  };
}
