import type { z } from "@hono/zod-openapi";
import { and, asc, eq, type SQL, sql } from "drizzle-orm";
import { sessions } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { decodeCursor, keysetAfter, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { ListQuery, SessionList } from "./schema.ts";
import { detailsVisibleTo, sessionToWire } from "./wire.ts";
import { eqLiteral, rowFromRaw } from "../lib/sql.ts";

export const listRoute = defineRoute(["owner", "daemon", "runner", "session"], {
  method: "get",
  path: "/sessions",
  tags: ["sessions"],
  summary: "List sessions",
  description:
    "Active sessions by default, oldest first, a page at a time (limit, cursor = the previous next_cursor); filter by role, state and (repeatable) name. A session token sees pid, cwd, tmux_session, transcript_path, agent_session_id and thread_id only of itself and the sessions it is bound with (a runner: of its host); others' are null. CLI: sessions [--limit N] [--cursor C].",
  request: { query: ListQuery },
  responses: { 200: jsonResponse(SessionList, "Sessions") },
});

/** Lists sessions matching the filters, oldest first, a page at a time. */
export async function listSessions(ctx: Ctx, q: z.output<typeof ListQuery>) {
  const after = decodeCursor(q.cursor, 2, "sessions/list");
  const where: SQL[] = [];
  if (q.role) where.push(eq(sessions.role, q.role));
  if (q.state !== "all") where.push(eqLiteral(sessions.state, q.state));
  const next = keysetAfter([sessions.createdAt, sessions.id], after);
  if (next) where.push(next);
  const names = [...new Set(q.name)];
  const rows = names.length
    ? await namedPage(ctx, names, where, q.limit + 1)
    : await ctx.db
        .select()
        .from(sessions)
        .where(where.length ? and(...where) : undefined)
        .orderBy(asc(sessions.createdAt), asc(sessions.id))
        .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.createdAt, r.id], "sessions/list");
  const visible = await detailsVisibleTo(ctx);
  const out = page.items.map((r) => sessionToWire(r, { redactToken: q.redact_identity_token, hideDetails: !visible(r) }));
  return { sessions: out, count: out.length, next_cursor: page.next_cursor };
}

/**
 * The first `n` sessions with any of `names` that also match `where`, oldest first: one arm per
 * name, each read off the (name, created_at, id) index in page order, which SQLite merges in
 * order and stops at `n`. One `name IN (…)` would sort every registration those names ever had
 * (a name is reused with each restart) before it could cut the page.
 */
async function namedPage(ctx: Ctx, names: string[], where: SQL[], n: number) {
  const rest = where.length ? sql` AND ${and(...where)}` : sql``;
  const arms = sql.join(
    names.map((name) => sql`SELECT * FROM ${sessions} WHERE ${sessions.name} = ${name}${rest}`),
    sql` UNION ALL `,
  );
  const rows = await ctx.db.all<Record<string, unknown>>(sql`${arms} ORDER BY "created_at", "id" LIMIT ${n}`);
  return rows.map((r) => rowFromRaw(sessions, r));
}
