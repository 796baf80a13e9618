import { RUN_FIELDS, RUN_MESSAGE_TYPES, RUN_MODES, RUN_STATES, STOP_CONDITIONS } from "../../schema/enums.ts";
import { DAEMON_COMMANDS } from "../daemon/commands.ts";
import { inline } from "./format.ts";
import { int, list, pos, req, str, UsageError, type Args, type CommandSpec } from "./spec.ts";
import { eventLine } from "./broker-commands.ts";
import { nextPageHintFor, pageOptions, pageQuery } from "./paging.ts";

const enc = encodeURIComponent;

/** Limit flags of run-create; each maps to the snake_case limit of the same name. */
const LIMIT_FLAGS = [
  ["max-runtime-minutes", "Stop after this many minutes since run-start"],
  ["max-requests-total", "Ingest at most this many requests"],
  ["max-drafts-total", "Draft at most this many requests"],
  ["max-sends-total", "Send at most this many (overnight_dry_run: 0, the default)"],
  ["max-sends-per-thread", "Send at most this many per thread"],
  ["max-errors-total", "Stop when errors exceed this"],
  ["max-consecutive-errors", "Stop when errors in a row exceed this"],
  ["max-duplicate-drafts", "Stop when drafts repeating earlier drafts exceed this"],
  ["max-idle-minutes", "Stop after this many minutes without ingesting or drafting"],
] as const;

const snake = (s: string) => s.replace(/-/g, "_");

/** Parses repeatable NAME=V bounds of the validation schema; NAME may be written with - or _. */
function bounds(a: Args, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of list(a, name)) {
    const m = /^([a-z_-]+)=(\d+)$/.exec(v);
    if (!m) throw new UsageError(`--${name} expects NAME=INTEGER, e.g. max_sends_total=0, got '${v}'`);
    out[snake(m[1]!)] = Number(m[2]);
  }
  return out;
}

/** The run-create body from its flags. */
function createBody(a: Args) {
  const limits: Record<string, number> = {};
  for (const [f] of LIMIT_FLAGS) {
    const v = int(a, f, { min: 0 });
    if (v !== undefined) limits[snake(f)] = v;
  }
  const requireFields = list(a, "require-field");
  const requireConditions = list(a, "require-stop-condition");
  const min = bounds(a, "limit-min");
  const max = bounds(a, "limit-max");
  const hasSchema = requireFields.length || requireConditions.length || Object.keys(min).length || Object.keys(max).length;
  return {
    mode: req(a, "mode"),
    objective: req(a, "objective"),
    project: str(a, "project"),
    target_session: str(a, "target-session"),
    owner_session_id: str(a, "owner-session-id"),
    message_type: str(a, "message-type"),
    expires_at: str(a, "expires-at"),
    limits,
    stop_conditions: list(a, "stop-condition"),
    validation: hasSchema ? { require_fields: requireFields, require_stop_conditions: requireConditions, limit_min: min, limit_max: max } : undefined,
  };
}

/** A run contract in a few lines: state, scope, limits, stop conditions, lease. */
export function renderRun(r: any): string {
  const limits =
    Object.entries(r.limits)
      .map(([k, v]) => `${k}=${v}`)
      .join(" ") || "none";
  const c = r.counters;
  const lease = r.lease.owner ? `${r.lease.owner} until ${r.lease.expires_at}${r.lease.live ? "" : " (expired)"}` : "free";
  return [
    `run ${r.id}  ${r.mode}  ${r.state}${r.stop_reason ? ` (${r.stop_reason})` : ""}`,
    `objective:       ${r.objective}`,
    `scope:           project=${r.project ?? "-"} target=${r.target_session ?? "-"} type=${r.message_type ?? "-"} owner_session=${r.owner_session_id ?? "-"}`,
    `expires:         ${r.expires_at ?? "never"}${r.expired ? " (expired)" : ""}`,
    `approval policy: ${r.approval_policy.policy} (sends allowed: ${r.approval_policy.sends_allowed}; the daemon never approves or sends)`,
    `limits:          ${limits}`,
    `stop conditions: ${r.stop_conditions.join(", ")}`,
    `validation:      ${r.validation ? inline(r.validation) || "none" : "none"}`,
    `counters:        requests=${c.requests_total} drafts=${c.drafts_total} sends=${c.sends_total} errors=${c.errors_total} consecutive=${c.consecutive_errors} duplicates=${c.duplicate_drafts}`,
    `lease:           ${lease}`,
    `started: ${r.started_at ?? "-"}  stopped: ${r.stopped_at ?? "-"}  last activity: ${r.last_activity_at ?? "-"}`,
  ].join("\n");
}

const runArg = [{ name: "RUN_ID", required: true, description: "Broker run id" }];

