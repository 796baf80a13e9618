import type { z } from "@hono/zod-openapi";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { taskByName } from "../tasks/lookup.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { replayPage, taskSessions, type ReplayEntry } from "./history.ts";
import { ReplayQuery, ReplayResult } from "./schema.ts";

/** Pages a role-filtered replay reads beyond the first to fill its page. */
const ROLE_READS_AHEAD = 4;

export const replayRoute = defineRoute(
  ["owner", "daemon"],
  {
    method: "get",
    path: "/tasks/{name}/replay",
    tags: ["audit"],
    summary: "A task's history reconstructed in time order, one page at a time",
    description:
      "Merges cycles (with `[pane pattern: …]` marks), audit events, commands with their attempts, routed notifications (delivery mode, source and target, delivered and consumed), decisions, criteria and broker actions; the transcript formats add the sessions' own messages. Content is shown as length markers unless include_content=true; full-transcript is refused without it. CLI: replay TASK.",
    request: { params: TaskNameParam, query: ReplayQuery },
    responses: { 200: jsonResponse(ReplayResult, "One page") },
  },
  { rateLimited: true },
);

const hhmmss = (at: string) => at.slice(11, 19);

/** One entry as a line (or a few) in the requested format. */
export function renderEntry(e: ReplayEntry, format: z.output<typeof ReplayQuery>["format"]): string {
  const who = e.session ? ` ${e.session}` : e.role ? ` ${e.role}` : "";
  if (format === "compact") return `${hhmmss(e.at)} ${e.source.padEnd(10)} ${e.summary}`;
  if (format === "timeline") return `${e.at} [${e.source}]${who} ${e.summary}`;
  // The transcript formats read as a conversation: messages by speaker, other entries as notes.
  if (e.source === "transcript") {
    const text = typeof e.detail.text === "string" ? e.detail.text : "";
    return `${e.at} ${e.session ?? e.role ?? "?"} (${e.detail.kind}): ${text}`;
  }
  return `${e.at}   · ${e.summary}`;
}

/** Replays one page of a task's history in the requested format. */
export async function replayTask(ctx: Ctx, name: string, q: z.output<typeof ReplayQuery>) {
  if (q.format === "full-transcript" && !q.include_content) {
    throw new ApiError("VALIDATION_FAILED", "full-transcript shows the sessions' messages in full, so it needs include_content=true", {
      hint: "Pass --include-content (include_content=true), or use --format transcript for the same view with content redacted.",
      fields: [{ field: "format", message: "full-transcript needs include_content" }],
    });
  }
  const task = await taskByName(ctx, name);
  const ts = await taskSessions(ctx, task.id);
  const read = (cursor: string | undefined, limit: number) =>
    replayPage(ctx, task, ts, {
      limit,
      cursor,
      role: q.role,
      includeContent: q.include_content,
      transcript: q.format === "transcript" || q.format === "full-transcript",
    });
  const page = await read(q.cursor, q.limit);
  // A role filter drops the other role's entries after the page is cut: read on (a few pages at
  // most, so a request stays bounded) rather than answer a page that is empty or short.
  for (let extra = 0; q.role !== "all" && page.entries.length < q.limit && page.next_cursor && extra < ROLE_READS_AHEAD; extra++) {
    const more = await read(page.next_cursor, q.limit - page.entries.length);
    page.entries.push(...more.entries);
    page.next_cursor = more.next_cursor;
  }
  return {
    task: task.name,
    format: q.format,
    role: q.role,
    content_redacted: !q.include_content,
    entries: page.entries,
    lines: page.entries.map((e) => renderEntry(e, q.format)),
    count: page.entries.length,
    next_cursor: page.next_cursor,
  };
}
