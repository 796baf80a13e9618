import { and, eq } from "drizzle-orm";
import { sessions } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { eqLiteral } from "../lib/sql.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { activeSessionByName } from "../sessions/lookup.ts";
import { NameParam } from "../sessions/schema.ts";
import { ingestCursorRead, ingestFromCursor } from "./ingest.ts";
import { IngestResult } from "./schema.ts";
import { assertMayObserve } from "./tail.ts";

export const ingestRoute = defineRoute(
  ["owner", "daemon", "session"],
  {
    method: "post",
    path: "/sessions/{name}/ingest",
    tags: ["observe"],
    summary: "Ingest new transcript lines of a session",
    description: "Incremental by byte offset; partial last lines wait; malformed lines are counted in skipped_lines. CLI: ingest SESSION.",
    request: { params: NameParam },
    responses: { 200: jsonResponse(IngestResult, "Ingest report") },
  },
  { rateLimited: true },
);

/**
 * Ingests one session by name. The session and its cursor are read in one batch (the cursor keyed
 * by the name), before the file is looked at as ingest requires; the cursor is used only once the
 * caller may observe the session.
 */
export async function ingestByName(ctx: Ctx, name: string) {
  const active = and(eq(sessions.name, name), eqLiteral(sessions.state, "active"));
  const [found, cursors] = await ctx.db.batch([
    ctx.db.select().from(sessions).where(active).limit(1),
    ingestCursorRead(ctx, ctx.db.select({ id: sessions.id }).from(sessions).where(active).limit(1)),
  ]);
  // Not found: the lookup again, for its error (gone or never registered), and should it find
  // the session after all (registered meanwhile), ingest reads the cursor itself.
  const s = found[0] ?? (await activeSessionByName(ctx, name));
  await assertMayObserve(ctx, s);
  return (await ingestFromCursor(ctx, s, found[0] ? { cursor: cursors[0] } : null)).report;
}
