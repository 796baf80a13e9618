import { AGENT_KINDS, CODEX_APPROVALS, CODEX_SANDBOXES, EPILOGUE_STEPS, MANAGER_MODES, WORKER_STATES } from "../../schema/enums.ts";
import { callOnce, printAnswer } from "./api-call.ts";
import { duration, seconds } from "./format.ts";
import { startDispatcher } from "./pair-dispatch.ts";
import { EXIT_FAILED, EXIT_OK, flag, int, list, pos, req, str, type Args, type CommandSpec } from "./spec.ts";
import { nextPageHintFor, pageOptions, pageQuery } from "./paging.ts";

const enc = encodeURIComponent;

/** Observation and actuation commands (issue: local runner and the supervision cycle). */
export const OBSERVE_COMMANDS: CommandSpec[] = [
  {
    name: "ingest",
    group: "observe",
    summary: "Ingest new transcript lines of a session (incremental by byte offset)",
    positionals: [{ name: "SESSION", required: true, description: "Session name" }],
    request: (a) => ({ method: "POST", path: `/sessions/${enc(pos(a, 0)!)}/ingest` }),
    render: (b) =>
      [
        `${b.session}: +${b.new_events} events from ${b.new_lines} lines, offset ${b.previous_offset} -> ${b.new_offset} of ${b.file_size}`,
        `skipped_lines: ${b.skipped_lines}${b.partial_line_bytes ? `, ${b.partial_line_bytes} bytes of a partial line wait for the next ingest` : ""}`,
        ...b.warnings.map((w: string) => `warning: ${w}`),
      ].join("\n"),
  },
  {
    name: "cycle",
    group: "observe",
    summary: "One observation cycle of a task's worker (JSON for managers)",
    positionals: [{ name: "TASK", required: true, description: "Task name" }],
    options: { "busy-wait-seconds": { type: "string", value: "N", description: "Stuck-busy threshold for the pane classifier (default 90)" } },
    examples: ["switchyard cycle auth-refactor --json", "switchyard cycle auth-refactor --busy-wait-seconds 30"],
    request: (a) => ({ method: "POST", path: `/tasks/${enc(pos(a, 0)!)}/cycle`, body: { busy_wait_seconds: int(a, "busy-wait-seconds", { min: 1 }) } }),
    render: (b) =>
      [
        `cycle ${b.cycle_id} ${b.task}: worker ${b.worker_session} is ${b.state}${b.task_completed ? " (task_complete)" : ""}`,
        `staleness ${seconds(b.staleness_seconds)}, last event ${b.last_event_subtype ?? "-"}, +${b.ingest.new_events} events, skipped ${b.ingest.skipped_lines}`,
        `alive: worker=${b.worker_alive} manager=${b.manager_alive}`,
        `pane: ${b.pane_signal.captured ? (b.notable_pane_pattern ?? "nothing notable") : `not captured (${b.pane_signal.reason})`}`,
        b.hook_state
          ? `hooks: ${b.hook_state.state} for ${b.hook_state.age_seconds}s (${b.hook_state.event}); effective ${b.effective_state} from ${b.state_source}`
          : "hooks: no event yet (transcript and pane only)",
        ...(b.divergence ? [`divergence: ${b.divergence}`] : []),
      ].join("\n"),
  },
  {
    name: "tail",
    aliases: ["events"],
    group: "observe",
    summary: "Most recent events of a session, newest first (text redacted by default)",
    positionals: [{ name: "SESSION", required: true, description: "Session name" }],
    options: {
      limit: { type: "string", value: "N", description: "How many events (default 20, at most 1000)" },
      cursor: { ...pageOptions.cursor, description: "The next_cursor printed by the previous page: older events" },
      subtype: { type: "string", value: "T", description: "Only this raw subtype, e.g. task_complete" },
      "include-content": { type: "boolean", description: "Show message text" },
    },
    request: (a) => ({
      method: "GET",
      path: `/sessions/${enc(pos(a, 0)!)}/events`,
      query: { subtype: str(a, "subtype"), include_content: flag(a, "include-content"), ...pageQuery(a, 1000) },
    }),
    render: (b, a) =>
      b.count
        ? b.events.map((e: any) => `${e.event_at ?? "-"} ${e.kind.padEnd(14)} ${e.subtype.padEnd(22)} ${e.tool ?? ""} ${e.text ?? ""}`).join("\n") +
          nextPageHintFor(b, "tail", a)
        : `no events for ${b.session}`,
  },
  {
    name: "divergences",
    group: "observe",
    summary: "Cycles whose pane signal flagged a notable pattern",
    positionals: [{ name: "TASK", required: true, description: "Task name" }],
    options: {
      limit: { type: "string", value: "N", description: "How many (default 50, at most 1000)" },
      cursor: { ...pageOptions.cursor, description: "The next_cursor printed by the previous page: older cycles" },
    },
    request: (a) => ({ method: "GET", path: `/tasks/${enc(pos(a, 0)!)}/divergences`, query: pageQuery(a, 1000) }),
    render: (b, a) =>
      b.count
        ? b.divergences
            .map(
              (d: any) =>
                `cycle ${d.cycle_id} ${d.observed_at} ${d.notable_pane_pattern ?? "-"} (state ${d.worker_state}) ${d.hook_divergence ?? d.evidence ?? ""}`,
            )
            .join("\n") + nextPageHintFor(b, "divergences", a)
        : `no divergences for ${b.task}`,
  },
  {
    name: "idle-check",
    group: "observe",
    summary: "Classify a session's freshness and recommend an action",
    positionals: [{ name: "NAME", required: true, description: "Session name" }],
    options: { "busy-wait-seconds": { type: "string", value: "N", description: "Busy longer than this is suspicious (default 90)" } },
    request: (a) => ({ method: "GET", path: `/sessions/${enc(pos(a, 0)!)}/idle-check`, query: { busy_wait_seconds: int(a, "busy-wait-seconds", { min: 1 }) } }),
    render: (b) => `${b.session}: ${b.state}, staleness ${seconds(b.staleness_seconds)}, alive=${b.alive} -> ${b.recommendation} (${b.reason})`,
  },
  {
    name: "classify",
    group: "observe",
    summary: "Run the pane classifier on some text (debugging aid)",
    options: {
      text: { type: "string", value: "TEXT", description: "Pane text to classify (required)" },
      state: { type: "string", choices: WORKER_STATES, description: "Event-stream state, for the stuck-busy rule" },
      "staleness-seconds": { type: "string", value: "N", description: "Seconds since the last state change" },
      "recent-event-count": { type: "string", value: "N", description: "Events seen this cycle" },
      "busy-wait-seconds": { type: "string", value: "N", description: "Stuck-busy threshold (default 90)" },
    },
    request: (a) => ({
      method: "POST",
      path: "/classify",
      body: {
        text: req(a, "text"),
        state: str(a, "state"),
        staleness_seconds: int(a, "staleness-seconds", { min: 0 }),
        recent_event_count: int(a, "recent-event-count", { min: 0 }),
        busy_wait_seconds: int(a, "busy-wait-seconds", { min: 1 }),
      },
    }),
    render: (b) =>
      `pattern: ${b.pattern ?? "none"}${b.evidence ? `\nevidence: ${b.evidence}` : ""}${b.suppressed.length ? `\nsuppressed: ${b.suppressed.map((s: any) => `${s.pattern} (${s.reason})`).join(", ")}` : ""}`,
  },
  {
    name: "session-nudge",
    group: "actuate",
    summary: "Type text into a session's tmux pane and verify it was submitted",
    positionals: [
      { name: "NAME", required: true, description: "Session name" },
      { name: "TEXT", required: true, description: "Prompt text" },
    ],
    options: { "dry-run": { type: "boolean", description: "Record the command without touching the pane" } },
    exitCodes: { 1: "failed, or the text was typed but not submitted (it is left in the composer)" },
    waitingFor: (a) =>
      flag(a, "dry-run") ? undefined : `typing into ${pos(a, 0)}'s pane and waiting until the agent has taken the prompt (transcript or composer)…`,
    request: (a) => ({ method: "POST", path: `/sessions/${enc(pos(a, 0)!)}/nudge`, body: { text: pos(a, 1)!, dry_run: flag(a, "dry-run") } }),
    exitCode: (b) => ((b.sent && !b.submitted) || b.held ? EXIT_FAILED : EXIT_OK),
    render: (b) =>
      b.queued
        ? `queued for the runner of host ${b.command.host} (command ${b.command_id}); follow it with: switchyard commands --attempts`
        : b.dry_run
          ? `dry run: would nudge ${b.session} (command ${b.command_id})`
          : b.submitted
            ? `nudged ${b.session}: submitted after ${b.enter_attempts} Enter press(es)${b.verified_by ? `, verified by the ${b.verified_by}` : ""} (command ${b.command_id})`
            : b.held && !b.sent
              ? `NOT typed: ${b.held} (command ${b.command_id}); answer or dismiss the prompt first (the owner's keys)`
              : b.held
                ? `NOT submitted: the text was typed into ${b.session}'s pane, but Enter was not pressed: ${b.held}; it is left in the composer (command ${b.command_id})`
                : `NOT submitted: the text was typed into ${b.session}'s pane but the agent did not take it after ${b.enter_attempts} Enter press(es); it is left in the composer (command ${b.command_id})`,
  },
  {
    name: "session-interrupt",
    group: "actuate",
    summary: "Send an interrupt key (default C-c) to a session, optionally followed by a prompt",
    positionals: [{ name: "NAME", required: true, description: "Session name" }],
    options: {
      key: { type: "string", value: "KEY", description: "tmux key name (default C-c); Escape is refused while busy" },
      followup: { type: "string", value: "TEXT", description: "Prompt to submit after the interrupt" },
      "dry-run": { type: "boolean", description: "Record the command without touching the pane" },
    },
    exitCodes: { 1: "failed, or the --followup prompt was not submitted" },
    waitingFor: (a) => (str(a, "followup") && !flag(a, "dry-run") ? `interrupting ${pos(a, 0)}, then waiting until it has taken the follow-up…` : undefined),
    exitCode: (b) => (b.followup_submitted === false ? EXIT_FAILED : EXIT_OK),
    request: (a) => ({
      method: "POST",
      path: `/sessions/${enc(pos(a, 0)!)}/interrupt`,
      body: { key: str(a, "key"), followup: str(a, "followup"), dry_run: flag(a, "dry-run") },
    }),
    render: (b) =>
      b.queued
        ? `queued ${b.key} for the runner of host ${b.command.host} (command ${b.command_id})`
        : b.dry_run
          ? `dry run: would send ${b.key} to ${b.session}`
          : `sent ${b.key} to ${b.session}${b.followup_submitted === null ? "" : b.followup_submitted ? ", follow-up submitted" : `, follow-up NOT submitted (left in the composer${b.followup_held ? `; Enter not pressed: ${b.followup_held}` : ""})`}`,
  },
  {
    name: "stop",
    group: "actuate",
    summary: "Stop a session: kill its tmux session and mark it gone",
    positionals: [{ name: "NAME", required: true, description: "Session name" }],
    options: { "dry-run": { type: "boolean", description: "Record the command only" } },
    request: (a) => ({ method: "POST", path: `/sessions/${enc(pos(a, 0)!)}/stop`, body: { dry_run: flag(a, "dry-run") } }),
    render: (b) =>
      b.dry_run
        ? `dry run: would stop ${b.session}`
        : b.queued
          ? `queued the stop of ${b.session} for the runner of host ${b.command.host} (command ${b.command_id}); it is marked gone once the runner reports`
          : `stopped ${b.session} (tmux killed: ${b.tmux_killed})`,
  },
  {
    name: "finish-task",
    group: "tasks",
    summary: "Mark a task finished, end its binding, optionally stop its sessions",
    positionals: [{ name: "TASK", required: true, description: "Task name" }],
    options: {
      reason: { type: "string", value: "TEXT", description: "Why the task is done" },
      "stop-worker": { type: "boolean", description: "Stop the bound worker" },
      "stop-manager": { type: "boolean", description: "Stop the bound manager" },
      "require-criteria-audit": { type: "boolean", description: "Refuse while any criterion is accepted but not satisfied" },
      "require-acks": { type: "boolean", description: "Refuse without worker and manager acks" },
      "require-epilogue": { type: "boolean", description: "Refuse unless every configured epilogue step succeeded" },
      "require-adversarial-proof": { type: "boolean", description: "Refuse without satisfied adversarial_check evidence" },
      "capture-transcript-before-stop": { type: "boolean", description: "Capture each session to be stopped first; a failed capture stops nothing" },
    },
    request: (a) => ({
      method: "POST",
      path: `/tasks/${enc(pos(a, 0)!)}/finish`,
      body: {
        reason: str(a, "reason"),
        stop_worker: flag(a, "stop-worker"),
        stop_manager: flag(a, "stop-manager"),
        require_criteria_audit: flag(a, "require-criteria-audit"),
        require_acks: flag(a, "require-acks"),
        require_epilogue: flag(a, "require-epilogue"),
        require_adversarial_proof: flag(a, "require-adversarial-proof"),
        capture_transcript_before_stop: flag(a, "capture-transcript-before-stop"),
      },
    }),
    render: (b) =>
      [
        `finished ${b.task.name}${b.gates?.length ? ` (gates passed: ${b.gates.map((g: any) => g.gate).join(", ")})` : ""}`,
        ...(b.captures ?? []).map((c: any) => `captured ${c.session} (transcript to ${c.transcript_offset ?? "-"}, pane ${c.pane_chars} chars)`),
        ...b.stopped.map((s: any) => (s.queued ? `queued the stop of ${s.session} for the runner of host ${s.command.host}` : `stopped ${s.session}`)),
        ...b.stop_errors.map((e: any) => `could not stop ${e.session}: ${e.error}`),
      ].join("\n"),
  },
];

