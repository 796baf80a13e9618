import { CONVOY_STATES, GATE_STATES, GATE_TYPES, PLAN_STATUSES } from "../../schema/enums.ts";
import { nextPageHintFor, pageOptions, pageQuery } from "./paging.ts";
import { list, pos, req, str, UsageError, type Args, type CommandSpec } from "./spec.ts";

const enc = encodeURIComponent;

/** Parses a duration such as 90, 30s, 10m, 2h or 1d into whole seconds. */
export function parseDuration(text: string, option: string): number {
  const m = /^(\d+)\s*(s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new UsageError(`--${option} must be a duration like 30s, 10m, 2h or 1d, got '${text}'`);
  const n = Number(m[1]);
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[(m[2] ?? "s") as "s" | "m" | "h" | "d"];
  if (n <= 0) throw new UsageError(`--${option} must be positive, got '${text}'`);
  return n * unit;
}

function gateLine(g: any): string {
  const when = g.state === "open" ? (g.due_at ? `due ${g.due_at}` : "waits for gate close") : `closed ${g.closed_at}: ${g.close_reason}`;
  return `${g.id} ${g.type.padEnd(5)} ${g.state.padEnd(6)} ${g.title ?? ""} waiters=[${g.waiters.join(",")}] ${when}`;
}

/** Gate commands. */
export const GATE_COMMANDS: CommandSpec[] = [
  {
    name: "gate create",
    group: "coordination",
    summary: "Create a gate: --type timer --timeout 10m closes by itself; human and mail gates close with gate close",
    options: {
      type: { type: "string", choices: GATE_TYPES, description: "Gate type (required)" },
      timeout: { type: "string", value: "DURATION", description: "Timer gates: 30s, 10m, 2h, 1d" },
      title: { type: "string", value: "TEXT", description: "What the gate waits for" },
      waiter: { type: "string", multiple: true, value: "SESSION", description: "Session notified when it closes" },
    },
    examples: [
      "switchyard gate create --type timer --timeout 10m --waiter w1 --waiter m1 --title 'CI settles'",
      "switchyard gate create --type human --title 'owner signs off'",
    ],
    request: (a: Args) => {
      const timeout = str(a, "timeout");
      return {
        method: "POST",
        path: "/gates",
        body: {
          type: req(a, "type"),
          timeout_seconds: timeout === undefined ? undefined : parseDuration(timeout, "timeout"),
          title: str(a, "title"),
          waiters: list(a, "waiter"),
        },
      };
    },
    render: (b) => `created ${gateLine(b.gate)}`,
  },
  {
    name: "gate list",
    group: "coordination",
    summary: "List gates (open by default)",
    options: { state: { type: "string", choices: [...GATE_STATES, "all"], description: "Which gates (default open)" }, ...pageOptions },
    request: (a) => ({ method: "GET", path: "/gates", query: { state: str(a, "state"), ...pageQuery(a) } }),
    render: (b, a) => (b.count ? b.gates.map(gateLine).join("\n") : "no gates") + nextPageHintFor(b, "gate list", a),
  },
  {
    name: "gate show",
    group: "coordination",
    summary: "Show one gate",
    positionals: [{ name: "ID", required: true, description: "Gate id (gat_…)" }],
    request: (a) => ({ method: "GET", path: `/gates/${enc(pos(a, 0)!)}` }),
    render: gateLine,
  },
  {
    name: "gate close",
    group: "coordination",
    summary: "Close a gate and notify its waiters",
    positionals: [{ name: "ID", required: true, description: "Gate id (gat_…)" }],
    options: { reason: { type: "string", value: "TEXT", description: "Why (required; the waiters read it)" } },
    request: (a) => ({ method: "POST", path: `/gates/${enc(pos(a, 0)!)}/close`, body: { reason: req(a, "reason") } }),
    render: (b) => `closed ${b.gate_id}; notified ${b.notified.length ? b.notified.join(", ") : "no waiters"}`,
  },
];

function convoyTaskLine(t: any): string {
  return `  ${t.task.padEnd(30)} ${t.state}`;
}

function convoyLine(c: any): string {
  return `${c.id} ${c.state.padEnd(6)} ${c.finished}/${c.tracked} finished  ${c.title}${c.owner ? ` (owner ${c.owner})` : ""}${c.closed_at ? ` closed ${c.closed_at}` : ""}`;
}

/** Convoy, dependency and reopen commands. */
export const CONVOY_COMMANDS: CommandSpec[] = [
  {
    name: "convoy create",
    group: "coordination",
    summary: "Track tasks together; the convoy closes when all of them finish and tells its owner",
    options: {
      title: { type: "string", value: "TEXT", description: "What the convoy delivers (required)" },
      track: { type: "string", multiple: true, value: "TASK", description: "A task to track (at least one)" },
      owner: { type: "string", value: "SESSION", description: "Session told on completion (default: the owner)" },
    },
    examples: ["switchyard convoy create --title 'auth v2' --track auth-split --track auth-tests"],
    request: (a) => {
      const tracks = list(a, "track");
      if (!tracks.length) throw new UsageError("--track is required (a convoy tracks at least one task)");
      return { method: "POST", path: "/convoys", body: { title: req(a, "title"), tracks, owner: str(a, "owner") } };
    },
    render: (b) => `created ${convoyLine(b.convoy)}`,
  },
  {
    name: "convoy list",
    group: "coordination",
    summary: "List convoys (open by default)",
    options: { status: { type: "string", choices: [...CONVOY_STATES, "all"], description: "Which convoys (default open)" }, ...pageOptions },
    request: (a) => ({ method: "GET", path: "/convoys", query: { status: str(a, "status"), ...pageQuery(a) } }),
    render: (b, a) => (b.count ? b.convoys.map(convoyLine).join("\n") : "no convoys") + nextPageHintFor(b, "convoy list", a),
  },
  {
    name: "convoy show",
    group: "coordination",
    summary: "Show a convoy and each tracked task",
    positionals: [{ name: "ID", required: true, description: "Convoy id (cvy_…)" }],
    request: (a) => ({ method: "GET", path: `/convoys/${enc(pos(a, 0)!)}` }),
    render: (b, a) =>
      [convoyLine(b.convoy), ...b.tasks.map(convoyTaskLine)].join("\n") + nextPageHintFor({ next_cursor: b.tasks_next_cursor }, "convoy tasks", a),
  },
  {
    name: "convoy tasks",
    group: "coordination",
    summary: "A convoy's tracked tasks and their states (all of them, a page at a time)",
    positionals: [{ name: "ID", required: true, description: "Convoy id (cvy_…)" }],
    options: { ...pageOptions },
    request: (a) => ({ method: "GET", path: `/convoys/${enc(pos(a, 0)!)}/tasks`, query: pageQuery(a) }),
    render: (b, a) => (b.count ? b.tasks.map(convoyTaskLine).join("\n") + nextPageHintFor(b, "convoy tasks", a) : `convoy ${b.convoy_id} tracks no tasks`),
  },
  {
    name: "task depend",
    group: "coordination",
    summary: "Record that task A waits for task B (B finishing tells A's manager)",
    positionals: [{ name: "A", required: true, description: "The waiting task" }],
    options: { on: { type: "string", value: "B", description: "The task it waits for (required)" } },
    request: (a) => ({ method: "POST", path: `/tasks/${enc(pos(a, 0)!)}/depends`, body: { on: req(a, "on") } }),
    render: (b) => `${b.task} now depends on ${b.depends_on}${b.resolved ? " (already finished)" : ""}`,
  },
  {
    name: "blocked",
    group: "coordination",
    summary: "Active tasks waiting for an unfinished task",
    options: pageOptions,
    request: (a) => ({ method: "GET", path: "/blocked-tasks", query: pageQuery(a) }),
    render: (b, a) =>
      (b.count
        ? b.blocked.map((r: any) => `${r.task.name} waits for ${r.waiting_for.map((w: any) => `${w.task} (${w.state})`).join(", ")}`).join("\n")
        : "nothing is blocked") + nextPageHintFor(b, "blocked", a),
  },
  {
    name: "task reopen",
    group: "coordination",
    summary: "Reopen a finished task (its convoys reopen, its dependents are blocked again)",
    positionals: [{ name: "NAME", required: true, description: "Task name" }],
    options: { reason: { type: "string", value: "TEXT", description: "Why" } },
    request: (a) => ({ method: "POST", path: `/tasks/${enc(pos(a, 0)!)}/reopen`, body: { reason: str(a, "reason") } }),
    render: (b) =>
      `reopened ${b.task.name}${b.reopened_convoys.length ? `; convoys reopened: ${b.reopened_convoys.join(", ")}` : ""}${b.reblocked.length ? `; blocked again: ${b.reblocked.join(", ")}` : ""}`,
  },
];

function claimLine(c: any): string {
  return `${c.id} ${c.path.padEnd(30)} ${c.session.padEnd(16)} ${c.exclusive ? "exclusive" : "shared   "} until ${c.expires_at}${c.live ? "" : c.released_at ? " (released)" : " (expired)"}${c.note ? `  ${c.note}` : ""}`;
}

function planLine(p: any): string {
  return `${p.id} ${p.status.padEnd(9)} ${p.title}${p.owner ? ` (owner ${p.owner})` : ""}${p.task ? ` [task ${p.task}]` : ""}`;
}

/** Claims, plans, notes and the board. */
export const STATE_COMMANDS: CommandSpec[] = [
  {
    name: "claim add",
    group: "coordination",
    summary: "Claim files (path or glob) for a session; an exclusive claim refuses overlapping live claims",
    options: {
      path: { type: "string", value: "GLOB", description: "Path or glob, e.g. src/auth/** (required)" },
      session: { type: "string", value: "NAME", description: "Holder (required)" },
      ttl: { type: "string", value: "DURATION", description: "How long it holds: 90s, 30m, 2h (required)" },
      exclusive: { type: "boolean", description: "No one else may claim an overlapping path meanwhile" },
      note: { type: "string", value: "TEXT", description: "Why" },
      task: { type: "string", value: "TASK", description: "The task it is for" },
    },
    examples: ["switchyard claim add --path 'src/auth/**' --session w1 --ttl 45m --exclusive --note 'splitting the module'"],
    request: (a) => ({
      method: "POST",
      path: "/claims",
      body: {
        path: req(a, "path"),
        session: req(a, "session"),
        ttl_seconds: parseDuration(req(a, "ttl"), "ttl"),
        exclusive: a.values.exclusive === true,
        note: str(a, "note"),
        task: str(a, "task"),
      },
    }),
    render: (b) => `${b.refreshed ? "refreshed" : "claimed"} ${claimLine(b.claim)}`,
  },
  {
    name: "claim list",
    group: "coordination",
    summary: "Live claims (or --all), of everyone or one --session",
    options: {
      session: { type: "string", value: "NAME", description: "Only this session's" },
      all: { type: "boolean", description: "Include released and expired" },
      ...pageOptions,
    },
    request: (a) => ({ method: "GET", path: "/claims", query: { session: str(a, "session"), state: a.values.all === true ? "all" : "live", ...pageQuery(a) } }),
    render: (b, a) => (b.count ? b.claims.map(claimLine).join("\n") : "no claims") + nextPageHintFor(b, "claim list", a),
  },
  {
    name: "claim release",
    group: "coordination",
    summary: "Release a claim",
    positionals: [{ name: "ID", required: true, description: "Claim id (clm_…)" }],
    request: (a) => ({ method: "POST", path: `/claims/${enc(pos(a, 0)!)}/release` }),
    render: (b) => `released ${b.claim.id} (${b.claim.path})`,
  },
  {
    name: "plan create",
    group: "coordination",
    summary: "Create a plan with an owner and a status",
    options: {
      title: { type: "string", value: "TEXT", description: "Title (required)" },
      body: { type: "string", value: "TEXT", description: "The plan" },
      status: { type: "string", choices: PLAN_STATUSES, description: "Default draft" },
      owner: { type: "string", value: "SESSION", description: "Owning session (default: the owner)" },
      task: { type: "string", value: "TASK", description: "The task it belongs to" },
    },
    request: (a) => ({
      method: "POST",
      path: "/plans",
      body: { title: req(a, "title"), body: str(a, "body"), status: str(a, "status"), owner: str(a, "owner"), task: str(a, "task") },
    }),
    render: (b) => `created ${planLine(b.plan)}`,
  },
  {
    name: "plan list",
    group: "coordination",
    summary: "Plans, newest first",
    options: { status: { type: "string", choices: [...PLAN_STATUSES, "all"], description: "Which plans (default all)" }, ...pageOptions },
    request: (a) => ({ method: "GET", path: "/plans", query: { status: str(a, "status"), ...pageQuery(a) } }),
    render: (b, a) => (b.count ? b.plans.map(planLine).join("\n") : "no plans") + nextPageHintFor(b, "plan list", a),
  },
  {
    name: "plan show",
    group: "coordination",
    summary: "Show one plan",
    positionals: [{ name: "ID", required: true, description: "Plan id (pln_…)" }],
    request: (a) => ({ method: "GET", path: `/plans/${enc(pos(a, 0)!)}` }),
    render: (p) => [planLine(p), p.body ?? ""].filter(Boolean).join("\n"),
  },
  {
    name: "plan status",
    group: "coordination",
    summary: "Change a plan's status",
    positionals: [
      { name: "ID", required: true, description: "Plan id" },
      { name: "STATUS", required: true, description: "draft|active|done|abandoned" },
    ],
    request: (a) => ({ method: "POST", path: `/plans/${enc(pos(a, 0)!)}/status`, body: { status: pos(a, 1) } }),
    render: (b) => planLine(b.plan),
  },
  {
    name: "note add",
    group: "coordination",
    summary: "Add a runtime note about what is happening now",
    positionals: [{ name: "TEXT", required: true, description: "The note" }],
    options: {
      task: { type: "string", value: "TASK", description: "About this task" },
      session: { type: "string", value: "NAME", description: "About this session" },
    },
    request: (a) => ({ method: "POST", path: "/notes", body: { text: pos(a, 0), task: str(a, "task"), session: str(a, "session") } }),
    render: (b) => `noted ${b.note_id}`,
  },
  {
    name: "notes",
    group: "coordination",
    summary: "Runtime notes, newest first",
    options: { task: { type: "string", value: "TASK", description: "Only this task's" }, ...pageOptions },
    request: (a) => ({ method: "GET", path: "/notes", query: { task: str(a, "task"), ...pageQuery(a) } }),
    render: (b, a) =>
      (b.count
        ? b.notes.map((n: any) => `${n.created_at} ${n.author}${n.task ? ` [${n.task}]` : ""}${n.session ? ` (${n.session})` : ""}: ${n.text}`).join("\n")
        : "no notes") + nextPageHintFor(b, "notes", a),
  },
  {
    name: "board",
    group: "coordination",
    summary: "Who works where, what is blocked, what needs review or a handoff",
    options: pageOptions,
    request: (a) => ({ method: "GET", path: "/board", query: pageQuery(a) }),
    render: (b, a) => {
      const lines = ["WORKING"];
      if (!b.working.length) lines.push("  (no bound tasks)");
      for (const l of b.working) {
        const flags = [l.needs_review && "NEEDS REVIEW", l.needs_handoff && "NEEDS HANDOFF"].filter(Boolean).join(", ");
        lines.push(`  ${l.task}: ${l.worker} (${l.worker_state}) in ${l.worker_cwd ?? "?"}, managed by ${l.manager}${flags ? `  [${flags}]` : ""}`);
        for (const c of l.claims) lines.push(`      claims ${c.path}${c.exclusive ? " (exclusive)" : ""} until ${c.expires_at}`);
        if (l.claims_total > l.claims.length) lines.push(`      … ${l.claims_total - l.claims.length} more: switchyard claim list --session ${l.worker}`);
      }
      const unassignedTotal = b.counts.unassigned_tasks ?? b.unassigned.length;
      if (b.unassigned.length) {
        const head = unassignedTotal > b.unassigned.length ? `UNASSIGNED (oldest ${b.unassigned.length} of ${unassignedTotal})` : "UNASSIGNED";
        lines.push(head, ...b.unassigned.map((t: any) => `  ${t.task}`));
      }
      if (b.blocked.length) {
        lines.push("BLOCKED", ...b.blocked.map((r: any) => `  ${r.task.name} waits for ${r.waiting_for.map((w: any) => w.task).join(", ")}`));
        if (b.blocked_next_cursor) lines.push(`  more blocked: switchyard blocked --cursor ${b.blocked_next_cursor}`);
      }
      if (b.plans.length) lines.push("PLANS", ...b.plans.map((p: any) => `  ${planLine(p)}`));
      if (b.notes.length) lines.push("NOTES", ...b.notes.map((n: any) => `  ${n.created_at} ${n.text}`));
      const c = b.counts;
      lines.push(`claims ${c.live_claims} live, gates ${c.open_gates} open, convoys ${c.open_convoys} open, owner notices ${c.owner_notices_pending} pending`);
      return lines.join("\n") + nextPageHintFor(b, "board", a);
    },
  },
];

/** Every coordination command: gates, convoys, dependencies, claims, plans, notes, board. */
export const COORDINATION_COMMANDS: CommandSpec[] = [...GATE_COMMANDS, ...CONVOY_COMMANDS, ...STATE_COMMANDS];
