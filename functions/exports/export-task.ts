import { z } from "@hono/zod-openapi";
import { and, asc, eq, inArray, sql } from "drizzle-orm";
import { zipSync } from "fflate";
import { commands } from "../../schema/commands.ts";
import { ingestCursors, transcriptEvents } from "../../schema/observe.ts";
import { telemetryEvents, transcriptSegments } from "../../schema/telemetry.ts";
import { auditTask } from "../audit/audit.ts";
import { replayPage, taskSessions } from "../audit/history.ts";
import { redactText } from "../audit/redact.ts";
import { renderEntry } from "../audit/replay.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { taskByName } from "../tasks/lookup.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { telemetrySummary, wireTelemetry } from "../telemetry/search.ts";
import { taskSnapshot, telemetryTask } from "../telemetry/views.ts";
import { catchUpTelemetry } from "../telemetry/feed.ts";

export const ExportBody = z.object({
  dir: z.string().min(1).max(4096).openapi({ description: "An existing directory on the server's host; the bundle is created inside it" }),
  zip: z.boolean().optional().default(false).openapi({ description: "One .zip file instead of a folder" }),
  include_content: z.boolean().optional().default(false).openapi({ description: "Keep prompt, message and transcript content (redacted otherwise)" }),
});

export const ExportResult = z
  .object({
    task: z.string(),
    path: z.string().openapi({ description: "The bundle folder or zip file written" }),
    zip: z.boolean(),
    content_redacted: z.boolean(),
    files: z.array(z.object({ name: z.string(), bytes: z.number().int() })),
    bytes: z.number().int(),
    event_id: z.string(),
  })
  .openapi("ExportResult");

export const exportRoute = defineRoute(
  ["owner"],
  {
    method: "post",
    path: "/tasks/{name}/export",
    tags: ["audit"],
    summary: "Write a task's export bundle (status, audit, prompts, transcript metadata, telemetry, report)",
    description:
      "Creates `<dir>/<task>-<time>/` (or `<task>-<time>.zip` with zip=true) on the server's host: status.json, audit.json, prompts.json, transcripts.json, replay.txt, telemetry-events.json, telemetry-summary.json, telemetry-report.md, report.md and manifest.json. The directory must exist; nothing is written outside it or over an existing file. Content is redacted unless include_content=true. CLI: export-task TASK --out DIR [--zip].",
    request: { params: TaskNameParam, body: jsonBody(ExportBody) },
    responses: { 201: jsonResponse(ExportResult, "Written") },
  },
  { rateLimited: true },
);

/** Most replay entries and telemetry rows one bundle holds. */
const BUNDLE_CAP = 100_000;
const PROMPT_TYPES = ["spawn", "nudge", "nudge_worker", "notify_manager", "continue_iteration", "interrupt"] as const;

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

/** Every telemetry row of a task, oldest first, read in index-ordered pages. */
async function taskTelemetry(ctx: Ctx, taskId: string) {
  await catchUpTelemetry(ctx);
  const out = [];
  let after = 0;
  for (;;) {
    const rows = await ctx.db
      .select()
      .from(telemetryEvents)
      .where(and(eq(telemetryEvents.taskId, taskId), sql`${telemetryEvents.id} > ${after}`))
      .orderBy(asc(telemetryEvents.taskId), asc(telemetryEvents.id))
      .limit(5000);
    out.push(...rows.map(wireTelemetry));
    if (rows.length < 5000 || out.length >= BUNDLE_CAP) break;
    after = rows[rows.length - 1]!.id;
  }
  return out.slice(0, BUNDLE_CAP);
}