const spawnOptions = {
  cwd: { type: "string", value: "DIR", description: "Working directory (default: current directory)" },
  agent: { type: "string", choices: AGENT_KINDS, description: "Which agent CLI (default codex)" },
  sandbox: { type: "string", choices: CODEX_SANDBOXES, description: "Codex --sandbox" },
  "ask-for-approval": { type: "string", choices: CODEX_APPROVALS, description: "Codex --ask-for-approval" },
  "accept-trust": { type: "boolean", description: "Answer the trust-this-folder prompt with yes (only for folders you trust)" },
  "timeout-seconds": { type: "string", value: "N", description: "How long to wait for the transcript (default 60)" },
} as const;

function spawnBody(a: Parameters<NonNullable<CommandSpec["request"]>>[0]) {
  return {
    cwd: str(a, "cwd") ?? process.cwd(),
    agent: str(a, "agent"),
    sandbox: str(a, "sandbox"),
    ask_for_approval: str(a, "ask-for-approval"),
    accept_trust: flag(a, "accept-trust"),
    timeout_seconds: int(a, "timeout-seconds", { min: 1 }),
  };
}

function renderSpawn(b: any): string {
  return [
    `started ${b.session.role} ${b.session.name} in tmux '${b.spawn.tmux_session}' (pane pid ${b.spawn.pane_pid})`,
    `transcript: ${b.session.transcript_path}`,
    `trust prompt: ${b.spawn.trust_prompt_seen ? (b.spawn.trust_accepted ? "accepted" : "seen, not accepted") : "not shown"}; ready after ${duration(b.spawn.waited_ms)}`,
    `token: ${b.token}   (shown once)`,
    `attach: tmux attach -t ${b.spawn.tmux_session}`,
  ].join("\n");
}

