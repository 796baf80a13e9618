import { existsSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { REPLAY_FORMATS, SEGMENT_MODES, SESSION_ROLES, TELEMETRY_OUTCOMES } from "../../schema/enums.ts";
import { block } from "./format.ts";
import { EXIT_FAILED, EXIT_OK, flag, HintedError, int, pos, req, str, type Args, type CommandSpec } from "./spec.ts";
import { nextPageHintFor } from "./paging.ts";

/*
 * Replay, telemetry, transcripts, export and doctor-self: what happened to a task and what is
 * happening now. Every command is one API call except doctor-self, which adds what only the
 * calling shell can know (PATH, $TMUX).
 */

const enc = encodeURIComponent;

/** A telemetry row as one line. */
function telemetryLine(e: any): string {
  return `${e.created_at.slice(0, 19).replace("T", " ")} ${e.outcome === "failed" ? "FAIL" : "    "} ${e.summary}`;
}

function counts(c: any): string {
  const by = Object.entries(c.by_source ?? {})
    .map(([s, n]: [string, any]) => `${s} ${n.total}${n.failed ? ` (${n.failed} failed)` : ""}`)
    .join(", ");
  return `${c.total} events, ${c.failed} failed${by ? `: ${by}` : ""}${c.first_at ? `\nfrom ${c.first_at} to ${c.last_at}` : ""}`;
}

const PAGE = {
  limit: { type: "string", value: "N", description: "Rows per page (default 50, at most 500)" },
  cursor: { type: "string", value: "C", description: "The cursor a previous page printed" },
} as const;

/** --role of the task views: one role's sessions, or both. */
const roleOption = { type: "string", choices: ["all", ...SESSION_ROLES], description: "Whose sessions (default all)" } as const;

const windowOption = { type: "string", value: "DUR", description: "How far back: 90s, 30m, 2h, 7d (default 24h)" } as const;

export const OBSERVABILITY_COMMANDS: CommandSpec[] = [
  {
    name: "replay",
    summary: "A task's history in time order: cycles (with pane patterns), commands and attempts, routed notifications, decisions, criteria, broker actions",
    positionals: [{ name: "TASK", required: true, description: "Task name" }],
    options: {
      format: { type: "string", choices: REPLAY_FORMATS, description: "Default compact; full-transcript needs --include-content" },
      role: roleOption,
      limit: { type: "string", value: "N", description: "Entries per page (default 500, at most 5000)" },
      cursor: PAGE.cursor,
      "include-content": { type: "boolean", description: "Show message, prompt and transcript text instead of length markers" },
    },
    examples: [
      "switchyard replay auth-refactor",
      "switchyard replay auth-refactor --format timeline --role worker",
      "switchyard replay auth-refactor --format full-transcript --include-content",
    ],
    request: (a) => ({
      method: "GET",
      path: `/tasks/${enc(pos(a, 0)!)}/replay`,
      query: {
        format: str(a, "format"),
        role: str(a, "role"),
        limit: int(a, "limit", { min: 1 }),
        cursor: str(a, "cursor"),
        include_content: flag(a, "include-content"),
      },
    }),
    render: (b, a) =>
      (b.count
        ? b.lines.join("\n")
        : b.next_cursor
          ? `no ${b.role} entries on this page of ${b.task}; the next page reads on`
          : `nothing recorded for ${b.task}${b.role !== "all" ? ` (role ${b.role})` : ""}`) + nextPageHintFor(b, "replay", a),
  },
  {
    name: "telemetry",
    summary: "The telemetry stream, newest first: filter by task, run or session, full-text --search, or --summary counts",
    options: {
      task: { type: "string", value: "TASK", description: "Only this task" },
      run: { type: "string", value: "RUN", description: "Only this run (broker or loop run, dispatcher, patrol run)" },
      session: { type: "string", value: "NAME", description: "Only this session" },
      search: { type: "string", value: "Q", description: "Words that must all appear (a trailing * matches a prefix)" },
      outcome: { type: "string", choices: TELEMETRY_OUTCOMES, description: "Only rows with this outcome" },
      summary: { type: "boolean", description: "Counts by source and outcome instead of rows" },
      ...PAGE,
    },
    examples: [
      "switchyard telemetry --task auth-refactor",
      "switchyard telemetry --search 'nudge fail*'",
      "switchyard telemetry --summary --task auth-refactor",
    ],
    request: (a) =>
      flag(a, "summary")
        ? { method: "GET", path: "/telemetry/summary", query: { task: str(a, "task"), run: str(a, "run") } }
        : {
            method: "GET",
            path: "/telemetry",
            query: {
              task: str(a, "task"),
              run: str(a, "run"),
              session: str(a, "session"),
              search: str(a, "search"),
              outcome: str(a, "outcome"),
              limit: int(a, "limit", { min: 1 }),
              cursor: str(a, "cursor"),
            },
          },
    render: (b, a) =>
      b.counts
        ? `${b.task ? `task ${b.task}: ` : b.run ? `run ${b.run}: ` : `since ${b.since}: `}${counts(b.counts)}`
        : (b.count ? b.events.map(telemetryLine).join("\n") : b.search ? `nothing matches '${b.search}'` : "no telemetry") + nextPageHintFor(b, "telemetry", a),
  },
  {
    name: "telemetry task",
    summary: "Triage view of one task: cycles, liveness, decisions, commands, failures, ingest, criteria, storage",
    positionals: [{ name: "TASK", required: true, description: "Task name" }],
    request: (a) => ({ method: "GET", path: `/telemetry/tasks/${enc(pos(a, 0)!)}` }),
    render: (b) =>
      [
        `task ${b.task} (${b.state})${b.binding ? `: worker ${b.binding.worker}, manager ${b.binding.manager}` : ", not bound"}`,
        `last cycle: ${b.recent_cycles[0] ? `#${b.recent_cycles[0].id} ${b.recent_cycles[0].state} at ${b.recent_cycles[0].at}` : "none"}; last good: ${b.last_successful_cycle ? `#${b.last_successful_cycle.id}` : "none"}`,
        `alive: worker ${b.liveness.worker_alive ?? "?"}, manager ${b.liveness.manager_alive ?? "?"}`,
        `failed cycles: ${b.failed_cycles.length}; failed commands: ${b.failed_commands.length}; pane capture failures: ${b.pane_capture_failures.length}`,
        `notable patterns: ${b.notable_patterns.map((p: any) => `${p.pattern} (#${p.cycle_id})`).join(", ") || "none"}`,
        `ingest: ${b.ingest ? `${b.ingest.lines_total} lines, ${b.ingest.skipped_total} skipped` : "never"}`,
        `criteria: ${Object.entries(b.criteria)
          .map(([k, n]) => `${n} ${k}`)
          .join(", ")}`,
        `decisions: ${b.decisions.length}; commands: ${b.commands.length}`,
        `telemetry: ${counts(b.telemetry)}`,
        `storage: ${b.storage.transcript_events} transcript events, ${b.storage.transcript_segments} segments (${b.storage.segment_bytes_retained} bytes kept)`,
        ...(b.recent_failures.length ? ["recent failures:", ...b.recent_failures.map((f: any) => `  ${telemetryLine(f)}`)] : []),
      ].join("\n"),
  },
  {
    name: "telemetry failures",
    summary: "Failure triage across tasks: failed cycles, commands, attempts and actions in a window, dead letters, ingest trouble",
    options: {
      task: { type: "string", value: "TASK", description: "Only this task" },
      run: { type: "string", value: "RUN", description: "Only this run" },
      "active-only": { type: "boolean", description: "Only tasks that are still active" },
      window: windowOption,
      ...PAGE,
    },
    examples: ["switchyard telemetry failures --window 2h", "switchyard telemetry failures --active-only --json"],
    request: (a) => ({
      method: "GET",
      path: "/telemetry/failures",
      query: {
        task: str(a, "task"),
        run: str(a, "run"),
        active_only: flag(a, "active-only"),
        window: str(a, "window"),
        limit: int(a, "limit", { min: 1 }),
        cursor: str(a, "cursor"),
      },
    }),
    render: (b, a) =>
      [
        `since ${b.since} (${b.window}): ${b.counts.failed_cycles} failed cycles, ${b.counts.failed_commands} failed commands, ${b.counts.failed_attempts} failed attempts, ${b.counts.failed_actions} failed or refused actions`,
        `now: ${b.counts.dead_letters} dead letters, ${b.counts.ingest_skipped_lines} skipped transcript lines, ${b.counts.open_accepted_criteria} accepted criteria open, ${b.health.sessions_with_stale_heartbeat} sessions with a stale heartbeat`,
        ...(b.count ? b.failures.map(telemetryLine) : ["no failures in the window"]),
      ].join("\n") + nextPageHintFor(b, "telemetry failures", a),
  },
  {
    name: "telemetry metrics",
    summary: "Rollups over a window: cycles, commands, attempts, ingest, drift, exports, retained bytes",
    options: { window: windowOption },
    request: (a) => ({ method: "GET", path: "/telemetry/metrics", query: { window: str(a, "window") } }),
    render: (b) => block(b),
  },
  {
    name: "telemetry snapshot",
    summary: "The dashboard's overview of one task",
    options: { task: { type: "string", value: "TASK", description: "Task name (required)" } },
    request: (a) => ({ method: "GET", path: "/telemetry/snapshot", query: { task: req(a, "task") } }),
    render: (b) => block(b),
  },
  {
    name: "transcript-capture",
    summary: "Keep the task's sessions' new transcript messages (or pane screens) as deduplicated segments",
    positionals: [{ name: "TASK", required: true, description: "Task name" }],
    options: {
      role: roleOption,
      mode: { type: "string", choices: [...SEGMENT_MODES, "both"], description: "events: transcript messages (default), pane: screens, or both" },
    },
    request: (a) => ({ method: "POST", path: `/tasks/${enc(pos(a, 0)!)}/transcript-capture`, body: { role: str(a, "role"), mode: str(a, "mode") } }),
    render: (b) =>
      [
        ...b.captured.map((s: any) => `captured #${s.id} ${s.session} ${s.mode}: ${s.lines} lines, ${s.bytes} bytes (sha256 ${s.content_hash.slice(0, 12)})`),
        ...(b.duplicates ? [`${b.duplicates} identical to a kept segment (not stored again)`] : []),
        ...b.skipped.map((s: any) => `skipped ${s.session} ${s.mode}: ${s.reason}`),
      ].join("\n") || "nothing captured",
  },
  {
    name: "transcript-show",
    summary: "Kept transcript segments of a task (text redacted unless --include-content)",
    positionals: [{ name: "TASK", required: true, description: "Task name" }],
    options: {
      role: roleOption,
      "include-content": { type: "boolean", description: "Show the segments' text" },
      ...PAGE,
    },
    request: (a) => ({
      method: "GET",
      path: `/tasks/${enc(pos(a, 0)!)}/transcript-segments`,
      query: { role: str(a, "role"), include_content: flag(a, "include-content"), limit: int(a, "limit", { min: 1 }), cursor: str(a, "cursor") },
    }),
    render: (b, a) =>
      (b.count
        ? b.segments
            .map(
              (s: any) =>
                `#${s.id} ${s.created_at} ${s.session} (${s.role}) ${s.mode}: ${s.lines} lines, ${s.bytes} bytes${s.pruned_at ? `, pruned ${s.pruned_at}` : ""}${s.content !== null ? `\n${s.content}` : ""}`,
            )
            .join("\n")
        : `no segments kept for ${b.task}`) + nextPageHintFor(b, "transcript-show", a),
  },
  {
    name: "transcript-prune",
    summary: "Drop the text of a task's older segments, keeping their metadata",
    positionals: [{ name: "TASK", required: true, description: "Task name" }],
    options: {
      "keep-latest": { type: "string", value: "N", description: "Segments per session that keep their text (default 5)" },
      "dry-run": { type: "boolean", description: "Say what would be dropped; change nothing" },
    },
    request: (a) => ({
      method: "POST",
      path: `/tasks/${enc(pos(a, 0)!)}/transcript-prune`,
      body: { keep_latest: int(a, "keep-latest", { min: 0 }), dry_run: flag(a, "dry-run") },
    }),
    render: (b) => pruneLine(b),
  },
  {
    name: "prune",
    summary: "Drop the text of older transcript segments of every session, keeping their metadata",
    options: {
      "keep-latest": { type: "string", value: "N", description: "Segments per session that keep their text (default 5)" },
      "dry-run": { type: "boolean", description: "Say what would be dropped; change nothing" },
    },
    request: (a) => ({ method: "POST", path: "/admin/prune", body: { keep_latest: int(a, "keep-latest", { min: 0 }), dry_run: flag(a, "dry-run") } }),
    render: (b) => pruneLine(b),
  },
  {
    name: "export-task",
    summary: "Write a task's export bundle: status, audit, prompts, transcript metadata, telemetry, replay and a markdown report",
    positionals: [{ name: "TASK", required: true, description: "Task name" }],
    options: {
      out: { type: "string", value: "DIR", description: "An existing directory to write the bundle into (default: the current directory)" },
      zip: { type: "boolean", description: "Write one .zip file instead of a folder" },
      "include-content": { type: "boolean", description: "Keep prompt, message and transcript text (redacted otherwise)" },
    },
    examples: ["switchyard export-task auth-refactor --out ./exports", "switchyard export-task auth-refactor --out /tmp --zip"],
    request: (a) => ({
      method: "POST",
      path: `/tasks/${enc(pos(a, 0)!)}/export`,
      body: { dir: resolve(str(a, "out") ?? "."), zip: flag(a, "zip"), include_content: flag(a, "include-content") },
    }),
    render: (b) =>
      [
        `wrote ${b.path} (${b.bytes} bytes${b.content_redacted ? ", content redacted" : ""})`,
        ...b.files.map((f: any) => `  ${f.name.padEnd(24)} ${f.bytes} bytes`),
      ].join("\n"),
  },
  {
    name: "doctor-self",
    group: "setup",
    summary: "Can this agent session register itself? switchyard on PATH, inside tmux, transcript discoverable, token works",
    exitCodes: { 1: "NOT OK: a check failed (each is printed with a hint)" },
    examples: ["switchyard doctor-self", "SWITCHYARD_TOKEN=$TOKEN switchyard doctor-self --json"],
    local: async (_a: Args, g) => {
      const { openTransport } = await import("./connect.ts");
      const cliOnPath = (process.env.PATH ?? "").split(delimiter).some((d) => d && existsSync(join(d, "switchyard")));
      const insideTmux = !!process.env.TMUX;
      const transport = await openTransport(g);
      let body: any;
      try {
        const res = await transport.send({ method: "GET", path: "/admin/doctor-self", query: { pid: process.pid } });
        if (res.status === 401)
          throw new HintedError(`the token does not work: ${res.body?.error?.message}`, res.body?.error?.hint ?? "Pass the token registration printed.");
        if (res.status !== 200) throw new HintedError(`${res.body?.error?.code}: ${res.body?.error?.message}`, res.body?.error?.hint ?? "");
        body = res.body;
      } finally {
        await transport.close();
      }
      const problems = [...body.problems];
      if (!cliOnPath)
        problems.push({
          check: "cli_on_path",
          message: "switchyard is not on PATH",
          hint: "Link bin/switchyard.mjs into a PATH directory (e.g. npm link), or call it by its path.",
        });
      const report = { ...body, cli_on_path: cliOnPath, inside_tmux: insideTmux, ok: problems.length === 0, problems };
      if (g.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else {
        const t = report.transcript;
        process.stdout.write(
          `${[
            `token:      works (${report.principal}${report.session ? ` ${report.session}` : ""})`,
            `on PATH:    ${cliOnPath ? "yes" : "NO"}`,
            `in tmux:    ${insideTmux ? "yes (push delivery possible)" : "no (this shell is not in tmux: pull_required)"}`,
            `transcript: ${t.discoverable === null ? "not checked" : t.discoverable ? `found (${t.kind}${t.path ? ` ${t.path}` : ""}, held by pid ${t.holder_pid})` : "NOT FOUND"}`,
            ...problems.map((p: any) => `problem:    ${p.message}\n  hint: ${p.hint}`),
            report.ok ? "ok" : "NOT OK",
          ].join("\n")}\n`,
        );
      }
      return report.ok ? EXIT_OK : EXIT_FAILED;
    },
  },
];

function pruneLine(b: any): string {
  const verb = b.dry_run ? "would drop" : "dropped";
  return `${verb} the text of ${b.segments_pruned} segments (${b.bytes_dropped} bytes) across ${b.sessions} sessions${b.task ? ` of ${b.task}` : ""}, keeping the newest ${b.keep_latest} per session`;
}
