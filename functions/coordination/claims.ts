import type { z } from "@hono/zod-openapi";
import { and, asc, desc, eq, gt, inArray, isNull, type SQL, sql } from "drizzle-orm";
import { fileClaims, type FileClaimRow } from "../../schema/coordination.ts";
import { events } from "../../schema/events.ts";
import { sessions } from "../../schema/sessions.ts";
import { auditInsert } from "../lib/audit.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { ApiError, notFound } from "../lib/errors.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { guardedInsert } from "../lib/guarded.ts";
import { decodeCursor, keysetAfter, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { activeSessionByName } from "../sessions/lookup.ts";
import { taskForWrite } from "../tasks/lookup.ts";
import { AddClaimBody, AddClaimResult, ClaimList, ClaimListQuery, IdParam, ReleaseClaimResult } from "./schema.ts";

export const addClaimRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/claims",
    tags: ["coordination"],
    summary: "Claim files (a path or glob) for a session for a time; exclusive claims conflict with any overlapping live claim",
    description:
      "Two claims overlap when the fixed part of one path (up to its first wildcard) equals, or is a folder above, the other's. A conflict answers 409 naming each holder and when its claim expires. A session's repeat claim of the same path refreshes its expiry. CLI: claim add --path GLOB --session S --ttl 30m [--exclusive].",
    request: { body: jsonBody(AddClaimBody) },
    responses: { 201: jsonResponse(AddClaimResult, "Claimed") },
  },
  { idempotency: "atomic" },
);

export const listClaimsRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/claims",
  tags: ["coordination"],
  summary: "List live claims (or all) of everyone or one session",
  description: "CLI: claim list [--session S] [--all] [--limit N] [--cursor C].",
  request: { query: ClaimListQuery },
  responses: { 200: jsonResponse(ClaimList, "Claims") },
});

export const releaseClaimRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/claims/{id}/release",
    tags: ["coordination"],
    summary: "Release a claim (owner, or the session holding it)",
    description: "CLI: claim release ID.",
    request: { params: IdParam },
    responses: { 200: jsonResponse(ReleaseClaimResult, "Released") },
  },
  { idempotency: "atomic" },
);

const GLOB_CHARS = /[*?[\]{}]/;

/**
 * Cleans a claimed path: no `.` segments anywhere, no doubled or trailing slashes. Two spellings
 * of one file must give one base, or `src/./auth/x.ts` would pass an exclusive claim on `src/auth`.
 */
export function normalizeClaimPath(path: string): string {
  const trimmed = path.trim();
  const rest = trimmed
    .split("/")
    .filter((s) => s !== "" && s !== ".")
    .join("/");
  return trimmed.startsWith("/") ? `/${rest}` : rest;
}

/** The fixed part of a path: its segments up to the first one with a wildcard. */
export function claimBase(path: string): string {
  const parts = normalizeClaimPath(path).split("/");
  const fixed: string[] = [];
  for (const part of parts) {
    if (GLOB_CHARS.test(part)) break;
    fixed.push(part);
  }
  return fixed.join("/");
}

/**
 * Claims whose base overlaps `base`: its ancestors and itself (a short IN list) or anything
 * below it (a range on the index: `/` sorts just before `0`). The root base overlaps all.
 */
export function overlapping(base: string): SQL {
  if (base === "") return sql`1`;
  const parts = base.split("/");
  const ancestors = [""];
  for (let i = 1; i <= parts.length; i++) ancestors.push(parts.slice(0, i).join("/"));
  return sql`(${inArray(fileClaims.base, [...new Set(ancestors)])} OR (${fileClaims.base} > ${`${base}/`} AND ${fileClaims.base} < ${`${base}0`}))`;
}

/** Live claims of other sessions that an (exclusive or shared) claim on `base` would collide with. */
function conflictsWhere(base: string, sessionId: string, exclusive: boolean, nowMs: number): SQL {
  return and(
    isNull(fileClaims.releasedAt),
    gt(fileClaims.expiresAt, nowMs),
    sql`${fileClaims.sessionId} <> ${sessionId}`,
    exclusive ? undefined : eq(fileClaims.exclusive, true),
    overlapping(base),
  )!;
}