/** What a spawn waits for, said before the call (it can take a minute). */
function spawnWaiting(a: Args, who: string): string {
  const agent = str(a, "agent") ?? "codex";
  return `starting ${agent} for ${who} in tmux and waiting for its transcript (up to ${seconds(int(a, "timeout-seconds", { min: 1 }) ?? 60)})…`;
}

const TEST_PROMPT =
  'This is a Switchyard test session. Create or update only the file status.json in the current directory so it contains {"status":"ok"}, then stop. Do not change any other file.';

/** Commands that start agents in tmux. */
export const SPAWN_COMMANDS: CommandSpec[] = [
  {
    name: "start-worker",
    summary: "Start an agent in a fresh tmux session and register it as a worker",
    options: {
      name: { type: "string", value: "NAME", description: "Session name (required)" },
      task: { type: "string", value: "PROMPT", description: "The worker's initial task prompt" },
      ...spawnOptions,
    },
    examples: ['switchyard start-worker --name auth-w --cwd "$PWD" --task "Refactor auth" --accept-trust'],
    waitingFor: (a) => spawnWaiting(a, str(a, "name") ?? "the worker"),
    request: (a) => ({ method: "POST", path: "/sessions/spawn", body: { ...spawnBody(a), name: req(a, "name"), role: "worker", prompt: str(a, "task") } }),
    render: renderSpawn,
  },
  {
    name: "start-manager",
    summary: "Start an agent in tmux as a manager, with a bootstrap prompt naming the task and worker",
    options: {
      name: { type: "string", value: "NAME", description: "Session name (required)" },
      task: { type: "string", value: "TASK", description: "Task the manager supervises" },
      "task-goal": { type: "string", value: "TEXT", description: "Goal named in the bootstrap prompt (default: the task's goal)" },
      worker: { type: "string", value: "NAME", description: "Worker session to supervise" },
      ...spawnOptions,
    },
    waitingFor: (a) => spawnWaiting(a, str(a, "name") ?? "the manager"),
    request: (a) => ({
      method: "POST",
      path: "/sessions/spawn",
      body: { ...spawnBody(a), name: req(a, "name"), role: "manager", task: str(a, "task"), task_goal: str(a, "task-goal"), worker: str(a, "worker") },
    }),
    render: renderSpawn,
  },
  {
    name: "start-test",
    summary: "Start a low-risk test worker that only writes status.json",
    positionals: [{ name: "NAME", required: true, description: "Session name" }],
    options: spawnOptions,
    waitingFor: (a) => spawnWaiting(a, pos(a, 0)!),
    request: (a) => ({ method: "POST", path: "/sessions/spawn", body: { ...spawnBody(a), name: pos(a, 0)!, role: "worker", prompt: TEST_PROMPT } }),
    render: renderSpawn,
  },
  {
    name: "pair",
    summary: "Start a worker and a manager, record the manager config, bind them, and start a dispatcher",
    options: {
      task: { type: "string", value: "TASK", description: "Task name (required; created when --task-goal is given)" },
      "task-goal": { type: "string", value: "TEXT", description: "Goal for a new task" },
      "task-summary": { type: "string", value: "TEXT", description: "Summary for a new task" },
      "task-prompt": { type: "string", value: "PROMPT", description: "The worker's initial prompt" },
      "worker-name": { type: "string", value: "NAME", description: "Worker session name (required)" },
      "manager-name": { type: "string", value: "NAME", description: "Manager session name (required)" },
      "manager-agent": { type: "string", choices: AGENT_KINDS, description: "Agent for the manager (default: same as --agent)" },
      "manager-mode": { type: "string", choices: MANAGER_MODES, description: "Manager config: supervision mode" },
      "manager-objective": { type: "string", value: "TEXT", description: "Manager config: the objective" },
      "manager-guideline": { type: "string", multiple: true, value: "TEXT", description: "Manager config: a guideline" },
      "manager-acceptance": {
        type: "string",
        multiple: true,
        value: "TEXT",
        description: "Manager config: an acceptance criterion (also seeded into the ledger)",
      },
      "manager-reference": { type: "string", multiple: true, value: "REF", description: "Manager config: a reference" },
      "manager-permit": { type: "string", multiple: true, value: "CATEGORY.ACTION", description: "Manager config: a permission" },
      "manager-tool": { type: "string", multiple: true, value: "TOOL", description: "Manager config: an expected tool" },
      "manager-epilogue": { type: "string", multiple: true, choices: EPILOGUE_STEPS, description: "Manager config: a required epilogue step" },
      "manager-require-acks": { type: "boolean", description: "Manager config: finish needs both acks" },
      "dispatcher-id": { type: "string", value: "ID", description: "The dispatcher to reuse or start (default dispatch-local)" },
      "no-dispatch": { type: "boolean", description: "Do not start a dispatcher" },
      "dry-run": { type: "boolean", description: "Print the plan (task, config, seeded criteria, dispatcher); start nothing" },
      ...spawnOptions,
    },
    waitingFor: (a) => `${spawnWaiting(a, `worker ${str(a, "worker-name") ?? ""}`)} then the same for manager ${str(a, "manager-name") ?? ""}`,
    examples: [
      'switchyard pair --task auth --task-goal "Split the module" --worker-name w1 --manager-name m1 --manager-objective "No behaviour change" --manager-acceptance "Tests pass" --accept-trust',
      "switchyard pair --task auth --worker-name w1 --manager-name m1 --dry-run --json",
    ],
    local: async (a, g) => {
      const b = spawnBody(a);
      const many = (n: string) => (list(a, n).length ? list(a, n) : undefined);
      const managerConfig = Object.fromEntries(
        Object.entries({
          mode: str(a, "manager-mode"),
          objective: str(a, "manager-objective"),
          guidelines: many("manager-guideline"),
          acceptance: many("manager-acceptance"),
          references: many("manager-reference"),
          permit: many("manager-permit"),
          tools: many("manager-tool"),
          epilogues: many("manager-epilogue"),
          require_acks: flag(a, "manager-require-acks") ? true : undefined,
        }).filter(([, v]) => v !== undefined),
      );
      const dispatcherId = str(a, "dispatcher-id");
      const res = await callOnce(g, {
        method: "POST",
        path: "/pairs",
        body: {
          cwd: b.cwd,
          agent: b.agent,
          sandbox: b.sandbox,
          ask_for_approval: b.ask_for_approval,
          accept_trust: b.accept_trust,
          timeout_seconds: b.timeout_seconds,
          task: req(a, "task"),
          task_goal: str(a, "task-goal"),
          task_summary: str(a, "task-summary"),
          task_prompt: str(a, "task-prompt"),
          worker_name: req(a, "worker-name"),
          manager_name: req(a, "manager-name"),
          manager_agent: str(a, "manager-agent"),
          manager_config: Object.keys(managerConfig).length ? managerConfig : undefined,
          dispatcher_id: dispatcherId,
          dry_run: flag(a, "dry-run"),
        },
      });
      const ok = res.status >= 200 && res.status < 300;
      let dispatch: Record<string, unknown> = { started: false, reason: "not requested" };
      if (ok && !res.body.dry_run) {
        const d = res.body.dispatcher;
        if (flag(a, "no-dispatch")) dispatch = { id: d.id, started: false, reused: false, reason: "--no-dispatch" };
        else if (g.url) dispatch = { id: d.id, started: false, reused: d.live, reason: "--url: start a dispatcher on the server's machine" };
        else if (d.live) dispatch = { id: d.id, started: false, reused: true, pid: d.pid };
        else dispatch = { ...startDispatcher(d.id, g.home), started: true, reused: false };
      }
      const answer = ok ? { status: res.status, body: { ...res.body, dispatch } } : res;
      printAnswer(g, answer, (body) => {
        const cfg = body.manager_config;
        const lines = [
          `${body.dry_run ? "dry run: would pair" : "paired"} task ${body.task}${body.task_created ? (body.dry_run ? " (would create it)" : " (created)") : ""}`,
          `manager config${cfg.revision ? ` revision ${cfg.revision}` : ""}: ${cfg.mode}${cfg.objective ? `, objective: ${cfg.objective}` : ""}${cfg.granted.length ? `, grants ${cfg.granted.join(", ")}` : ""}`,
          ...body.seeded_criteria.map((c: string) => `${body.dry_run ? "would seed" : "seeded"} criterion: ${c}`),
        ];
        if (!body.dry_run) lines.push(renderSpawn(body.worker), renderSpawn(body.manager));
        const d = body.dispatch;
        lines.push(
          body.dry_run
            ? `dispatcher ${body.dispatcher.id}: ${body.dispatcher.live ? "live (would reuse)" : "not running (would start)"}`
            : d.started
              ? `started dispatcher ${d.id} (pid ${d.pid}, log ${d.log})`
              : d.reused
                ? `reusing live dispatcher ${d.id}`
                : `no dispatcher started (${d.reason})`,
        );
        return lines.join("\n");
      });
      return ok ? 0 : 1;
    },
  },
];
