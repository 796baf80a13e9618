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

/** Every coordination command: gates, convoys, dependencies, claims, plans, notes, board. */
export const COORDINATION_COMMANDS: CommandSpec[] = [...GATE_COMMANDS];
