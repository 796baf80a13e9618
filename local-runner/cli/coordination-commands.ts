import { pageOptions, pageQuery, nextPageHint } from "./patrol-commands.ts";
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
      type: { type: "string", value: "timer|human|mail", description: "Gate type (required)" },
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
    options: { state: { type: "string", value: "open|closed|all", description: "Which gates (default open)" }, ...pageOptions },
    request: (a) => ({ method: "GET", path: "/gates", query: { state: str(a, "state"), ...pageQuery(a) } }),
    render: (b) => (b.count ? b.gates.map(gateLine).join("\n") : "no gates") + nextPageHint(b, "gate list"),
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
    options: { status: { type: "string", value: "open|closed|all", description: "Which convoys (default open)" }, ...pageOptions },
    request: (a) => ({ method: "GET", path: "/convoys", query: { status: str(a, "status"), ...pageQuery(a) } }),
    render: (b) => (b.count ? b.convoys.map(convoyLine).join("\n") : "no convoys") + nextPageHint(b, "convoy list"),
  },
  {
    name: "convoy show",
    group: "coordination",
    summary: "Show a convoy and each tracked task",
    positionals: [{ name: "ID", required: true, description: "Convoy id (cvy_…)" }],
    request: (a) => ({ method: "GET", path: `/convoys/${enc(pos(a, 0)!)}` }),
    render: (b) => [convoyLine(b.convoy), ...b.tasks.map((t: any) => `  ${t.task.padEnd(30)} ${t.state}`)].join("\n"),
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
    render: (b) =>
      (b.count
        ? b.blocked.map((r: any) => `${r.task.name} waits for ${r.waiting_for.map((w: any) => `${w.task} (${w.state})`).join(", ")}`).join("\n")
        : "nothing is blocked") + nextPageHint(b, "blocked"),
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

/** Every coordination command: gates, convoys, dependencies, claims, plans, notes, board. */
export const COORDINATION_COMMANDS: CommandSpec[] = [...GATE_COMMANDS, ...CONVOY_COMMANDS];
