import { BINDING_STATES, SESSION_ROLES, SESSION_STATES, TASK_STATES, TOKEN_SCOPES } from "../../schema/enums.ts";
import { resolveHome } from "../home.ts";
import { block, inline } from "./format.ts";
import { EXIT_FAILED, EXIT_OK, flag, int, list, pos, req, str, type CommandSpec, type OptionSpec } from "./spec.ts";
import { nextPageHintFor, pageOptions, pageQuery, shellWord } from "./paging.ts";

const registerOptions: Record<string, OptionSpec> = {
  name: { type: "string", value: "NAME", description: "Unique name among active sessions (required)" },
  pid: { type: "string", value: "PID", description: "Process id of the agent; only a transcript it (or a child) holds is accepted" },
  "codex-session": { type: "string", value: "PATH", description: "Codex rollout JSONL of the session (under $CODEX_HOME/sessions)" },
  "claude-session": { type: "string", value: "PATH", description: "Claude Code transcript JSONL of the session (under its projects/ dir)" },
  cwd: { type: "string", value: "DIR", description: "Working directory of the agent (default: what the transcript records)" },
  "tmux-session": {
    type: "string",
    value: "NAME",
    description: "Plain tmux session name the agent runs in; its pane must be the agent's (enables push delivery)",
  },
  host: { type: "string", value: "HOST", description: "Machine the session lives on (default: this machine)" },
  "thread-id": { type: "string", value: "ID", description: "App thread id, for app sessions" },
  "thread-title": { type: "string", value: "TITLE", description: "App thread title" },
  force: { type: "boolean", description: "Owner only: register a transcript another active session already has" },
};

/** live, live until T (a rotation's grace period), or revoked T. */
function tokenState(t: { live: boolean; revoked_at: string | null }): string {
  if (!t.revoked_at) return "live";
  return t.live ? `live until ${t.revoked_at}` : `revoked ${t.revoked_at}`;
}

function registerCommand(role: "worker" | "manager"): CommandSpec {
  return {
    name: `register-${role}`,
    group: "sessions",
    summary: `Register a running agent session as a ${role}; prints its token once`,
    options: registerOptions,
    examples: [
      `switchyard register-${role} --name auth-${role} --pid 4242 --cwd "$PWD" --tmux-session codex-auth`,
      `switchyard register-${role} --name app-${role} --codex-session ~/.codex/sessions/2026/11/21/rollout-x.jsonl`,
    ],
    request: (a) => ({
      method: "POST",
      path: "/sessions",
      body: {
        name: req(a, "name"),
        role,
        pid: int(a, "pid", { min: 1 }),
        codex_session: str(a, "codex-session"),
        claude_session: str(a, "claude-session"),
        cwd: str(a, "cwd"),
        tmux_session: str(a, "tmux-session"),
        // This machine, named by the caller: over --url the server's own host would be wrong.
        host: str(a, "host") ?? resolveHome().hostName,
        thread_id: str(a, "thread-id"),
        thread_title: str(a, "thread-title"),
        force: flag(a, "force") || undefined,
      },
    }),
    render: (b) =>
      [
        `registered ${b.session.role} ${b.session.name} (${b.session_id})`,
        b.token === null
          ? "token: withheld (this is a replay; a secret is shown only once — register the same agent again for a new token)"
          : `token: ${b.token}   (shown once; the session uses it as its bearer token)`,
        `communication: ${b.communication.session_kind}, receive ${b.communication.receive_style}, delivery ${b.communication.delivery_mode}`,
        ...(b.communication.poll_command ? [`poll with: ${b.communication.poll_command}`] : []),
      ].join("\n"),
  };
}

function sessionLine(s: any): string {
  const where = s.tmux_session ? `tmux:${s.tmux_session}` : s.communication.session_kind;
  return `${s.name.padEnd(24)} ${s.role.padEnd(8)} ${s.state.padEnd(7)} pid=${s.pid ?? "-"} ${where} host=${s.host ?? "-"} token=${s.identity_token ?? "-"}`;
}

function taskLine(t: any): string {
  return `${t.name.padEnd(24)} ${t.state.padEnd(9)} ${t.goal ?? ""}`;
}

