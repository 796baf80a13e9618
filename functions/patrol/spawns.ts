import { z } from "@hono/zod-openapi";
import { and, asc, eq, max } from "drizzle-orm";
import { spawns, type SpawnRow } from "../../schema/patrol.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { NameSchema } from "../lib/names.ts";
import { PaneTextField } from "../lib/pane-text.ts";
import { decodeCursor, keysetAfter, NextCursorField, PageQueryFields, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { isUniqueViolation, iso, eqLiteral } from "../lib/sql.ts";
import { activeSessionByName } from "../sessions/lookup.ts";

/** The text a pending spawn is nudged with when none is given. */
export const DEFAULT_BEGIN_TEXT = "Begin.";

export const Spawn = z
  .object({
    id: z.string(),
    session: z.string(),
    session_id: z.string(),
    generation: z.number().int(),
    agent: z.string(),
    host: z.string().nullable(),
    tmux_session: z.string(),
    pane_pid: z.number().int().nullable(),
    state: z.enum(["pending", "triggered", "started"]),
    begin_text: z.string().nullable(),
    trigger_command_id: z.string().nullable(),
    created_at: z.string(),
    triggered_at: z.string().nullable(),
    reaped_at: z.string().nullable(),
    reap_reason: z.string().nullable(),
  })
  .openapi("Spawn");

export const AddPendingBody = z
  .object({
    session: NameSchema.openapi({ description: "An active session with a tmux pane" }),
    text: PaneTextField(2000)
      .optional()
      .openapi({ description: `What to type once it is ready (default "${DEFAULT_BEGIN_TEXT}")` }),
    agent: z.enum(["codex", "claude"]).optional(),
  })
  .strict()
  .openapi("AddPendingSpawn");

export const PendingListQuery = z.object({ ...PageQueryFields });

export const addPendingRoute = defineRoute(["owner"], {
  method: "post",
  path: "/patrol/pending-spawns",
  tags: ["patrol"],
  summary: "Put a spawned session on the pending list: the patrol nudges it once when its pane shows the ready prompt",
  description: "CLI: patrol pending-add SESSION [--text T].",
  request: { body: jsonBody(AddPendingBody) },
  responses: { 201: jsonResponse(z.object({ spawn: Spawn, spawn_id: z.string(), event_id: z.string() }).openapi("AddPendingResult"), "Pending") },
});

export const listPendingRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/patrol/pending-spawns",
  tags: ["patrol"],
  summary: "Spawned sessions waiting for their ready prompt, oldest first",
  description: "CLI: patrol pending [--limit N] [--cursor C].",
  request: { query: PendingListQuery },
  responses: { 200: jsonResponse(z.object({ spawns: z.array(Spawn), count: z.number().int(), ...NextCursorField }).openapi("PendingList"), "Pending") },
});

/** The wire form of a spawn row. */
export function spawnToWire(s: SpawnRow) {
  return {
    id: s.id,
    session: s.sessionName,
    session_id: s.sessionId,
    generation: s.generation,
    agent: s.agent,
    host: s.host,
    tmux_session: s.tmuxSession,
    pane_pid: s.panePid,
    state: s.state,
    begin_text: s.beginText,
    trigger_command_id: s.triggerCommandId,
    created_at: iso(s.createdAt)!,
    triggered_at: iso(s.triggeredAt),
    reaped_at: iso(s.reapedAt),
    reap_reason: s.reapReason,
  };
}

/**
 * Records a tmux session Switchyard started, as the next spawn generation of its session name.
 * The generation comes from the unique (name, generation) index: a concurrent spawn of the same
 * name that took the number first makes this one retry with the next.
 */
