import { DELIVERY_STATUSES, SESSION_ROLES } from "../../schema/enums.ts";
import { seconds } from "./format.ts";
import { flag, int, pos, req, str, type Args, type CommandSpec, type OptionSpec } from "./spec.ts";

const enc = encodeURIComponent;

const LOOP_OPTIONS: Record<string, OptionSpec> = {
  "dispatcher-id": { type: "string", value: "ID", description: "Dispatcher whose heartbeat to check (default dispatch-local)" },
  "stale-after": { type: "string", value: "N", description: "Seconds after which a heartbeat is stale (default 180)" },
};

const TASK = [{ name: "TASK", required: true, description: "Task name" }];

function loopOptions(a: Args) {
  return { dispatcher_id: str(a, "dispatcher-id"), stale_after_seconds: int(a, "stale-after", { min: 0 }) };
}

function statusLines(s: any): string[] {
  const role = (r: any) =>
    `${r.role} ${r.name ?? "(none bound)"}: ${r.lease.state}${r.lease.age_seconds === null ? "" : ` (${seconds(r.lease.age_seconds)} ago)`}${r.pending_inbox ? `, ${r.pending_inbox} inbox item(s)` : ""}`;
  return [
    `app loop ${s.task.name}: ${s.ok ? "ok" : "attention required"}`,
    `dispatch ${s.dispatch.dispatcher_id}: ${s.dispatch.state}${s.dispatch.age_seconds === null ? "" : ` (${seconds(s.dispatch.age_seconds)} ago)`}`,
    role(s.manager),
    role(s.worker),
    ...s.next_actions.map((n: any) => `next: ${n.kind} - ${n.reason}${n.command ? `\n  $ ${n.command}` : ""}`),
  ];
}

function threadLabel(t: { id: string | null; title: string | null }): string {
  return t.id ? ` [thread ${t.title ? `"${t.title}" ` : ""}${t.id}]` : "";
}

function reconcileLines(label: string, r: any): string[] {
  return [
    `${label}: ${r.counts.dead_sessions} dead-pid session(s), ${r.counts.dangling_bindings} dangling binding(s), ${r.counts.stuck_tasks} stuck task(s), ${r.counts.unchecked_sessions} unchecked`,
    ...r.dead_sessions.map(
      (d: any) =>
        `  dead: ${d.name} pid ${d.pid}${d.bound_tasks.length ? ` (bound to ${d.bound_tasks.map((t: any) => `${t.task} as ${t.role}`).join(", ")})` : ""}`,
    ),
    ...r.dangling_bindings.map((b: any) => `  dangling: ${b.binding_id} of ${b.task} (${b.reasons.join(", ")})`),
    ...r.stuck_tasks.map(
      (t: any) =>
        `  stuck: ${t.task}, manager silent ${seconds(t.silent_seconds)}${t.last_ok_cycle_at ? ` (last ok cycle ${t.last_ok_cycle_at})` : " (no ok cycle)"}`,
    ),
    ...r.unchecked_sessions.map((u: any) => `  unchecked: ${u.name} pid ${u.pid} (${u.reason})`),
  ];
}