function bindingLine(b: any): string {
  return `${b.task.padEnd(24)} worker=${b.worker} manager=${b.manager} ${b.state} since ${b.created_at}`;
}

/** Every API-backed command of the CLI. */
export const API_COMMANDS: CommandSpec[] = [
  registerCommand("worker"),
  registerCommand("manager"),
  {
    name: "deregister",
    group: "sessions",
    summary: "Mark a session gone (refused while it is bound to an active task)",
    positionals: [{ name: "NAME", required: true, description: "Session name" }],
    request: (a) => ({ method: "POST", path: `/sessions/${encodeURIComponent(pos(a, 0)!)}/deregister` }),
    render: (b) => `deregistered ${b.session.name} (${b.session_id})`,
  },
  {
    name: "sessions",
    group: "sessions",
    summary: "List sessions (active by default)",
    options: {
      role: { type: "string", choices: SESSION_ROLES, description: "Only this role" },
      state: { type: "string", choices: [...SESSION_STATES, "all"], description: "Which rows (default active)" },
      name: { type: "string", multiple: true, value: "NAME", description: "Only these sessions (repeatable)" },
      "redact-identity-token": { type: "boolean", description: "Hide token ids, for sharing output" },
      ...pageOptions,
    },
    request: (a) => ({
      method: "GET",
      path: "/sessions",
      query: { role: str(a, "role"), state: str(a, "state"), name: list(a, "name"), redact_identity_token: flag(a, "redact-identity-token"), ...pageQuery(a) },
    }),
    render: (b, a) => (b.count ? b.sessions.map(sessionLine).join("\n") + nextPageHintFor(b, "sessions", a) : "no sessions"),
  },
  {
    name: "session show",
    group: "sessions",
    summary: "Show one session and the task it is bound to",
    positionals: [{ name: "NAME", required: true, description: "Session name" }],
    request: (a) => ({ method: "GET", path: `/sessions/${encodeURIComponent(pos(a, 0)!)}` }),
    render: (b) => `${sessionLine(b.session)}\nactive task: ${b.active_task ?? "-"}`,
  },
  {
    name: "heartbeat",
    group: "sessions",
    summary: "Record that a session is alive",
    positionals: [{ name: "NAME", required: true, description: "Session name" }],
    request: (a) => ({ method: "POST", path: `/sessions/${encodeURIComponent(pos(a, 0)!)}/heartbeat` }),
    render: (b) => `heartbeat recorded at ${b.last_heartbeat_at}`,
  },
  {
    name: "tasks",
    group: "tasks",
    summary: "List tasks, or create one with --create",
    options: {
      create: { type: "string", value: "NAME", description: "Create a task with this name" },
      goal: { type: "string", value: "TEXT", description: "Goal of the new task" },
      summary: { type: "string", value: "TEXT", description: "Summary of the new task" },
      state: { type: "string", choices: [...TASK_STATES, "all"], description: "Filter the list (default all)" },
      ...pageOptions,
    },
    examples: [`switchyard tasks --create auth-refactor --goal "Refactor auth" --summary "Split the session module"`, "switchyard tasks"],
    request: (a) => {
      const name = str(a, "create");
      if (name !== undefined) return { method: "POST", path: "/tasks", body: { name, goal: str(a, "goal"), summary: str(a, "summary") } };
      return { method: "GET", path: "/tasks", query: { state: str(a, "state"), ...pageQuery(a) } };
    },
    render: (b, a) =>
      b.task_id ? `created task ${b.task.name} (${b.task_id})` : b.count ? b.tasks.map(taskLine).join("\n") + nextPageHintFor(b, "tasks", a) : "no tasks",
  },
  {
    name: "task show",
    group: "tasks",
    summary: "Show a task, its active binding and binding history",
    positionals: [{ name: "NAME", required: true, description: "Task name" }],
    request: (a) => ({ method: "GET", path: `/tasks/${encodeURIComponent(pos(a, 0)!)}` }),
    render: (b) =>
      [
        taskLine(b.task),
        b.binding ? `binding: ${bindingLine(b.binding)}` : "binding: none",
        `history: ${b.bindings_total} binding(s)${b.bindings_total ? ` (list them: switchyard task bindings ${shellWord(b.task.name)})` : ""}`,
      ].join("\n"),
  },
  {
    name: "task bindings",
    group: "tasks",
    summary: "A task's bindings, newest first (its whole binding history, a page at a time)",
    positionals: [{ name: "NAME", required: true, description: "Task name" }],
    options: { ...pageOptions },
    request: (a) => ({ method: "GET", path: `/tasks/${encodeURIComponent(pos(a, 0)!)}/bindings`, query: pageQuery(a) }),
    render: (b, a) => (b.count ? b.bindings.map(bindingLine).join("\n") + nextPageHintFor(b, "task bindings", a) : `task ${b.task} has no bindings`),
  },
  {
    name: "bind",
    group: "tasks",
    summary: "Bind a worker and a manager to a task",
    options: {
      task: { type: "string", value: "TASK", description: "Task name (required)" },
      worker: { type: "string", value: "NAME", description: "Worker session (required)" },
      manager: { type: "string", value: "NAME", description: "Manager session (required)" },
    },
    request: (a) => ({ method: "POST", path: "/bindings", body: { task: req(a, "task"), worker: req(a, "worker"), manager: req(a, "manager") } }),
    render: (b) => `bound ${b.binding.task}: worker=${b.binding.worker} manager=${b.binding.manager} (${b.binding_id})`,
  },
  {
    name: "unbind",
    group: "tasks",
    summary: "End the active binding of a task",
    options: { task: { type: "string", value: "TASK", description: "Task name (required)" } },
    request: (a) => ({ method: "POST", path: "/bindings/unbind", body: { task: req(a, "task") } }),
    render: (b) => `unbound ${b.binding.task} (${b.binding_id})`,
  },
  {
    name: "bindings",
    group: "tasks",
    summary: "List bindings, oldest first",
    options: { state: { type: "string", choices: [...BINDING_STATES, "all"], description: "Which bindings (default active)" }, ...pageOptions },
    request: (a) => ({ method: "GET", path: "/bindings", query: { state: str(a, "state"), ...pageQuery(a) } }),
    render: (b, a) => (b.count ? b.bindings.map(bindingLine).join("\n") + nextPageHintFor(b, "bindings", a) : "no bindings"),
  },
  {
    name: "discover",
    group: "observe",
    aliases: ["search"],
    summary: "Search tasks, sessions, bindings and events; suggests next commands",
    positionals: [{ name: "QUERY", required: false, description: "Text to match" }],
    options: {
      all: { type: "boolean", description: "Include gone sessions and finished tasks" },
      limit: { type: "string", value: "N", description: "Rows per section (default 20)" },
    },
    request: (a) => ({ method: "GET", path: "/discover", query: { q: pos(a, 0), all: flag(a, "all"), limit: int(a, "limit", { min: 1 }) } }),
    render: (b) =>
      [
        `tasks (${b.tasks.length}):`,
        ...b.tasks.map((t: any) => `  ${taskLine(t)}`),
        `sessions (${b.sessions.length}):`,
        ...b.sessions.map((s: any) => `  ${sessionLine(s)}`),
        `bindings (${b.bindings.length}):`,
        ...b.bindings.map((x: any) => `  ${bindingLine(x)}`),
        `suggestions (${b.suggestions.length}):`,
        ...b.suggestions.map((s: any) => `  ${s.message}${s.command ? `\n    $ ${s.command}` : ""}`),
      ].join("\n"),
  },
  {
    name: "audit",
    group: "observe",
    summary:
      "Everything recorded about a task by table: events, commands, attempts, cycles, notifications, decisions, criteria, broker… (redacted unless --include-content)",
    positionals: [{ name: "TASK", required: true, description: "Task name" }],
    options: {
      "include-content": { type: "boolean", description: "Show message/prompt/pane content" },
      limit: { type: "string", value: "N", description: "At most N rows per section (default 1000)" },
    },
    request: (a) => ({
      method: "GET",
      path: `/tasks/${encodeURIComponent(pos(a, 0)!)}/audit`,
      query: { include_content: flag(a, "include-content"), limit: int(a, "limit", { min: 1 }) },
    }),
    render: (b) =>
      [
        b.count ? b.events.map((e: any) => `${e.created_at} ${e.kind.padEnd(22)} ${e.actor} ${inline(e.payload)}`).join("\n") : `no events for ${b.task}`,
        "",
        `sections (--json shows them): ${Object.entries(b)
          .filter(([k, v]) => Array.isArray(v) && !["events", "truncated"].includes(k))
          .map(([k, v]) => `${k} ${(v as unknown[]).length}`)
          .join(", ")}${b.truncated.length ? `\ntruncated at --limit: ${b.truncated.join(", ")}` : ""}`,
      ].join("\n"),
  },
  {
    name: "db-doctor",
    group: "setup",
    summary: "Schema version, pending migrations and integrity check",
    request: () => ({ method: "GET", path: "/admin/db-doctor" }),
    render: (b) =>
      [
        `database: ${b.url}`,
        `schema version: ${b.schema_version ?? "(none)"}`,
        `pending migrations: ${b.pending_migrations.length ? b.pending_migrations.map((m: any) => m.tag).join(", ") : "none"}`,
        ...(b.missing_tables?.length
          ? [`missing tables: ${b.missing_tables.join(", ")} (the migration ledger says they exist: restore the file from a backup)`]
          : []),
        `integrity_check: ${b.integrity_check}`,
        `journal mode: ${b.journal_mode ?? "-"}`,
        b.ok ? "ok" : "NOT OK",
      ].join("\n"),
    exitCodes: { 1: "NOT OK: pending migrations, a missing table or a failed integrity check" },
    exitCode: (b) => (b.ok ? EXIT_OK : EXIT_FAILED),
  },
  {
    name: "token mint",
    group: "setup",
    summary: "Mint a daemon, runner or extra owner token (secret shown once)",
    options: {
      scope: { type: "string", choices: TOKEN_SCOPES, description: "What the token may do (required; runner and hook need --host)" },
      host: { type: "string", value: "HOST", description: "For runner tokens: the host it serves" },
      label: { type: "string", value: "TEXT", description: "Free-form label" },
    },
    examples: ["switchyard token mint --scope runner --host build-box", "switchyard token mint --scope daemon --label overnight"],
    request: (a) => ({ method: "POST", path: "/tokens", body: { scope: req(a, "scope"), host: str(a, "host"), label: str(a, "label") } }),
    render: (b) => `minted ${b.info.kind} token ${b.token_id}${b.info.host ? ` for host ${b.info.host}` : ""}\ntoken: ${b.token}   (shown once)`,
  },
  {
    name: "token list",
    group: "setup",
    summary: "List tokens (ids and scopes, never secrets)",
    options: { ...pageOptions },
    request: (a) => ({ method: "GET", path: "/tokens", query: pageQuery(a) }),
    render: (b, a) =>
      b.tokens.map((t: any) => `${t.id} ${t.kind.padEnd(8)} host=${t.host ?? "-"} ${tokenState(t)} ${t.label ?? ""}`).join("\n") +
      nextPageHintFor(b, "token list", a),
  },
  {
    name: "token revoke",
    group: "setup",
    summary: "Revoke a token",
    positionals: [{ name: "TOKEN_ID", required: true, description: "Token id (tok_...)" }],
    request: (a) => ({ method: "POST", path: `/tokens/${encodeURIComponent(pos(a, 0)!)}/revoke` }),
    render: (b) => `revoked ${b.token_id}`,
  },
  {
    name: "cron run",
    group: "setup",
    summary: "Run one tick of a cron now and print its report",
    positionals: [{ name: "NAME", required: true, description: "Cron name (see `cron list`)" }],
    request: (a) => ({ method: "POST", path: `/crons/${encodeURIComponent(pos(a, 0)!)}` }),
    render: (b) => `${b.name}: ${b.state}${b.error ? ` (${b.error})` : ""}${b.report ? `\n${block(b.report, "  ")}` : ""}`,
    exitCode: (b) => (b.state === "failed" ? EXIT_FAILED : EXIT_OK),
  },
  {
    name: "cron list",
    group: "setup",
    summary: "List crons, schedules and last runs",
    request: () => ({ method: "GET", path: "/crons" }),
    render: (b) =>
      b.crons
        .map((c: any) => `${c.name.padEnd(20)} ${c.schedule.padEnd(14)} last: ${c.last_run ? `${c.last_run.state} ${c.last_run.started_at}` : "never"}`)
        .join("\n"),
  },
];
