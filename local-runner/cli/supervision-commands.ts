import { readFileSync } from "node:fs";
import {
  CONTINUATION_ROLES,
  CRITERION_SOURCES,
  CRITERION_ADD_STATUSES,
  CRITERION_STATUSES,
  EPILOGUE_STEPS,
  MANAGER_MODES,
  NUDGE_ON_COMPLETION,
  SESSION_ROLES,
} from "../../schema/enums.ts";
import { ExternalDrafter } from "../drafter.ts";
import { callOnce, printAnswer, verdictCall } from "./api-call.ts";
import { nextPageHintFor, pageOptions, pageQuery } from "./paging.ts";
import { flag, int, jsonOption, list, pos, req, str, UsageError, TASK_ARG, type Args, type CommandSpec, type OptionSpec } from "./spec.ts";

const enc = encodeURIComponent;
const GROUP = "supervision";

function renderConfig(c: any): string {
  return [
    `manager config of ${c.task}, revision ${c.revision} (${c.mode})`,
    `objective: ${c.objective ?? "-"}`,
    ...c.guidelines.map((g: string) => `guideline: ${g}`),
    ...c.acceptance.map((g: string) => `acceptance: ${g}`),
    ...c.references.map((g: string) => `reference: ${g}`),
    `permissions: ${c.granted.join(", ") || "none"}`,
    `tools: ${c.tools.join(", ") || "-"}   epilogues: ${c.epilogues.join(", ") || "-"}`,
    `nudge on completion: ${c.nudge_on_completion}   require acks: ${c.require_acks}`,
  ].join("\n");
}