/** App autonomy (Codex app / no-tmux loops) and reconcile. */
export const APP_COMMANDS: CommandSpec[] = [
  {
    name: "app-heartbeat",
    summary: "Record an app (no-tmux) manager or worker heartbeat and print its next poll commands",
    positionals: TASK,
    options: { role: { type: "string", choices: SESSION_ROLES, description: "Which bound session is beating (required)" }, ...LOOP_OPTIONS },
    examples: ["switchyard app-heartbeat auth-refactor --role worker --json"],
    request: (a) => ({ method: "POST", path: `/tasks/${enc(pos(a, 0)!)}/app-loop/heartbeat`, body: { role: req(a, "role"), ...loopOptions(a) } }),
    render: (b) =>
      [
        `${b.role} heartbeat recorded for ${b.task.name} at ${b.heartbeat.recorded_at}`,
        `next: ${b.next.pending_inbox ? `${b.next.pending_inbox} inbox item(s) waiting: ${b.next.direct_inbox_command ?? b.next.poll_command}` : (b.next.poll_command ?? "(none)")}`,
        ...statusLines(b.status),
      ].join("\n"),
  },
  {
    name: "app-loop-status",
    summary: "Manager lease, worker lease, dispatch heartbeat and next actions of an app loop",
    positionals: TASK,
    options: LOOP_OPTIONS,
    request: (a) => ({ method: "GET", path: `/tasks/${enc(pos(a, 0)!)}/app-loop/status`, query: loopOptions(a) }),
    render: (b) => statusLines(b).join("\n"),
  },
  {
    name: "app-wakeup-plan",
    summary: "Exact manager and worker wake prompts (with app thread ids/titles) for an app loop",
    positionals: TASK,
    options: LOOP_OPTIONS,
    request: (a) => ({ method: "GET", path: `/tasks/${enc(pos(a, 0)!)}/app-loop/wakeup-plan`, query: loopOptions(a) }),
    render: (b) =>
      [
        `wake-up plan for ${b.status.task.name}: ${b.status.ok ? "ok" : "attention required"}`,
        `dispatch: ${b.dispatcher.state}${b.dispatcher.required ? ` (start it: ${b.dispatcher.command})` : ""}`,
        ...b.wakeups.flatMap((w: any) => ["", `${w.needed ? "WAKE" : "healthy"} ${w.role}${threadLabel(w.thread)}: ${w.reason}`, w.prompt]),
      ].join("\n"),
  },
  {
    name: "app-wakeup-dispatch",
    summary: "Prepare adapter-ready wake actions and record a receipt (sends nothing)",
    positionals: TASK,
    options: LOOP_OPTIONS,
    request: (a) => ({ method: "POST", path: `/tasks/${enc(pos(a, 0)!)}/app-loop/wakeup-dispatch`, body: loopOptions(a) }),
    render: (b) =>
      [
        `wake dispatch for ${b.status.task.name}: ${b.summary.ready_to_send} ready, ${b.summary.skipped_healthy} healthy, ${b.summary.blocked} blocked`,
        `dispatch: ${b.dispatcher.state}${b.dispatcher.required ? ` (start it: ${b.dispatcher.command})` : ""}`,
        `receipt: ${b.receipt.event_id}`,
        ...b.actions.flatMap((x: any) => [
          "",
          `${x.role}: ${x.status}${x.send_ready ? " (send_ready)" : ""}${threadLabel(x.thread)} - ${x.reason}`,
          ...(x.blocker ? [`blocker: ${x.blocker}`] : []),
          ...(x.prompt ? [x.prompt] : []),
        ]),
      ].join("\n"),
  },
  {
    name: "app-wakeup-record-delivery",
    summary: "Record what the app/operator layer did with a wake action from a dispatch receipt",
    positionals: TASK,
    options: {
      role: { type: "string", choices: SESSION_ROLES, description: "Whose wake action (required)" },
      "dispatch-receipt": { type: "string", value: "ID", description: "event_id printed by app-wakeup-dispatch (required)" },
      "delivery-status": { type: "string", choices: DELIVERY_STATUSES, description: "What happened (required)" },
      "thread-id": { type: "string", value: "ID", description: "Thread the prompt was sent to (required for sent)" },
      reason: { type: "string", value: "TEXT", description: "Free-form note" },
    },
    examples: ["switchyard app-wakeup-record-delivery auth-refactor --role manager --dispatch-receipt evt_... --delivery-status sent --thread-id thr_..."],
    request: (a) => ({
      method: "POST",
      path: `/tasks/${enc(pos(a, 0)!)}/app-loop/wakeup-deliveries`,
      body: {
        role: req(a, "role"),
        dispatch_receipt: req(a, "dispatch-receipt"),
        delivery_status: req(a, "delivery-status"),
        thread_id: str(a, "thread-id"),
        reason: str(a, "reason"),
      },
    }),
    render: (b) =>
      [
        `recorded ${b.delivery.status} for the ${b.delivery.role} of ${b.task.name} (source action ${b.delivery.source_action_status})`,
        `source receipt: ${b.source.dispatch_receipt}`,
        `receipt: ${b.receipt.event_id}`,
        b.source.dispatch_required ? "dispatch was not healthy when the wake-ups were planned" : "dispatch was healthy when the wake-ups were planned",
      ].join("\n"),
  },
  {
    name: "reconcile",
    summary: "Report dead-pid sessions, dangling bindings and stuck tasks; --apply fixes what is safe",
    options: {
      apply: { type: "boolean", description: "Mark dead sessions gone and end dangling bindings (owner only)" },
      "stale-cycles-seconds": { type: "string", value: "N", description: "Manager silence that makes a task stuck (default 3600)" },
    },
    examples: ["switchyard reconcile", "switchyard reconcile --stale-cycles-seconds 600 --json", "switchyard reconcile --apply"],
    request: (a) => {
      const stale = int(a, "stale-cycles-seconds", { min: 1 });
      return flag(a, "apply")
        ? { method: "POST", path: "/admin/reconcile", body: { stale_cycles_seconds: stale } }
        : { method: "GET", path: "/admin/reconcile", query: { stale_cycles_seconds: stale } };
    },
    render: (b) =>
      [
        ...reconcileLines("before", b.before),
        ...(b.applied
          ? [...b.actions.map((x: any) => `fixed: ${x.action} ${x.session_id ?? x.binding_id} (${x.reason})`), ...reconcileLines("after", b.after)]
          : []),
        b.applied ? `${b.actions.length} fix(es) applied` : b.before.ok ? "no drift" : "run with --apply to fix dead sessions and dangling bindings",
      ].join("\n"),
  },
];
