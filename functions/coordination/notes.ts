import type { z } from "@hono/zod-openapi";
import { and, desc, eq, inArray } from "drizzle-orm";
import { runtimeNotes, type RuntimeNoteRow } from "../../schema/coordination.ts";
import { sessions } from "../../schema/sessions.ts";
import { tasks } from "../../schema/tasks.ts";
import { auditInsert } from "../lib/audit.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { decodeCursor, keysetAfter, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { activeSessionByName } from "../sessions/lookup.ts";
import { taskByName, taskForWrite } from "../tasks/lookup.ts";
import { AddNoteBody, NoteList, NoteListQuery, NoteResult } from "./schema.ts";

export const addNoteRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/notes",
    tags: ["coordination"],
    summary: "Add a runtime note (what is happening now), optionally about a task or session",
    description: "A session's notes are signed by it. CLI: note add TEXT [--task T] [--session S].",
    request: { body: jsonBody(AddNoteBody) },
    responses: { 201: jsonResponse(NoteResult, "Added") },
  },
  { idempotency: "atomic" },
);

export const listNotesRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/notes",
  tags: ["coordination"],
  summary: "Runtime notes, newest first, of everything or one task",
  description: "CLI: notes [--task T] [--limit N] [--cursor C].",
  request: { query: NoteListQuery },
  responses: { 200: jsonResponse(NoteList, "Notes") },
});

/** Notes with task and session names resolved. */
export async function notesToWire(ctx: Ctx, rows: RuntimeNoteRow[]) {
  const sIds = [...new Set(rows.flatMap((r) => (r.sessionId ? [r.sessionId] : [])))];
  const tIds = [...new Set(rows.flatMap((r) => (r.taskId ? [r.taskId] : [])))];
  const s = new Map(
    sIds.length
      ? (await ctx.db.select({ id: sessions.id, name: sessions.name }).from(sessions).where(inArray(sessions.id, sIds))).map((x) => [x.id, x.name])
      : [],
  );
  const t = new Map(
    tIds.length ? (await ctx.db.select({ id: tasks.id, name: tasks.name }).from(tasks).where(inArray(tasks.id, tIds))).map((x) => [x.id, x.name]) : [],
  );
  return rows.map((n) => ({
    id: n.id,
    text: n.text,
    task: n.taskId ? (t.get(n.taskId) ?? n.taskId) : null,
    session: n.sessionId ? (s.get(n.sessionId) ?? n.sessionId) : null,
    author: n.author,
    created_at: iso(n.createdAt)!,
  }));
}

/** Adds a note; a session token's note is about itself. */
export async function addNote(ctx: Ctx, input: z.output<typeof AddNoteBody>, respond?: number) {
  let sessionId = input.session ? (await activeSessionByName(ctx, input.session)).id : null;
  if (ctx.auth.kind === "session") {
    if (sessionId && sessionId !== ctx.auth.sessionId)
      throw new ApiError("FORBIDDEN", "a session may write notes only about itself", { hint: "Leave out session." });
    sessionId = ctx.auth.sessionId;
  }
  const row: RuntimeNoteRow = {
    id: ctx.newId("not"),
    text: input.text,
    taskId: input.task ? (await taskForWrite(ctx, input.task, "a note")).id : null,
    sessionId,
    author: actorOf(ctx.auth),
    createdAt: ctx.now().getTime(),
  };
  const audit = auditInsert(ctx, { kind: "note_added", taskId: row.taskId, sessionId, payload: { note_id: row.id } });
  const result = { note: (await notesToWire(ctx, [row]))[0]!, note_id: row.id, event_id: audit.id };
  await batchWithKey(ctx, [ctx.db.insert(runtimeNotes).values(row), audit.stmt], respond ? { body: result, status: respond } : undefined);
  return result;
}

/** Lists notes newest first. */
export async function listNotes(ctx: Ctx, q: z.output<typeof NoteListQuery>) {
  const after = decodeCursor(q.cursor, 2, "coordination/notes");
  const taskId = q.task ? (await taskByName(ctx, q.task)).id : undefined;
  const rows = await ctx.db
    .select()
    .from(runtimeNotes)
    .where(and(taskId ? eq(runtimeNotes.taskId, taskId) : undefined, keysetAfter([runtimeNotes.createdAt, runtimeNotes.id], after, "desc")))
    .orderBy(desc(runtimeNotes.createdAt), desc(runtimeNotes.id))
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.createdAt, r.id], "coordination/notes");
  return { notes: await notesToWire(ctx, page.items), count: page.items.length, next_cursor: page.next_cursor };
}