async function namesOf(ctx: Ctx, ids: string[]) {
  const unique = [...new Set(ids)];
  if (!unique.length) return new Map<string, string>();
  return new Map((await ctx.db.select({ id: sessions.id, name: sessions.name }).from(sessions).where(inArray(sessions.id, unique))).map((s) => [s.id, s.name]));
}

/** The wire form of a claim. */
export function claimToWire(c: FileClaimRow, session: string, nowMs: number) {
  return {
    id: c.id,
    path: c.path,
    base: c.base,
    session,
    session_id: c.sessionId,
    exclusive: c.exclusive,
    note: c.note,
    task_id: c.taskId,
    created_at: iso(c.createdAt)!,
    expires_at: iso(c.expiresAt)!,
    released_at: iso(c.releasedAt),
    live: c.releasedAt === null && c.expiresAt > nowMs,
  };
}

/** A live claim of exactly this path and kind by this session. */
function sameLiveClaim(sessionId: string, path: string, exclusive: boolean, nowMs: number) {
  return and(
    eq(fileClaims.sessionId, sessionId),
    eq(fileClaims.path, path),
    eq(fileClaims.exclusive, exclusive),
    isNull(fileClaims.releasedAt),
    gt(fileClaims.expiresAt, nowMs),
  );
}

/**
 * Takes a claim. The insert carries its own conflict check (`INSERT … SELECT … WHERE NOT
 * EXISTS (live overlapping claim of another session)`), one statement under SQLite's write
 * lock, so no two racing processes can both take overlapping exclusive claims. The audit row
 * is guarded by the new claim's existence, in the same batch.
 */
export async function addClaim(ctx: Ctx, input: z.output<typeof AddClaimBody>, respond?: number, retried = false) {
  const session = await activeSessionByName(ctx, input.session);
  if (ctx.auth.kind === "session" && ctx.auth.sessionId !== session.id) {
    throw new ApiError("FORBIDDEN", `a session token may claim only for itself, not for '${session.name}'`, { hint: "Pass your own session name." });
  }
  const taskId = input.task ? (await taskForWrite(ctx, input.task, "a claim")).id : null;
  const path = normalizeClaimPath(input.path);
  const base = claimBase(path);
  const nowMs = ctx.now().getTime();
  const expiresAt = nowMs + input.ttl_seconds * 1000;
  // A repeat claim of the same path (and kind) by its holder refreshes the expiry.
  const [mine] = await ctx.db
    .select()
    .from(fileClaims)
    .where(sameLiveClaim(session.id, path, input.exclusive, nowMs))
    .limit(1);
  if (mine) {
    const audit = auditInsert(ctx, { kind: "claim_refreshed", sessionId: session.id, payload: { claim_id: mine.id, path, expires_at: iso(expiresAt) } });
    const refreshed = { claim: claimToWire({ ...mine, expiresAt }, session.name, nowMs), claim_id: mine.id, refreshed: true, event_id: audit.id };
    await batchWithKey(
      ctx,
      [ctx.db.update(fileClaims).set({ expiresAt }).where(eq(fileClaims.id, mine.id)), audit.stmt],
      respond ? { body: refreshed, status: respond } : undefined,
    );
    return refreshed;
  }
  const row: FileClaimRow = {
    id: ctx.newId("clm"),
    path,
    base,
    sessionId: session.id,
    exclusive: input.exclusive,
    note: input.note ?? null,
    taskId,
    createdAt: nowMs,
    expiresAt,
    releasedAt: null,
    releasedBy: null,
  };
  const audit = auditInsert(ctx, {
    kind: "claim_added",
    sessionId: session.id,
    taskId,
    payload: { claim_id: row.id, path, exclusive: row.exclusive, ttl_seconds: input.ttl_seconds },
  });
  const added = { claim: claimToWire(row, session.name, nowMs), claim_id: row.id, refreshed: false, event_id: audit.id };
  const inserted = sql`EXISTS (SELECT 1 FROM ${fileClaims} WHERE ${fileClaims.id} = ${row.id})`;
  // The answer is stored with the key only where the claim went in; a refused claim stores none.
  await batchWithKey(
    ctx,
    [
      guardedInsert(
        ctx.db,
        fileClaims,
        row,
        // Nor a twin: the same claim by this session that a concurrent request just took.
        sql`NOT EXISTS (SELECT 1 FROM ${fileClaims} WHERE ${conflictsWhere(base, session.id, row.exclusive, nowMs)})
          AND NOT EXISTS (SELECT 1 FROM ${fileClaims} WHERE ${sameLiveClaim(session.id, path, row.exclusive, nowMs)})`,
      ),
      guardedInsert(ctx.db, events, audit.row, inserted),
    ],
    respond ? { body: added, status: respond, guard: inserted } : undefined,
  );
  const [won] = await ctx.db.select({ id: fileClaims.id }).from(fileClaims).where(eq(fileClaims.id, row.id));
  if (won) return added;
  // Lost to a twin: this request is then a repeat claim, which refreshes the twin.
  const [twin] = await ctx.db
    .select({ id: fileClaims.id })
    .from(fileClaims)
    .where(sameLiveClaim(session.id, path, row.exclusive, nowMs))
    .limit(1);
  if (twin && !retried) return addClaim(ctx, input, respond, true);
  const holders = await ctx.db
    .select()
    .from(fileClaims)
    .where(conflictsWhere(base, session.id, row.exclusive, nowMs))
    .limit(10);
  const names = await namesOf(
    ctx,
    holders.map((h) => h.sessionId),
  );
  const list = holders.map(
    (h) => `${h.path} held ${h.exclusive ? "exclusively " : ""}by ${names.get(h.sessionId) ?? h.sessionId} until ${iso(h.expiresAt)} (${h.id})`,
  );
  throw new ApiError("CONFLICT", `'${path}' overlaps live claim(s): ${list.join("; ") || "one that was taken concurrently"}`, {
    hint: "Wait for the claim to expire or be released, coordinate with its holder, or claim a narrower path.",
  });
}