/** Broker run contracts, the tick, and the overnight daemon. */
export const BROKER_RUN_COMMANDS: CommandSpec[] = [
  {
    name: "broker run-create",
    summary: "Create a run contract: mode, scope, limits, stop conditions, validation schema",
    options: {
      mode: { type: "string", choices: RUN_MODES, description: "Run mode (required)" },
      objective: { type: "string", value: "TEXT", description: "What the run is for (required)" },
      project: { type: "string", value: "P", description: "Only requests of this project" },
      "target-session": { type: "string", value: "S", description: "Only requests addressed to this session" },
      "owner-session-id": { type: "string", value: "ID", description: "The owner's session, recorded on the contract" },
      "message-type": { type: "string", choices: RUN_MESSAGE_TYPES, description: "Message type the run handles (default request)" },
      "expires-at": { type: "string", value: "ISO", description: "The run stops at this instant, e.g. 2099-01-01T00:00:00+00:00" },
      ...Object.fromEntries(LIMIT_FLAGS.map(([f, d]) => [f, { type: "string" as const, value: "N", description: d }])),
      "stop-condition": { type: "string", multiple: true, value: "CONDITION", choices: STOP_CONDITIONS, description: "A condition that stops the run" },
      "require-field": { type: "string", multiple: true, value: "FIELD", choices: RUN_FIELDS, description: "Validation: the contract must set this field" },
      "require-stop-condition": {
        type: "string",
        multiple: true,
        value: "CONDITION",
        choices: STOP_CONDITIONS,
        description: "Validation: the contract must list this stop condition",
      },
      "limit-min": { type: "string", multiple: true, value: "NAME=V", description: "Validation: limit NAME must be set and at least V" },
      "limit-max": { type: "string", multiple: true, value: "NAME=V", description: "Validation: limit NAME must be set and at most V" },
    },
    examples: [
      'switchyard broker run-create --mode supervised --objective "Visible owner-gated loop"',
      'switchyard broker run-create --mode overnight_dry_run --project /src/app --target-session lily --objective "Draft overnight; do not send" --expires-at 2099-01-01T00:00:00+00:00 --max-runtime-minutes 60 --max-sends-total 0 --stop-condition missing_approval --stop-condition ambiguous_or_unknown_recipient --require-stop-condition owner_kill_switch --limit-max max_sends_total=0',
    ],
    request: (a) => ({ method: "POST", path: "/broker/runs", body: createBody(a) }),
    render: (b) => `${renderRun(b.run)}\nstart it with: switchyard broker run-start ${b.run_id}`,
  },
  {
    name: "broker run-start",
    summary: "Start a created run (owner only)",
    positionals: runArg,
    request: (a) => ({ method: "POST", path: `/broker/runs/${enc(pos(a, 0)!)}/start` }),
    render: (b) => `started ${b.run_id} at ${b.run.started_at}`,
  },
  {
    name: "broker run-status",
    summary: "A run's contract and state: expiry, approval policy, limits, stop conditions, lease, events",
    positionals: runArg,
    request: (a) => ({ method: "GET", path: `/broker/runs/${enc(pos(a, 0)!)}` }),
    render: (b) => {
      const totals =
        Object.entries(b.stop_condition_totals)
          .map(([k, v]) => `${k}=${v}`)
          .join(" ") || "none";
      return `${renderRun(b.run)}\nevents:          ${b.event_count}\nconditions met:  ${totals}`;
    },
  },
  {
    name: "broker run-events",
    summary: "A run's broker events, oldest first",
    positionals: runArg,
    options: {
      limit: { type: "string", value: "N", description: "Events per page (default 200, at most 1000)" },
      cursor: pageOptions.cursor,
      "after-id": { type: "string", value: "N", description: "Only events after this id (the older way to page; not with --cursor)" },
    },
    request: (a) => {
      if (str(a, "after-id") !== undefined && str(a, "cursor") !== undefined) throw new UsageError("give --cursor or --after-id, not both");
      return {
        method: "GET",
        path: `/broker/runs/${enc(pos(a, 0)!)}/events`,
        query: { after_id: int(a, "after-id", { min: 1 }), limit: int(a, "limit", { min: 1, max: 1000 }), cursor: str(a, "cursor") },
      };
    },
    // The cursor carries the position, so the next page's command drops --after-id.
    render: (b, a) =>
      b.count
        ? b.events.map(eventLine).join("\n") + nextPageHintFor(b, "broker run-events", { ...a, values: { ...a.values, "after-id": undefined } })
        : `no events for ${b.run_id}`,
  },
  {
    name: "broker run-digest",
    summary: "What a run did: requests, drafts, what waits for approval, errors, why it stopped",
    positionals: runArg,
    request: (a) => ({ method: "GET", path: `/broker/runs/${enc(pos(a, 0)!)}/digest` }),
    render: (b) =>
      [
        b.summary,
        `ticks: ${b.ticks}; requests by state: ${
          Object.entries(b.requests.by_state)
            .map(([k, v]) => `${k}=${v}`)
            .join(" ") || "none"
        }`,
        ...(b.waiting_for_approval.length
          ? [
              "waiting for approval:",
              ...b.waiting_for_approval.map((i: any) => `  ${i.advice_id} thread=${i.thread_id} (switchyard broker review ${i.advice_id})`),
            ]
          : []),
        ...(b.owner_input_required.length ? ["need owner input:", ...b.owner_input_required.map((i: any) => `  ${i.advice_id} thread=${i.thread_id}`)] : []),
        ...(b.errors.length ? ["errors (newest first):", ...b.errors.map((e: any) => `  ${e.at} ${e.kind}: ${e.message}`)] : []),
      ].join("\n"),
  },
  {
    name: "broker run-stop",
    summary: "Owner kill switch: stop a run now",
    positionals: runArg,
    options: { reason: { type: "string", value: "TEXT", description: "Why (required)" } },
    request: (a) => ({ method: "POST", path: `/broker/runs/${enc(pos(a, 0)!)}/stop`, body: { reason: req(a, "reason") } }),
    render: (b) => `stopped ${b.run_id} (owner_kill_switch)`,
  },
  {
    name: "broker runs",
    summary: "List broker runs, newest first",
    options: {
      state: { type: "string", choices: [...RUN_STATES, "all"], description: "Which runs (default all)" },
      limit: { ...pageOptions.limit, description: "Rows per page (default 100, at most 500)" },
      cursor: pageOptions.cursor,
    },
    request: (a) => ({ method: "GET", path: "/broker/runs", query: { state: str(a, "state"), ...pageQuery(a) } }),
    render: (b, a) =>
      b.count
        ? b.runs.map((r: any) => `${r.id}  ${r.mode.padEnd(18)} ${r.state.padEnd(8)} ${r.stop_reason ?? ""}  ${r.objective}`).join("\n") +
          nextPageHintFor(b, "broker runs", a)
        : "no runs",
  },
  {
    name: "broker tick",
    summary: "One visible cycle: poll, ingest, draft, enforce the run's limits; never sends",
    options: {
      project: { type: "string", value: "P", description: "Only requests of this project" },
      "to-session": { type: "string", value: "S", description: "Only requests addressed to this session" },
      "run-id": { type: "string", value: "RUN", description: "Process this run under its lease (refused while a daemon holds it)" },
      holder: { type: "string", value: "ID", description: "Lease owner id to tick as (default: your token)" },
      batch: { type: "string", value: "N", description: "At most N messages and N drafts this tick (default 50)" },
    },
    examples: ["switchyard broker tick --project /src/app --to-session lily", "switchyard broker tick --run-id run_…"],
    // A one-shot tick gives the lease back, so an installed daemon is not locked out for a lease.
    request: (a) => ({
      method: "POST",
      path: "/broker/tick",
      body: {
        run_id: str(a, "run-id"),
        project: str(a, "project"),
        to_session: str(a, "to-session"),
        holder: str(a, "holder"),
        batch: int(a, "batch", { min: 1 }),
        release_lease: str(a, "run-id") !== undefined,
      },
    }),
    render: (b) => renderTick(b),
  },
  ...DAEMON_COMMANDS,
];

/** One tick's result in a few lines. */
export function renderTick(b: any): string {
  const lines = [
    `${b.run_id ? `run ${b.run_id}: ` : ""}${b.processed ? "" : "nothing processed; "}${b.candidates} candidate(s), ${b.ingested.length} ingested, ${b.drafted.filter((d: any) => d.state === "draft_ready").length} drafted, ${b.errors.length} error(s), 0 sent`,
    ...b.drafted
      .filter((d: any) => d.state !== "draft_ready")
      .map((d: any) => `  ${d.advice_id}: ${d.state}${d.policy_reason ? ` — ${d.policy_reason}` : ""}${d.error ? ` — ${d.error}` : ""}`),
    ...b.errors.map((e: any) => `  error in ${e.step}: ${e.message}`),
    ...b.conditions_met.map((c: any) => `  condition ${c.condition}${c.stopped ? " (stops the run)" : " (noted)"}: ${c.detail}`),
  ];
  if (b.stopped) lines.push(`run stopped: ${b.stopped.reason} — ${b.stopped.detail}`);
  if (b.drafted.some((d: any) => d.state === "draft_ready")) lines.push("review drafts with: switchyard broker queue");
  return lines.join("\n");
}