/** Builds the bundle's files in memory; writing them is the host's part. */
export async function buildBundle(ctx: Ctx, name: string, include: boolean) {
  const task = await taskByName(ctx, name);
  const ts = await taskSessions(ctx, task.id);
  const sessionIds = [...ts.byId.keys()];

  const audit = await auditTask(ctx, name, { include_content: include, limit: 10000 });
  const snapshot = await taskSnapshot(ctx, task);
  const triage = await telemetryTask(ctx, name);
  const summary = await telemetrySummary(ctx, { task: name });
  const telemetry = await taskTelemetry(ctx, task.id);

  const lines: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await replayPage(ctx, task, ts, { limit: 5000, cursor, role: "all", includeContent: include, transcript: false });
    lines.push(...page.entries.map((e) => renderEntry(e, "timeline")));
    if (!page.next_cursor || lines.length >= BUNDLE_CAP) break;
    cursor = page.next_cursor;
  }

  const prompts = await ctx.db
    .select()
    .from(commands)
    .where(and(eq(commands.taskId, task.id), inArray(commands.type, [...PROMPT_TYPES])))
    .limit(10000);
  const promptRows = prompts
    .sort((a, b) => a.createdAt - b.createdAt)
    .flatMap((c) => {
      const p = c.payload as Record<string, unknown>;
      const key = ["prompt", "text", "message", "followup"].find((k) => typeof p[k] === "string");
      const text = key ? (p[key] as string) : null;
      if (text === null) return [];
      return [
        {
          command_id: c.id,
          type: c.type,
          state: c.state,
          session: ts.byId.get(c.sessionId ?? "")?.name ?? c.sessionId,
          chars: text.length,
          text: redactText(text, include),
          created_at: iso(c.createdAt),
        },
      ];
    });

  const cursors = sessionIds.length ? await ctx.db.select().from(ingestCursors).where(inArray(ingestCursors.sessionId, sessionIds)) : [];
  const counts = sessionIds.length
    ? await ctx.db
        .select({ sessionId: transcriptEvents.sessionId, n: sql<number>`count(*)` })
        .from(transcriptEvents)
        .where(inArray(transcriptEvents.sessionId, sessionIds))
        .groupBy(transcriptEvents.sessionId)
    : [];
  const segments = await ctx.db
    .select({
      id: transcriptSegments.id,
      sessionId: transcriptSegments.sessionId,
      mode: transcriptSegments.mode,
      hash: transcriptSegments.contentHash,
      bytes: transcriptSegments.bytes,
      lines: transcriptSegments.lines,
      prunedAt: transcriptSegments.prunedAt,
      createdAt: transcriptSegments.createdAt,
    })
    .from(transcriptSegments)
    .where(eq(transcriptSegments.taskId, task.id))
    .orderBy(asc(transcriptSegments.taskId), asc(transcriptSegments.id))
    .limit(10000);
  const transcripts = {
    sessions: [...ts.byId.values()].map((s) => {
      const c = cursors.find((x) => x.sessionId === s.id);
      return {
        name: s.name,
        role: s.boundRole,
        state: s.state,
        transcript_kind: s.transcriptKind,
        transcript_path: s.transcriptPath,
        agent_session_id: s.agentSessionId,
        ingest: c
          ? { offset: c.offset, generation: c.generation, lines_total: c.linesTotal, skipped_total: c.skippedTotal, updated_at: iso(c.updatedAt) }
          : null,
        events: Number(counts.find((x) => x.sessionId === s.id)?.n ?? 0),
      };
    }),
    segments: segments.map((s) => ({
      id: s.id,
      session: ts.byId.get(s.sessionId)?.name ?? s.sessionId,
      mode: s.mode,
      content_hash: s.hash,
      bytes: s.bytes,
      lines: s.lines,
      pruned_at: iso(s.prunedAt),
      created_at: iso(s.createdAt),
    })),
  };

  const report = renderReport({ task: task.name, goal: include ? task.goal : null, snapshot, triage, summary, lines, prompts: promptRows.length, include });
  const telemetryReport = [
    `# Telemetry of ${task.name}`,
    "",
    `${summary.counts.total} events, ${summary.counts.failed} failed (${summary.counts.first_at ?? "-"} to ${summary.counts.last_at ?? "-"}).`,
    "",
    "| source | events | failed |",
    "| --- | ---: | ---: |",
    ...Object.entries(summary.counts.by_source).map(([s, c]) => `| ${s} | ${c.total} | ${c.failed} |`),
    "",
    "## Recent failures",
    "",
    ...(triage.recent_failures.length ? triage.recent_failures.map((f) => `- ${f.created_at} ${f.summary}`) : ["None."]),
    "",
  ].join("\n");

  const files: Record<string, string> = {
    "status.json": json({
      task: { name: task.name, id: task.id, state: task.state, created_at: iso(task.createdAt), finished_at: iso(task.finishedAt) },
      snapshot,
    }),
    "audit.json": json(audit),
    "prompts.json": json({ content_redacted: !include, prompts: promptRows }),
    "transcripts.json": json(transcripts),
    "replay.txt": `${lines.join("\n")}\n`,
    "telemetry-events.json": json({ task: task.name, events: telemetry }),
    "telemetry-summary.json": json({ summary, triage }),
    "telemetry-report.md": telemetryReport,
    "report.md": report,
  };
  return { task, files };
}