/** Reads `--from-text`, `--from-<file option> PATH` or `--from-stdin` (exactly one). */
export function textInput(a: Args, fileOption: string): string {
  const given = [str(a, "from-text") !== undefined, str(a, fileOption) !== undefined, flag(a, "from-stdin")].filter(Boolean).length;
  if (given !== 1) throw new UsageError(`pass exactly one of --from-text, --${fileOption}, --from-stdin`);
  if (str(a, "from-text") !== undefined) return str(a, "from-text")!;
  const path = str(a, fileOption);
  try {
    return readFileSync(path ?? 0, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${path ?? "stdin"}: ${(e as Error).message}`);
  }
}

function criterionLine(c: any): string {
  return `#${String(c.id).padEnd(4)} ${c.status.padEnd(9)} ${c.source.padEnd(16)} ${c.criterion}${c.evidence_type ? ` [${c.evidence_type}]` : ""}`;
}

/** A JSON object from --payload-json or --from-stdin, or undefined when neither was given. */
function payloadInput(a: Args): Record<string, unknown> | undefined {
  let payload = jsonOption(a, "payload-json");
  if (flag(a, "from-stdin")) {
    if (payload) throw new UsageError("pass --payload-json or --from-stdin, not both");
    const raw = readFileSync(0, "utf8");
    try {
      payload = JSON.parse(raw);
    } catch (e) {
      throw new UsageError(`stdin is not valid JSON: ${(e as Error).message}`);
    }
    if (!payload || typeof payload !== "object" || Array.isArray(payload)) throw new UsageError("stdin must hold a JSON object");
  }
  return payload;
}

/** Parses --reviewer-command: a JSON array of argv, or one executable path. */
function reviewerArgv(raw: string): string[] {
  if (!raw.trim().startsWith("[")) return [raw];
  let argv: unknown;
  try {
    argv = JSON.parse(raw);
  } catch {
    throw new UsageError("--reviewer-command is not a valid JSON array of strings");
  }
  if (!Array.isArray(argv) || !argv.length || !argv.every((x) => typeof x === "string"))
    throw new UsageError("--reviewer-command must be a JSON array of strings");
  return argv as string[];
}

/** worker-ack / manager-ack: record a revision from --payload-json or stdin, else print the latest. */
function ackCommand(role: "worker" | "manager"): CommandSpec {
  return {
    name: `${role}-ack`,
    group: GROUP,
    summary: `Record the ${role}'s acknowledgement of the task contract (revisioned), or print the latest`,
    positionals: [TASK_ARG],
    options: {
      "payload-json": { type: "string", value: "JSON", description: "The acknowledgement as a JSON object" },
      "from-stdin": { type: "boolean", description: "Read the acknowledgement JSON from stdin" },
      "correlation-id": { type: "string", value: "ID", description: "Links the ack to a completion turn" },
      ...pageOptions,
    },
    examples: [`switchyard ${role}-ack auth --payload-json '{"objective":"split the module","criteria":[1,2]}'`],
    request: (a) => {
      const task = enc(pos(a, 0)!);
      const payload = payloadInput(a);
      if (!payload) return { method: "GET", path: `/tasks/${task}/acks`, query: { role, ...pageQuery(a) } };
      return { method: "POST", path: `/tasks/${task}/acks/${role}`, body: { payload, correlation_id: str(a, "correlation-id") } };
    },
    render: (b, a) => {
      if (b.ack) return `recorded ${role} ack revision ${b.ack.revision}`;
      // Paging asked for: every revision of the page, newest first; else the latest alone.
      if (str(a, "limit") !== undefined || str(a, "cursor") !== undefined) {
        const rows = b.acks.map((x: any) => `${role} ack revision ${x.revision} at ${x.created_at}: ${JSON.stringify(x.payload)}`);
        return `${rows.join("\n") || `no ${role} acks`}${nextPageHintFor(b, `${role}-ack`, a)}`;
      }
      const latest = b.latest[role];
      return latest ? `${role} ack revision ${latest.revision} at ${latest.created_at}: ${JSON.stringify(latest.payload)}` : `no ${role} ack yet`;
    },
  };
}

function renderCompact(b: any): string {
  const what = b.dry_run ? "dry run: recorded" : b.delivery === "push" ? `sent (submitted=${b.submitted})` : "queued for the worker's inbox";
  return `${b.instruction} for ${b.worker}: ${what}, command ${b.command_id}${b.decision_id ? `, decision ${b.decision_id}` : ""}, handoff ${b.handoff_id}`;
}

/** request-worker-compact (cites a decision) and compact-worker (records a nudge decision first). */
function compactCommand(name: "request-worker-compact" | "compact-worker"): CommandSpec {
  const convenience = name === "compact-worker";
  return {
    name,
    group: GROUP,
    summary: convenience
      ? "Record a nudge decision, then send /compact (or /clear) to the worker through the audited path"
      : "Send /compact (or /clear, or a prompt) to the worker; fails closed without the permission and a handoff",
    positionals: [TASK_ARG],
    options: {
      ...(convenience
        ? { reason: { type: "string", value: "TEXT", description: "Why (required): recorded as the nudge decision" } }
        : {
            "decision-id": { type: "string", value: "N", description: "The manager decision this acts on" },
            "strict-decisions": { type: "boolean", description: "Refuse without a nudge/interrupt decision id" },
          }),
      clear: { type: "boolean", description: "Send /clear (needs worker_session.clear)" },
      "prompt-only": { type: "boolean", description: "Send an explanatory prompt instead of the slash command" },
      "dry-run": { type: "boolean", description: "Record the command and audit rows, send nothing" },
    } as Record<string, OptionSpec>,
    examples: convenience
      ? ['switchyard compact-worker auth --reason "context is long; handoff recorded"']
      : ["switchyard request-worker-compact auth --decision-id 4 --strict-decisions"],
    request: (a) => {
      const body: Record<string, unknown> = { clear: flag(a, "clear"), prompt_only: flag(a, "prompt-only"), dry_run: flag(a, "dry-run") };
      if (convenience) {
        body.reason = req(a, "reason");
      } else {
        body.decision_id = int(a, "decision-id", { min: 1 });
        body.strict_decisions = flag(a, "strict-decisions");
      }
      return { method: "POST", path: `/tasks/${enc(pos(a, 0)!)}/worker-compact`, body };
    },
    render: renderCompact,
  };
}

const CRITERION_ACTION_FLAGS = ["accept", "defer", "reject", "satisfy"] as const;

/** Commands of the supervision contract (manager config, permissions, criteria, acks, decisions, finish gates). */
export const SUPERVISION_COMMANDS: CommandSpec[] = [
  {
    name: "manager-config",
    group: GROUP,
    summary: "Create, change or print a task's manager config (every change is a new revision)",
    positionals: [{ name: "TASK", required: false, description: "Task name (not needed with --questions)" }],
    options: {
      mode: { type: "string", choices: MANAGER_MODES, description: "How closely to supervise" },
      objective: { type: "string", value: "TEXT", description: "What the result is judged against" },
      guideline: { type: "string", multiple: true, value: "TEXT", description: "A rule for the worker" },
      acceptance: { type: "string", multiple: true, value: "TEXT", description: "A known acceptance criterion" },
      reference: { type: "string", multiple: true, value: "REF", description: "A document, issue or file that defines the work" },
      permit: { type: "string", multiple: true, value: "CATEGORY.ACTION", description: "Grant a permission (CATEGORY alone grants all its actions)" },
      revoke: { type: "string", multiple: true, value: "CATEGORY.ACTION", description: "Withdraw a permission" },
      tool: { type: "string", multiple: true, value: "TOOL", description: "An expected verification tool" },
      epilogue: { type: "string", multiple: true, choices: EPILOGUE_STEPS, description: "A step to run after the worker completes" },
      "nudge-on-completion": { type: "string", choices: NUDGE_ON_COMPLETION, description: "What a completed worker turn triggers" },
      "require-acks": { type: "boolean", description: "finish-task needs worker and manager acknowledgements" },
      "allow-pr": { type: "boolean", description: "Legacy: grants repo.open_pr" },
      "allow-merge-green": { type: "boolean", description: "Legacy: grants repo.merge_green_pr" },
      "allow-worker-compact-clear": { type: "boolean", description: "Legacy: grants worker_session.compact and .clear" },
      "permissions-json": { type: "string", value: "JSON", description: "Categorized or legacy flat permission keys to grant" },
      "replace-lists": { type: "boolean", description: "Given lists replace the stored ones instead of being appended" },
      questions: { type: "boolean", description: "Print the stable JSON question schema to ask the user" },
      revision: { type: "string", value: "N", description: "Print this revision" },
      history: { type: "boolean", description: "List every revision, newest first" },
      ...pageOptions,
    },
    examples: [
      "switchyard manager-config auth-refactor",
      'switchyard manager-config auth-refactor --mode strict --objective "Split the session module" --permit repo.open_pr --epilogue record-handoff',
      "switchyard manager-config --questions --json",
    ],
    request: (a) => {
      if (flag(a, "questions")) return { method: "GET", path: "/manager-config/questions" };
      const task = pos(a, 0);
      if (!task) throw new UsageError("missing argument TASK");
      if (flag(a, "history")) return { method: "GET", path: `/tasks/${enc(task)}/manager-config/revisions`, query: pageQuery(a) };
      const revision = int(a, "revision", { min: 1 });
      if (revision !== undefined) return { method: "GET", path: `/tasks/${enc(task)}/manager-config`, query: { revision } };
      const opt = (name: string) => (list(a, name).length ? list(a, name) : undefined);
      const bool = (name: string) => (flag(a, name) ? true : undefined);
      return {
        method: "POST",
        path: `/tasks/${enc(task)}/manager-config`,
        body: {
          mode: str(a, "mode"),
          objective: str(a, "objective"),
          guidelines: opt("guideline"),
          acceptance: opt("acceptance"),
          references: opt("reference"),
          permit: opt("permit"),
          revoke: opt("revoke"),
          tools: opt("tool"),
          epilogues: opt("epilogue"),
          nudge_on_completion: str(a, "nudge-on-completion"),
          require_acks: bool("require-acks"),
          allow_pr: bool("allow-pr"),
          allow_merge_green: bool("allow-merge-green"),
          allow_worker_compact_clear: bool("allow-worker-compact-clear"),
          permissions_json: jsonOption(a, "permissions-json"),
          replace_lists: bool("replace-lists"),
        },
      };
    },
    render: (b, a) => {
      if (flag(a, "questions")) return b.questions.map((q: any) => `${q.id.padEnd(20)} ${q.flag.padEnd(22)} ${q.prompt}`).join("\n");
      if (b.revisions)
        return (
          (b.revisions.map((r: any) => `revision ${r.revision} ${r.created_at} by ${r.created_by}: ${r.mode}, ${r.granted.length} grants`).join("\n") ||
            "no revisions") + nextPageHintFor(b, "manager-config", a)
        );
      if (b.config)
        return `${b.created ? `recorded revision ${b.config.revision}${b.changed_fields.length ? ` (${b.changed_fields.join(", ")})` : ""}` : "unchanged"}\n${renderConfig(b.config)}`;
      return renderConfig(b);
    },
  },
  {
    name: "manager-permission",
    group: GROUP,
    summary: "Check (and audit) whether a task's manager config grants CATEGORY.ACTION",
    positionals: [
      { name: "TASK", required: true, description: "Task name" },
      { name: "PERMISSION", required: true, description: "CATEGORY.ACTION, or CATEGORY" },
    ],
    options: {
      list: { type: "boolean", description: "List the granted actions of the category" },
      require: { type: "boolean", description: "Fail (exit 1) when not allowed" },
      "require-handoff": { type: "boolean", description: "Also require a recorded worker handoff" },
    },
    examples: ["switchyard manager-permission auth-refactor repo.open_pr --require", "switchyard manager-permission auth-refactor worker_session --list"],
    // A denied permission is a negative verdict: exit 1 even without --require.
    local: (a, g) =>
      verdictCall(
        g,
        {
          method: "POST",
          path: `/tasks/${enc(pos(a, 0)!)}/manager-permission`,
          body: { permission: pos(a, 1)!, list: flag(a, "list"), require: flag(a, "require"), require_handoff: flag(a, "require-handoff") },
        },
        (b) =>
          flag(a, "list")
            ? `${b.category}: ${b.granted.join(", ") || "nothing granted"}`
            : `${b.permission}: ${b.allowed ? "allowed" : `not allowed (${b.reason})`}${b.handoff_required ? `, handoff ${b.handoff_present ? b.handoff_id : "missing"}` : ""}`,
        (b) => b.allowed,
      ),
  },
  {
    name: "criteria",
    group: GROUP,
    summary: "The acceptance-criteria ledger: list, add, accept, defer, reject, satisfy",
    positionals: [TASK_ARG],
    options: {
      list: { type: "boolean", description: "List the ledger (the default)" },
      status: {
        type: "string",
        value: "STATUS",
        choices: CRITERION_STATUSES,
        description: "--list: only this status; --add: the new criterion's (proposed, accepted or deferred)",
      },
      add: { type: "boolean", description: "Add a criterion (with --criterion and --source)" },
      criterion: { type: "string", value: "TEXT", description: "The criterion text" },
      source: { type: "string", choices: CRITERION_SOURCES, description: "Who found it" },
      accept: { type: "string", value: "ID", description: "Accept a criterion" },
      defer: { type: "string", value: "ID", description: "Defer a criterion to a follow-up" },
      reject: { type: "string", value: "ID", description: "Reject a criterion" },
      satisfy: { type: "string", value: "ID", description: "Mark a criterion satisfied (needs --evidence-json)" },
      rationale: { type: "string", value: "TEXT", description: "Why" },
      "evidence-json": { type: "string", value: "JSON", description: 'What verified it, e.g. {"command":"npm test","status":"pass"}' },
      ...pageOptions,
    },
    examples: [
      "switchyard criteria auth --list --status accepted",
      'switchyard criteria auth --add --criterion "Login keeps working" --source worker_proposed',
      'switchyard criteria auth --accept 3 --rationale "Must-have for this task"',
      'switchyard criteria auth --satisfy 3 --evidence-json \'{"command":"npm test","status":"pass"}\'',
    ],
    request: (a) => {
      const task = enc(pos(a, 0)!);
      const actions = CRITERION_ACTION_FLAGS.filter((f) => str(a, f) !== undefined);
      if (actions.length + (flag(a, "add") ? 1 : 0) > 1) throw new UsageError("pass one of --add, --accept, --defer, --reject, --satisfy");
      if (flag(a, "add")) {
        const criterion = str(a, "criterion");
        const source = str(a, "source");
        if (!criterion || !source) throw new UsageError("--add needs --criterion and --source");
        const status = str(a, "status");
        // --status lists every status for --list; a new criterion may only start in some of them.
        if (status !== undefined && !(CRITERION_ADD_STATUSES as readonly string[]).includes(status)) {
          throw new UsageError(`--status with --add must be one of: ${CRITERION_ADD_STATUSES.join(", ")}; got '${status}'`);
        }
        return { method: "POST", path: `/tasks/${task}/criteria`, body: { criterion, source, status: str(a, "status"), rationale: str(a, "rationale") } };
      }
      const action = actions[0];
      if (action) {
        const id = int(a, action, { min: 1 })!;
        return {
          method: "POST",
          path: `/tasks/${task}/criteria/${id}`,
          body: { action, rationale: str(a, "rationale"), evidence: jsonOption(a, "evidence-json") },
        };
      }
      return { method: "GET", path: `/tasks/${task}/criteria`, query: { status: str(a, "status"), ...pageQuery(a) } };
    },
    render: (b, a) => {
      if (b.affected_criterion) return `${b.previous_status ? `${b.previous_status} -> ` : "added "}${criterionLine(b.affected_criterion)}`;
      const s = b.summary;
      return (
        [
          `${b.task}: ${s.proposed} proposed, ${s.accepted} accepted (open), ${s.satisfied} satisfied, ${s.deferred} deferred, ${s.rejected} rejected`,
          ...b.criteria.map(criterionLine),
        ].join("\n") + nextPageHintFor(b, "criteria", a)
      );
    },
  },
  {
    name: "criteria-plan",
    group: GROUP,
    summary: "Draft criteria commands from a worker response (read-only: changes nothing)",
    positionals: [TASK_ARG],
    options: {
      "from-text": { type: "string", value: "TEXT", description: "The worker response text" },
      "from-worker-response": { type: "string", value: "PATH", description: "A file holding the worker response" },
      "from-stdin": { type: "boolean", description: "Read the response from stdin" },
    },
    examples: ["switchyard criteria-plan auth --from-worker-response response.md --json"],
    request: (a) => ({ method: "POST", path: `/tasks/${enc(pos(a, 0)!)}/criteria-plan`, body: { text: textInput(a, "from-worker-response") } }),
    render: (b) =>
      b.suggestions.length
        ? b.suggestions.map((s: any) => `${s.already_recorded ? "# already recorded: " : ""}${s.command}`).join("\n")
        : `no must-have or follow-up list items found (${b.ignored_lines} list items outside such a heading)`,
  },
  {
    name: "handoff",
    group: GROUP,
    summary: "Persist a compact worker handoff (progress and next steps), or list them",
    positionals: [TASK_ARG],
    options: {
      summary: { type: "string", value: "TEXT", description: "Where the work stands" },
      "next-step": { type: "string", multiple: true, value: "TEXT", description: "A likely next step" },
      "payload-json": { type: "string", value: "JSON", description: "Anything else to keep, as a JSON object" },
      list: { type: "boolean", description: "List handoffs, newest first" },
      ...pageOptions,
    },
    examples: ['switchyard handoff auth --summary "Session module split; tests green" --next-step "Open the PR"'],
    request: (a) => {
      const task = enc(pos(a, 0)!);
      if (flag(a, "list") || str(a, "summary") === undefined) return { method: "GET", path: `/tasks/${task}/handoffs`, query: pageQuery(a) };
      return {
        method: "POST",
        path: `/tasks/${task}/handoff`,
        body: { summary: str(a, "summary"), next_steps: list(a, "next-step"), payload: jsonOption(a, "payload-json") },
      };
    },
    render: (b, a) =>
      b.handoff
        ? `recorded handoff ${b.handoff_id}: ${b.handoff.summary}${b.handoff.next_steps.map((n: string) => `\n  next: ${n}`).join("")}`
        : (b.handoffs.map((h: any) => `${h.created_at} ${h.id} ${h.summary}${h.next_steps.map((n: string) => `\n  next: ${n}`).join("")}`).join("\n") ||
            "no handoffs") + nextPageHintFor(b, "handoff", a),
  },
  ackCommand("worker"),
  ackCommand("manager"),
  {
    name: "record-decision",
    group: GROUP,
    summary: "Record a manager decision and print its id (wait|nudge|interrupt|escalate|stop|inspect)",
    positionals: [
      { name: "TASK", required: true, description: "Task name" },
      { name: "DECISION", required: false, description: "wait|nudge|interrupt|escalate|stop|inspect (omit with --list)" },
    ],
    options: {
      reason: { type: "string", value: "TEXT", description: "Why (required)" },
      "cycle-id": { type: "string", value: "N", description: "The cycle the decision was made on" },
      "payload-json": { type: "string", value: "JSON", description: "Extra detail as a JSON object" },
      list: { type: "boolean", description: "List decisions, newest first" },
      ...pageOptions,
    },
    examples: ['switchyard record-decision auth nudge --reason "Worker idle with failing tests" --cycle-id 17'],
    request: (a) => {
      const task = enc(pos(a, 0)!);
      if (flag(a, "list")) return { method: "GET", path: `/tasks/${task}/decisions`, query: pageQuery(a) };
      const decision = pos(a, 1);
      if (!decision) throw new UsageError("missing argument DECISION");
      const reason = req(a, "reason");
      return {
        method: "POST",
        path: `/tasks/${task}/decisions`,
        body: { decision, reason, cycle_id: int(a, "cycle-id", { min: 1 }), payload: jsonOption(a, "payload-json") },
      };
    },
    render: (b, a) =>
      b.decision_id !== undefined
        ? `decision ${b.decision_id}: ${b.decision.decision} (${b.decision.reason})`
        : (b.decisions.map((d: any) => `#${d.id} ${d.created_at} ${d.decision.padEnd(9)} ${d.reason}`).join("\n") || "no decisions") +
          nextPageHintFor(b, "record-decision", a),
  },
  {
    name: "mutation-audit",
    group: GROUP,
    summary: "A task's supervision chain: decisions, config and ledger changes, and what followed",
    positionals: [TASK_ARG],
    options: { "include-content": { type: "boolean", description: "Show content fields unredacted" }, ...pageOptions },
    request: (a) => ({
      method: "GET",
      path: `/tasks/${enc(pos(a, 0)!)}/mutation-audit`,
      query: { include_content: flag(a, "include-content"), ...pageQuery(a) },
    }),
    render: (b, a) =>
      [...b.entries.map((e: any) => `${e.created_at} ${e.kind.padEnd(28)} ${e.actor}${e.decision_id ? ` decision=${e.decision_id}` : ""}`)].join("\n") +
        nextPageHintFor(b, "mutation-audit", a) || `no supervision entries for ${b.task}`,
  },
  compactCommand("request-worker-compact"),
  compactCommand("compact-worker"),
  {
    name: "stop-task",
    group: GROUP,
    summary: "Force-stop a task's manager (and optionally its worker), ending the binding; the task stays active",
    positionals: [TASK_ARG],
    options: {
      reason: { type: "string", value: "TEXT", description: "Why (required; audited)" },
      "stop-worker": { type: "boolean", description: "Stop the worker too" },
      "capture-transcript-before-stop": { type: "boolean", description: "Capture each session first; a failed capture stops nothing" },
    },
    request: (a) => {
      const reason = req(a, "reason");
      return {
        method: "POST",
        path: `/tasks/${enc(pos(a, 0)!)}/stop`,
        body: { reason, stop_worker: flag(a, "stop-worker"), capture_transcript_before_stop: flag(a, "capture-transcript-before-stop") },
      };
    },
    render: (b) =>
      [
        `stopped task ${b.task} (binding ${b.binding_id} ended)`,
        ...b.stopped.map((s: any) => `stopped ${s.session}`),
        ...b.stop_errors.map((e: any) => `could not stop ${e.session}: ${e.error}`),
      ].join("\n"),
  },
  {
    name: "epilogue",
    group: GROUP,
    summary: "Run a configured post-completion step, or list them",
    positionals: [TASK_ARG],
    options: {
      step: { type: "string", choices: EPILOGUE_STEPS, description: "The step to run" },
      "evidence-json": { type: "string", value: "JSON", description: 'What the step needs, e.g. {"tools":{"npm test":"pass"}} or {"pr_url":"..."}' },
      "correlation-id": { type: "string", value: "ID", description: "Links the run to a completion turn" },
      list: { type: "boolean", description: "List the steps and their latest runs" },
      status: { type: "boolean", description: "Same as --list" },
    },
    examples: ["switchyard epilogue auth --step record-handoff", 'switchyard epilogue auth --step run-tools --evidence-json \'{"tools":{"npm test":"pass"}}\''],
    local: (a, g) => {
      const task = enc(pos(a, 0)!);
      const step = str(a, "step");
      if (!step || flag(a, "list") || flag(a, "status")) {
        return verdictCall(
          g,
          { method: "GET", path: `/tasks/${task}/epilogues` },
          (b) =>
            b.steps
              .map(
                (s: any) =>
                  `${s.step.padEnd(16)} ${s.configured ? "configured" : "-".padEnd(10)} ${s.latest ? `${s.latest.state}${s.latest.error ? ` (${s.latest.error})` : ""}` : "not run"}`,
              )
              .join("\n"),
          () => true,
        );
      }
      return verdictCall(
        g,
        {
          method: "POST",
          path: `/tasks/${task}/epilogues/${enc(step)}`,
          body: { evidence: jsonOption(a, "evidence-json"), correlation_id: str(a, "correlation-id") },
        },
        (b) => `${b.run.step}: ${b.run.state}${b.run.error ? ` (${b.run.error})` : ""} [run ${b.run.id}]`,
        (b) => b.succeeded,
      );
    },
  },
  {
    name: "continuation",
    group: GROUP,
    summary: "Worker-first 'what's next' proposals and their review: --submit, --review, --list",
    positionals: [TASK_ARG],
    options: {
      submit: { type: "string", choices: CONTINUATION_ROLES, description: "Submit this role's proposal (the worker's first)" },
      review: { type: "boolean", description: "Record a review (JSON: verdict, rationale, subagent_run)" },
      list: { type: "boolean", description: "List proposals and reviews (the default)" },
      "correlation-id": { type: "string", value: "ID", description: "The completion turn (required for --submit and --review)" },
      "payload-json": { type: "string", value: "JSON", description: "The proposal or review as a JSON object" },
      "from-stdin": { type: "boolean", description: "Read the JSON object from stdin" },
      "as-role": { type: "string", choices: ["all", ...SESSION_ROLES, "reviewer"], description: "--list: read as this role (the owner only)" },
      "include-payload": { type: "boolean", description: "--list: include payloads (still redacted by role)" },
      ...pageOptions,
    },
    examples: [
      'switchyard continuation auth --submit worker --correlation-id turn-3 --payload-json \'{"next":"add metrics"}\'',
      "switchyard continuation auth --list --as-role manager --include-payload",
    ],
    request: (a) => {
      const task = enc(pos(a, 0)!);
      const role = str(a, "submit");
      const cid = str(a, "correlation-id");
      if (role !== undefined || flag(a, "review")) {
        if (!cid) throw new UsageError("--correlation-id is required");
        const payload = payloadInput(a);
        if (!payload) throw new UsageError("pass the JSON with --payload-json or --from-stdin");
        if (role !== undefined) return { method: "POST", path: `/tasks/${task}/continuations/${enc(role)}`, body: { correlation_id: cid, payload } };
        return { method: "POST", path: `/tasks/${task}/continuations/${enc(cid)}/review`, body: payload };
      }
      return {
        method: "GET",
        path: `/tasks/${task}/continuations`,
        query: { as_role: str(a, "as-role"), include_payload: flag(a, "include-payload"), correlation_id: cid, ...pageQuery(a) },
      };
    },
    render: (b, a) => {
      if (b.continuation) return `recorded ${b.continuation.role} proposal for ${b.continuation.correlation_id}`;
      if (b.review)
        return `recorded review of ${b.review.correlation_id}: ${b.review.verdict}${b.review.operator_attention ? " (needs operator attention)" : ""}`;
      return (
        ([
          ...b.proposals.map(
            (p: any) =>
              `${p.correlation_id} ${p.role.padEnd(8)} ${p.redacted ? "[redacted]" : p.payload ? JSON.stringify(p.payload) : "(payload not requested)"}`,
          ),
          ...b.reviews.map((r: any) => `${r.correlation_id} review   ${r.verdict}${r.error ? ` (${r.error})` : ""}`),
        ].join("\n") || "no continuations") + nextPageHintFor(b, "continuation", a)
      );
    },
  },
  {
    name: "continuation-reviewer",
    group: GROUP,
    summary: "Run a reviewer command over a turn's proposals (context on stdin, temp cwd, stripped env, timeout) and record its verdict",
    positionals: [TASK_ARG],
    options: {
      "correlation-id": { type: "string", value: "ID", description: "The completion turn (required)" },
      "reviewer-session-id": { type: "string", value: "ID", description: "Who reviews; must differ from the manager (required)" },
      "manager-session-id": { type: "string", value: "ID", description: "The manager the reviewer is separated from" },
      "reviewer-command": {
        type: "string",
        value: "CMD",
        description: 'A JSON array of argv (e.g. ["python3","review.py"]) or one executable path (required)',
      },
      "timeout-seconds": { type: "string", value: "N", description: "Kill the reviewer after N seconds (default 120)" },
      "dry-run": { type: "boolean", description: "Print the context the reviewer would get; run and record nothing" },
    },
    examples: [`switchyard continuation-reviewer auth --correlation-id turn-3 --reviewer-session-id rev-1 --reviewer-command '["python3","review.py"]'`],
    local: async (a, g) => {
      const task = enc(pos(a, 0)!);
      const cid = req(a, "correlation-id");
      const context = await callOnce(g, { method: "GET", path: `/tasks/${task}/continuations/${enc(cid)}/reviewer-context` });
      if (flag(a, "dry-run") || context.status !== 200) {
        printAnswer(g, context, (b) => JSON.stringify(b, null, 2));
        return context.status === 200 ? 0 : 1;
      }
      const reviewer = req(a, "reviewer-session-id");
      const argv = reviewerArgv(req(a, "reviewer-command"));
      const timeoutMs = (int(a, "timeout-seconds", { min: 1 }) ?? 120) * 1000;
      const started = Date.now();
      let verdict: "proceed" | "revise" | "stop" = "stop";
      let rationale: string | undefined;
      let error: string | undefined;
      let extra: Record<string, unknown> = {};
      try {
        // The same isolation as an external drafter: temp cwd and HOME, env stripped to PATH and a locale.
        const out = await new ExternalDrafter(argv, timeoutMs).run(JSON.stringify(context.body));
        let parsed: any;
        try {
          parsed = JSON.parse(out);
        } catch {
          throw new Error("printed invalid JSON");
        }
        if (!parsed || !["proceed", "revise", "stop"].includes(parsed.verdict))
          throw new Error('printed JSON without a verdict of "proceed", "revise" or "stop"');
        verdict = parsed.verdict;
        rationale = typeof parsed.rationale === "string" ? parsed.rationale : undefined;
        const { verdict: _v, rationale: _r, ...rest } = parsed;
        extra = rest;
      } catch (e) {
        // A reviewer that fails, times out or answers nonsense is a stop, never a silent approval.
        error = `reviewer ${(e as Error).message}`;
        verdict = "stop";
      }
      const res = await callOnce(g, {
        method: "POST",
        path: `/tasks/${task}/continuations/${enc(cid)}/review`,
        body: {
          verdict,
          rationale,
          error,
          payload: extra,
          subagent_run: {
            reviewer_session_id: reviewer,
            manager_session_id: str(a, "manager-session-id"),
            manager_rollout_access: false,
            command: argv,
            isolated_cwd: true,
            stripped_env: true,
            timeout_ms: timeoutMs,
            duration_ms: Date.now() - started,
          },
        },
      });
      printAnswer(
        g,
        res,
        (b) =>
          `review of ${cid}: ${b.review.verdict}${b.review.error ? ` (${b.review.error})` : ""}${b.review.operator_attention ? ", needs operator attention" : ""}`,
      );
      return res.status === 201 && res.body.review.verdict === "proceed" ? 0 : 1;
    },
  },
];