/** Lists claims: live ones by path (partial index), or all newest first, or one session's. */
export async function listClaims(ctx: Ctx, q: z.output<typeof ClaimListQuery>) {
  const nowMs = ctx.now().getTime();
  let rows: FileClaimRow[];
  let keyOf: (r: FileClaimRow) => Array<string | number>;
  if (q.session) {
    const s = await activeSessionByName(ctx, q.session);
    const after = decodeCursor(q.cursor, 2, "coordination/claims");
    rows = await ctx.db
      .select()
      .from(fileClaims)
      .where(
        and(
          eq(fileClaims.sessionId, s.id),
          // In the query, not after it: filtered after the limit, a page of released claims came
          // back empty with no cursor while older live ones went unlisted.
          q.state === "live" ? and(isNull(fileClaims.releasedAt), gt(fileClaims.expiresAt, nowMs)) : undefined,
          keysetAfter([fileClaims.createdAt, fileClaims.id], after, "desc"),
        ),
      )
      .orderBy(desc(fileClaims.createdAt), desc(fileClaims.id))
      .limit(q.limit + 1);
    keyOf = (r) => [r.createdAt, r.id];
  } else if (q.state === "live") {
    // By base, then id: the expiry moves when a claim is renewed, and a renewed claim ordered
    // by it came back a page later.
    const after = decodeCursor(q.cursor, 2, "coordination/claims-live");
    rows = await ctx.db
      .select()
      .from(fileClaims)
      .where(and(isNull(fileClaims.releasedAt), gt(fileClaims.expiresAt, nowMs), keysetAfter([fileClaims.base, fileClaims.id], after)))
      .orderBy(asc(fileClaims.base), asc(fileClaims.id))
      .limit(q.limit + 1);
    keyOf = (r) => [r.base, r.id];
  } else {
    const after = decodeCursor(q.cursor, 2, "coordination/claims");
    rows = await ctx.db
      .select()
      .from(fileClaims)
      .where(keysetAfter([fileClaims.createdAt, fileClaims.id], after, "desc"))
      .orderBy(desc(fileClaims.createdAt), desc(fileClaims.id))
      .limit(q.limit + 1);
    keyOf = (r) => [r.createdAt, r.id];
  }
  const page = pageOf(rows, q.limit, keyOf, !q.session && q.state === "live" ? "coordination/claims-live" : "coordination/claims");
  const names = await namesOf(
    ctx,
    page.items.map((c) => c.sessionId),
  );
  return {
    claims: page.items.map((c) => claimToWire(c, names.get(c.sessionId) ?? c.sessionId, nowMs)),
    count: page.items.length,
    next_cursor: page.next_cursor,
  };
}