export async function recordSpawn(
  ctx: Ctx,
  input: { sessionId: string; sessionName: string; agent: string; host: string | null; tmuxSession: string; panePid: number | null; pending?: string | null },
): Promise<SpawnRow> {
  for (let attempt = 0; ; attempt++) {
    const [top] = await ctx.db
      .select({ g: max(spawns.generation) })
      .from(spawns)
      .where(eq(spawns.sessionName, input.sessionName));
    const row: SpawnRow = {
      id: ctx.newId("spn"),
      sessionId: input.sessionId,
      sessionName: input.sessionName,
      generation: (top?.g ?? 0) + 1,
      agent: input.agent,
      host: input.host,
      tmuxSession: input.tmuxSession,
      panePid: input.panePid,
      state: input.pending ? "pending" : "started",
      beginText: input.pending ?? null,
      triggerCommandId: null,
      createdAt: ctx.now().getTime(),
      triggeredAt: null,
      reapedAt: null,
      reapReason: null,
    };
    try {
      await ctx.db.insert(spawns).values(row);
      return row;
    } catch (e) {
      if (!isUniqueViolation(e) || attempt >= 5) throw e;
    }
  }
}

/** The current (newest) spawn record of a session, if Switchyard started it. */
export async function spawnOfSession(ctx: Ctx, sessionId: string): Promise<SpawnRow | null> {
  const [row] = await ctx.db.select().from(spawns).where(eq(spawns.sessionId, sessionId)).limit(1);
  return row ?? null;
}

/**
 * Puts a session on the pending list. A session Switchyard spawned gets its spawn record marked
 * pending; a session started elsewhere is recorded as generation-stamped spawn now (it is then
 * also one session-gc may clean up once it is gone).
 */
export async function addPending(ctx: Ctx, input: z.output<typeof AddPendingBody>) {
  const s = await activeSessionByName(ctx, input.session);
  if (!s.tmuxSession) {
    throw new ApiError("CONFLICT", `session '${s.name}' has no tmux pane to watch for a ready prompt`, {
      hint: "Send it a message instead: switchyard send NAME TEXT.",
    });
  }
  const text = input.text ?? DEFAULT_BEGIN_TEXT;
  const existing = await spawnOfSession(ctx, s.id);
  let row: SpawnRow;
  if (existing) {
    if (existing.state !== "started" || existing.triggerCommandId) {
      throw new ApiError("CONFLICT", `session '${s.name}' was already ${existing.state === "pending" ? "pending" : "triggered"}`, {
        hint: "A spawn is nudged to begin once; send further prompts with session-nudge.",
      });
    }
    const [updated] = await ctx.db
      .update(spawns)
      .set({ state: "pending", beginText: text })
      .where(and(eq(spawns.id, existing.id), eqLiteral(spawns.state, "started")))
      .returning();
    if (!updated) {
      throw new ApiError("CONFLICT", `session '${s.name}' changed concurrently`, {
        hint: "Another request queued its nudge first; `switchyard patrol pending` shows it.",
      });
    }
    row = updated;
  } else {
    row = await recordSpawn(ctx, {
      sessionId: s.id,
      sessionName: s.name,
      agent: input.agent ?? s.transcriptKind ?? "codex",
      host: s.host,
      tmuxSession: s.tmuxSession,
      panePid: s.pid,
      pending: text,
    });
  }
  const audit = auditInsert(ctx, { kind: "spawn_pending", sessionId: s.id, payload: { spawn_id: row.id, text } });
  await audit.stmt;
  return { spawn: spawnToWire(row), spawn_id: row.id, event_id: audit.id };
}

/** Pending spawns, oldest first. */
export async function listPending(ctx: Ctx, q: z.output<typeof PendingListQuery>) {
  const after = decodeCursor(q.cursor, 2, "patrol/spawns");
  const rows = await ctx.db
    .select()
    .from(spawns)
    .where(and(eqLiteral(spawns.state, "pending"), keysetAfter([spawns.createdAt, spawns.id], after)))
    .orderBy(asc(spawns.createdAt), asc(spawns.id))
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.createdAt, r.id], "patrol/spawns");
  return { spawns: page.items.map(spawnToWire), count: page.items.length, next_cursor: page.next_cursor };
}
