import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { activeSessionByName } from "../sessions/lookup.ts";
import { NameParam } from "../sessions/schema.ts";
import { ingestSession } from "./ingest.ts";
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

/** Ingests one session by name. */
export async function ingestByName(ctx: Ctx, name: string) {
  const s = await activeSessionByName(ctx, name);
  await assertMayObserve(ctx, s);
  return ingestSession(ctx, s);
}