/** Releases one claim; a session may release only its own. */
export async function releaseClaim(ctx: Ctx, id: string, respond?: number) {
  const [c] = await ctx.db.select().from(fileClaims).where(eq(fileClaims.id, id)).limit(1);
  if (!c) throw notFound("claim", id, "List claims with: switchyard claim list");
  if (ctx.auth.kind === "session" && ctx.auth.sessionId !== c.sessionId) {
    throw new ApiError("FORBIDDEN", `claim '${id}' belongs to another session`, { hint: "Ask its holder or the owner to release it." });
  }
  if (c.releasedAt !== null) {
    throw new ApiError("CONFLICT", `claim '${id}' was already released at ${iso(c.releasedAt)}`, {
      hint: "Nothing to do; `switchyard claim list` shows the live claims.",
    });
  }
  const nowMs = ctx.now().getTime();
  const audit = auditInsert(ctx, { kind: "claim_released", sessionId: c.sessionId, taskId: c.taskId, payload: { claim_id: id, path: c.path } });
  const [name] = await ctx.db.select({ name: sessions.name }).from(sessions).where(eq(sessions.id, c.sessionId));
  const releasedBy = actorOf(ctx.auth);
  const result = { claim: claimToWire({ ...c, releasedAt: nowMs, releasedBy }, name?.name ?? c.sessionId, nowMs), event_id: audit.id };
  // This request's audit row decides: it goes in only while the claim is unreleased, and the
  // release and the stored answer follow it. (A guard on released_at = now let two releases in
  // the same millisecond both count as the winner.)
  const unreleased = sql`EXISTS (SELECT 1 FROM ${fileClaims} WHERE ${fileClaims.id} = ${id} AND ${fileClaims.releasedAt} IS NULL)`;
  const released = sql`EXISTS (SELECT 1 FROM ${events} WHERE ${events.id} = ${audit.id})`;
  const [, rows] = await batchWithKey(
    ctx,
    [
      guardedInsert(ctx.db, events, audit.row, unreleased),
      ctx.db
        .update(fileClaims)
        .set({ releasedAt: nowMs, releasedBy })
        .where(and(eq(fileClaims.id, id), isNull(fileClaims.releasedAt), released))
        .returning(),
    ],
    respond ? { body: result, status: respond, guard: released } : undefined,
  );
  if (!rows[0]) {
    throw new ApiError("CONFLICT", `claim '${id}' was released concurrently`, {
      hint: "Another request released it first; `switchyard claim list` shows the live claims.",
    });
  }
  return result;
}

/** Releases every unreleased claim of a session (a dead worker's, on harvest or orphan release). */
export async function releaseClaimsOf(ctx: Ctx, sessionId: string, reason: string): Promise<string[]> {
  const nowMs = ctx.now().getTime();
  const released = await ctx.db
    .update(fileClaims)
    .set({ releasedAt: nowMs, releasedBy: `${actorOf(ctx.auth)} (${reason})` })
    .where(and(eq(fileClaims.sessionId, sessionId), isNull(fileClaims.releasedAt)))
    .returning({ id: fileClaims.id });
  if (released.length) {
    await auditInsert(ctx, { kind: "claims_released", sessionId, payload: { claims: released.map((r) => r.id), reason } }).stmt;
  }
  return released.map((r) => r.id);
}