function renderReport(r: {
  task: string;
  goal: string | null;
  snapshot: Awaited<ReturnType<typeof taskSnapshot>>;
  triage: Awaited<ReturnType<typeof telemetryTask>>;
  summary: Awaited<ReturnType<typeof telemetrySummary>>;
  lines: string[];
  prompts: number;
  include: boolean;
}): string {
  const s = r.snapshot;
  const b = s.binding;
  return [
    `# Task ${r.task}`,
    "",
    `State: **${s.state}**${r.goal ? ` — goal: ${r.goal}` : ""}`,
    "",
    "## Sessions",
    "",
    b
      ? `- worker: ${b.worker?.name ?? "-"} (${b.worker?.state ?? "-"})\n- manager: ${b.manager?.name ?? "-"} (${b.manager?.state ?? "-"})`
      : "No active binding.",
    "",
    "## Latest",
    "",
    `- last cycle: ${s.last_cycle ? `#${s.last_cycle.id} ${s.last_cycle.state}, worker ${s.last_cycle.worker_state ?? "-"}, at ${s.last_cycle.at}` : "none"}`,
    `- latest pane pattern: ${s.latest_pane_pattern ?? "none"}`,
    `- inbox: ${s.inbox.pending} pending, ${s.inbox.consumed} consumed`,
    `- commands: ${
      Object.entries(s.commands)
        .filter(([, n]) => n)
        .map(([k, n]) => `${n} ${k}`)
        .join(", ") || "none"
    }`,
    `- criteria: ${
      Object.entries(s.criteria)
        .filter(([, n]) => n)
        .map(([k, n]) => `${n} ${k}`)
        .join(", ") || "none"
    }`,
    `- prompts recorded: ${r.prompts}${r.include ? "" : " (text redacted; export with include_content to keep it)"}`,
    `- telemetry: ${r.summary.counts.total} events, ${r.summary.counts.failed} failed`,
    "",
    "## Failures",
    "",
    ...(r.triage.recent_failures.length ? r.triage.recent_failures.map((f) => `- ${f.created_at} ${f.summary}`) : ["None recorded."]),
    "",
    "## Timeline",
    "",
    "```",
    ...r.lines.slice(0, 500),
    ...(r.lines.length > 500 ? [`… ${r.lines.length - 500} more entries in replay.txt`] : []),
    "```",
    "",
  ].join("\n");
}

/** A filesystem-safe time stamp: 20261121T120000Z. */
const stamp = (d: Date) =>
  d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");

/** How many names one second's exports of a task may take before a conflict is reported. */
const MAX_NAME_SUFFIX = 50;

/** Writes a task's export bundle under `dir` on this server's host. */
export async function exportTask(ctx: Ctx, name: string, input: z.output<typeof ExportBody>) {
  const writeFilesUnder = ctx.host?.writeFilesUnder;
  if (!writeFilesUnder) {
    throw new ApiError("HOST_UNAVAILABLE", "this server cannot write files, so it cannot export", {
      hint: "Run export-task through `switchyard up` or the CLI on the machine that should hold the bundle.",
    });
  }
  // The directory is checked (absolute, exists, a directory) before the bundle is built, which
  // catches telemetry up: a refused export changes nothing. With no files the host writes none.
  await writeFilesUnder(input.dir, []);
  const { task, files } = await buildBundle(ctx, name, input.include_content);
  const enc = new TextEncoder();
  const encoded = Object.entries(files).map(([n, text]) => ({ name: n, bytes: enc.encode(text) }));
  const digests = await Promise.all(
    encoded.map(async (f) => ({
      name: f.name,
      bytes: f.bytes.length,
      sha256: [...new Uint8Array(await crypto.subtle.digest("SHA-256", f.bytes))].map((b) => b.toString(16).padStart(2, "0")).join(""),
    })),
  );
  const stem = `${task.name}-${stamp(ctx.now())}`;
  const manifest = enc.encode(json({ task: task.name, exported_at: iso(ctx.now().getTime()), content_redacted: !input.include_content, files: digests }));
  const all = [...encoded, { name: "manifest.json", bytes: manifest }];
  const write = (base: string) => {
    if (input.zip) {
      // fflate: a maintained, dependency-free zip writer that runs in Node and Deno alike.
      const zipped = zipSync(Object.fromEntries(all.map((f) => [`${base}/${f.name}`, f.bytes])), { level: 6 });
      return writeFilesUnder(input.dir, [{ name: `${base}.zip`, bytes: zipped }]);
    }
    return writeFilesUnder(
      input.dir,
      all.map((f) => ({ name: `${base}/${f.name}`, bytes: f.bytes })),
    );
  };
  // The stamp has one-second resolution, so a second export in the same second (or a
  // concurrent one) takes the next free suffix instead of failing on the first one's name.
  // The host creates every file exclusively, so a taken name fails before anything is written.
  let written: string[] | undefined;
  for (let n = 1; !written; n++) {
    try {
      written = await write(n === 1 ? stem : `${stem}-${n}`);
    } catch (e) {
      if (!(e instanceof ApiError && e.code === "CONFLICT") || n >= MAX_NAME_SUFFIX) throw e;
    }
  }
  const path = input.zip ? written[0]! : written[0]!.slice(0, written[0]!.lastIndexOf("/"));
  const total = all.reduce((n, f) => n + f.bytes.length, 0);
  const audit = auditInsert(ctx, {
    kind: "task_exported",
    taskId: task.id,
    payload: { zip: input.zip, files: all.length, bytes: total, include_content: input.include_content },
  });
  await audit.stmt;
  return {
    task: task.name,
    path,
    zip: input.zip,
    content_redacted: !input.include_content,
    files: all.map((f) => ({ name: f.name, bytes: f.bytes.length })),
    bytes: total,
    event_id: audit.id,
  };
}
