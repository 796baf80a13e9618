import { writeFileSync } from "node:fs";
import { LOOP_EVIDENCE_STATUSES } from "../../schema/enums.ts";
import { QA_HARNESS_NAMES, type QaHarnessName } from "../qa/names.ts";
import { callOnce, printAnswer } from "./api-call.ts";
import { nextPageHintFor, pageOptions, pageQuery } from "./paging.ts";
import { flag, int, jsonOption, list, pos, req, str, UsageError, TASK_ARG, type Args, type CommandSpec, type OptionSpec } from "./spec.ts";

const enc = encodeURIComponent;
const GROUP = "loops";

function renderTemplate(t: any): string {
  return [
    `${t.name}: ${t.description}`,
    `  max iterations: ${t.max_iterations}   cleanup: ${t.cleanup_policy}`,
    `  required before continue: ${t.required_before_continue.join(", ")}`,
    ...Object.entries(t.artifact_requirements).map(([k, v]: [string, any]) => `  ${k} needs: ${v.required_fields.join(", ")}`),
  ].join("\n");
}

function loopTemplatesCommand(name: "loop-templates" | "ralph-loop-presets"): CommandSpec {
  const word = name === "loop-templates" ? "template" : "preset";
  return {
    name,
    group: GROUP,
    summary:
      name === "loop-templates"
        ? "List loop templates, show one, or create a template-backed loop run for a task"
        : "Ralph-loop presets (the same templates): --list, --show PRESET, --create-run TASK --preset PRESET",
    options: {
      list: { type: "boolean", description: "List them (the default)" },
      show: { type: "string", value: word.toUpperCase(), description: `Show one ${word}` },
      "create-run": { type: "string", value: "TASK", description: "Create a loop run for this task" },
      [word]: { type: "string", value: word.toUpperCase(), description: `--create-run: the ${word}` },
      "required-before-continue": { type: "string", multiple: true, value: "TYPE", description: "--create-run: custom required evidence" },
      adversarial: { type: "boolean", description: "--create-run: also require adversarial_check evidence" },
      "max-iterations": { type: "string", value: "N", description: "--create-run: override the template's bound" },
    },
    examples: [
      `switchyard ${name} --list`,
      `switchyard ${name} --create-run auth --${word} ${name === "loop-templates" ? "visual_diff_loop" : "pr_ci_merge_loop"}`,
    ],
    request: (a) => {
      const show = str(a, "show");
      if (show) return { method: "GET", path: `/loop-templates/${enc(show)}` };
      const task = str(a, "create-run");
      if (task) {
        const required = list(a, "required-before-continue");
        return {
          method: "POST",
          path: `/tasks/${enc(task)}/loop-runs`,
          body: {
            template: str(a, word),
            required_before_continue: required.length ? required : undefined,
            adversarial: flag(a, "adversarial"),
            max_iterations: int(a, "max-iterations", { min: 1 }),
          },
        };
      }
      return { method: "GET", path: "/loop-templates" };
    },
    render: (b) => {
      if (b.templates) return b.templates.map(renderTemplate).join("\n");
      if (b.run)
        return `created loop run ${b.run.id} (${b.run.template}) for ${b.run.task}: iteration 1 of ${b.run.max_iterations}, requires ${b.run.required_before_continue.join(", ")}`;
      return renderTemplate(b);
    },
  };
}

const loopRunOption: OptionSpec = { type: "string", value: "RUN", description: "The loop run (required)" };

const runOptions: Record<string, OptionSpec> = {
  "loop-run": loopRunOption,
  iteration: { type: "string", value: "N", description: "The iteration the evidence is for (required)" },
};

function evidenceRequest(a: Args, type: string, payload: Record<string, unknown>, status?: string) {
  const iteration = int(a, "iteration", { min: 1 });
  if (iteration === undefined) throw new UsageError("--iteration is required");
  return {
    method: "POST" as const,
    path: `/tasks/${enc(pos(a, 0)!)}/loop-runs/${enc(req(a, "loop-run"))}/evidence`,
    body: { iteration, evidence_type: type, payload, status },
  };
}

const renderEvidence = (b: any) =>
  `recorded ${b.evidence.evidence_type} (${b.evidence.status}) for iteration ${b.evidence.iteration}${b.missing_for_iteration.length ? `; still missing: ${b.missing_for_iteration.join(", ")}` : "; evidence complete"}`;

/** Loop commands: templates, runs, evidence, continue-iteration, status, triggers. */
export const LOOPS_COMMANDS: CommandSpec[] = [
  loopTemplatesCommand("loop-templates"),
  loopTemplatesCommand("ralph-loop-presets"),
  {
    name: "enqueue-continue-iteration",
    group: GROUP,
    summary: "Queue the next pass of a loop; the dispatcher delivers it only within max_iterations and with the required evidence",
    positionals: [TASK_ARG],
    options: {
      "loop-run": loopRunOption,
      "requested-iteration": { type: "string", value: "N", description: "The next iteration (required; current + 1)" },
      message: { type: "string", value: "TEXT", description: "What the worker should do in the pass" },
      "correlation-id": { type: "string", value: "ID", description: "Threads the pass with related records" },
      "idempotency-key": { type: "string", value: "K", description: "A retry with the same key returns the existing command" },
    },
    request: (a) => {
      const n = int(a, "requested-iteration", { min: 1 });
      if (n === undefined) throw new UsageError("--requested-iteration is required");
      return {
        method: "POST",
        path: `/tasks/${enc(pos(a, 0)!)}/loop-runs/${enc(req(a, "loop-run"))}/continue`,
        body: { requested_iteration: n, message: str(a, "message"), correlation_id: str(a, "correlation-id"), idempotency_key: str(a, "idempotency-key") },
      };
    },
    render: (b) =>
      `${b.created ? "queued" : "already queued"} continue_iteration ${b.command_id} (run ${b.loop_policy.run_id} at iteration ${b.loop_policy.current_iteration} of ${b.loop_policy.max_iterations})`,
  },
  {
    name: "loop-evidence add",
    group: GROUP,
    summary: "Record an evidence receipt for a loop iteration",
    positionals: [TASK_ARG],
    options: {
      ...runOptions,
      "evidence-type": { type: "string", value: "TYPE", description: "e.g. pr_url, ci_green, coverage_report (required)" },
      "payload-json": { type: "string", value: "JSON", description: "The receipt's fields (those the run requires for the type)" },
      status: { type: "string", choices: LOOP_EVIDENCE_STATUSES, description: "Default satisfied" },
    },
    request: (a) => evidenceRequest(a, req(a, "evidence-type"), jsonOption(a, "payload-json") ?? {}, str(a, "status")),
    render: renderEvidence,
  },
  {
    name: "loop-evidence adversarial-check",
    group: GROUP,
    summary: "Record structured adversarial proof for a loop iteration (failure mode, check, result)",
    positionals: [TASK_ARG],
    options: {
      ...runOptions,
      "failure-mode": { type: "string", value: "TEXT", description: "The strongest realistic way it could be wrong (required)" },
      check: { type: "string", value: "TEXT", description: "The command or inspection that tried it (required)" },
      result: { type: "string", value: "TEXT", description: "What happened (required)" },
    },
    request: (a) => evidenceRequest(a, "adversarial_check", { failure_mode: req(a, "failure-mode"), check: req(a, "check"), result: req(a, "result") }),
    render: renderEvidence,
  },
  {
    name: "loop-evidence visual-diff",
    group: GROUP,
    summary: "Compare two PNGs, write a report (and diff image), and record visual_diff_report plus diff_below_threshold",
    positionals: [TASK_ARG],
    options: {
      ...runOptions,
      reference: { type: "string", value: "PNG", description: "The reference image (required)" },
      candidate: { type: "string", value: "PNG", description: "The candidate screenshot (required)" },
      threshold: { type: "string", value: "SHARE", description: "Largest share of differing pixels that still matches, 0..1 (default 0.01)" },
      "report-output": { type: "string", value: "PATH", description: "Write the JSON report here" },
      "diff-output": { type: "string", value: "PATH", description: "Write the diff PNG here" },
    },
    examples: [
      "switchyard loop-evidence visual-diff qa --loop-run lrun_x --iteration 1 --reference ref.png --candidate cand.png --threshold 0.02 --report-output diff.json",
    ],
    local: async (a, g) => {
      const raw = str(a, "threshold") ?? "0.01";
      const threshold = Number(raw);
      if (!/^\d*\.?\d+$/.test(raw) || threshold > 1) throw new UsageError(`--threshold must be a number between 0 and 1, got '${raw}'`);
      // Loaded here, not at the top: the PNG codec is no part of every other command's start-up.
      const { comparePngs } = await import("../visual-diff.ts");
      let report;
      try {
        report = comparePngs(req(a, "reference"), req(a, "candidate"), { threshold, diffPath: str(a, "diff-output") });
      } catch (e) {
        if (e instanceof UsageError) throw e;
        process.stderr.write(`error: ${(e as Error).message}\n`);
        return 1;
      }
      const reportPath = str(a, "report-output") ?? null;
      if (reportPath) writeFileSync(reportPath, `${JSON.stringify(report, null, 2)}\n`);
      const receipt = { ...report, report_path: reportPath };
      const first = await callOnce(g, evidenceRequest(a, "visual_diff_report", receipt));
      if (first.status !== 201) {
        printAnswer(g, first, () => "");
        return 1;
      }
      // diff_below_threshold is satisfied only when the computed score is within the threshold.
      const second = await callOnce(g, evidenceRequest(a, "diff_below_threshold", receipt, report.below_threshold ? "satisfied" : "failed"));
      printAnswer(
        g,
        second.status === 201
          ? {
              status: 201,
              body: {
                report,
                visual_diff_report: first.body.evidence,
                diff_below_threshold: second.body.evidence,
                missing_for_iteration: second.body.missing_for_iteration,
              },
            }
          : second,
        (b) =>
          `score ${b.report.score} (${b.report.differing_pixels}/${b.report.total_pixels} pixels differ) ${b.report.below_threshold ? "within" : "ABOVE"} threshold ${b.report.threshold}; recorded visual_diff_report and diff_below_threshold (${b.diff_below_threshold.status})`,
      );
      return second.status === 201 && report.below_threshold ? 0 : 1;
    },
  },
  {
    name: "loop-status",
    group: GROUP,
    summary: "Summarize a loop run for review (iterations, refusals, deliveries, evidence, recommendation), or list runs",
    positionals: [TASK_ARG],
    options: { run: { type: "string", value: "RUN", description: "The loop run (omit to list the task's runs)" }, ...pageOptions },
    request: (a) => {
      const run = str(a, "run");
      if (run && (str(a, "limit") !== undefined || str(a, "cursor") !== undefined))
        throw new UsageError("--limit and --cursor page the list of runs; leave out --run");
      return run
        ? { method: "GET", path: `/tasks/${enc(pos(a, 0)!)}/loop-runs/${enc(run)}/status` }
        : { method: "GET", path: `/tasks/${enc(pos(a, 0)!)}/loop-runs`, query: pageQuery(a) };
    },
    render: (b, a) => {
      if (b.runs)
        return (
          (b.runs.map((r: any) => `${r.id} ${r.template.padEnd(22)} ${r.state} iteration ${r.current_iteration}/${r.max_iterations}`).join("\n") ||
            "no loop runs") + nextPageHintFor(b, "loop-status", a)
        );
      return [
        `${b.run.id} (${b.run.template}) on ${b.run.task}: iteration ${b.iterations.current} of ${b.iterations.max}, ${b.run.state}`,
        `commands: ${
          Object.entries(b.commands.by_state)
            .map(([k, v]) => `${v} ${k}`)
            .join(", ") || "none"
        }; refused: ${b.commands.refused.length}`,
        ...b.commands.refused.map(
          (r: any) => `  refused ${r.command_id}: ${r.reason}${r.missing_evidence ? ` (missing ${r.missing_evidence.join(", ")})` : ""}`,
        ),
        `deliveries: ${b.notifications.delivered} (${b.notifications.consumed} consumed); worker inbox backlog ${b.worker_inbox_backlog}`,
        `missing for iteration ${b.iterations.current}: ${b.missing_for_current_iteration.join(", ") || "nothing"}`,
        `next: ${b.recommendation}`,
      ].join("\n");
    },
  },
  {
    name: "loop-triggers",
    group: GROUP,
    summary: "List the controlled loop trigger phrases, or classify a prompt (generic caution arms nothing)",
    options: {
      list: { type: "boolean", description: "List the triggers (the default)" },
      classify: { type: "string", value: "PROMPT", description: "Classify this prompt" },
    },
    examples: ['switchyard loop-triggers --classify "Run this as an adversarially gated Ralph loop." --json'],
    request: (a) => {
      const prompt = str(a, "classify");
      return prompt !== undefined ? { method: "POST", path: "/loop-triggers/classify", body: { prompt } } : { method: "GET", path: "/loop-triggers" };
    },
    render: (b) =>
      b.triggers && !("matched" in b)
        ? b.triggers.map((t: any) => `${t.id.padEnd(30)} ${t.description}`).join("\n")
        : b.matched
          ? `matched: ${b.triggers.join(", ")}\narms: ${Object.entries(b.arms)
              .filter(([, v]) => v)
              .map(([k]) => k)
              .join(", ")}${b.suggested_commands.map((c: string) => `\nnext: ${c}`).join("")}`
          : "no loop trigger matched: nothing is armed",
  },
  {
    name: "qa-plan",
    group: GROUP,
    summary: "Print a repeatable manual QA checklist (qa-plan --list for the names)",
    positionals: [{ name: "NAME", required: false, description: "The plan" }],
    options: { list: { type: "boolean", description: "List the plans" } },
    request: (a) => (pos(a, 0) && !flag(a, "list") ? { method: "GET", path: `/qa-plans/${enc(pos(a, 0)!)}` } : { method: "GET", path: "/qa-plans" }),
    render: (b) =>
      b.plans
        ? b.plans.map((p: any) => `${p.name.padEnd(22)} ${p.goal}`).join("\n")
        : [
            `${b.name}: ${b.goal}`,
            ...b.steps.map((s: string, i: number) => `${i + 1}. ${s}`),
            "Pass bar:",
            ...b.pass_bar.map((s: string) => `- ${s}`),
            ...(b.harness ? [`Deterministic harness: switchyard qa-run ${b.harness} --receipt-output receipt.json`] : []),
          ].join("\n"),
  },
  {
    name: "qa-run",
    group: GROUP,
    // Needs no home: it works on a disposable database, or on text alone.
    home: "none",
    summary: "Run a deterministic no-tmux QA harness against a disposable database and save a JSON receipt",
    positionals: [{ name: "HARNESS", required: true, description: QA_HARNESS_NAMES.join(" | ") }],
    options: {
      "receipt-output": { type: "string", value: "PATH", description: "Write the receipt here (required)" },
      path: { type: "string", value: "DIR", description: "Run against this Switchyard home instead of a disposable one" },
    },
    examples: ["switchyard qa-run ralph-loop-guardrails --receipt-output /tmp/ralph-receipt.json --json"],
    local: async (a, g) => {
      const name = pos(a, 0)!;
      if (!(QA_HARNESS_NAMES as readonly string[]).includes(name)) throw new UsageError(`unknown harness '${name}'; one of ${QA_HARNESS_NAMES.join(", ")}`);
      // The harnesses run the whole app; only this command pays for loading it.
      const harness = (await import("../qa/harnesses.ts")).QA_HARNESSES[name as QaHarnessName];
      const out = req(a, "receipt-output");
      const receipt = await harness({ home: str(a, "path") });
      writeFileSync(out, `${JSON.stringify(receipt, null, 2)}\n`);
      if (g.json) process.stdout.write(`${JSON.stringify(receipt, null, 2)}\n`);
      else {
        const lines = [
          `${receipt.harness}: ${receipt.verdict.toUpperCase()} (${receipt.checks.filter((c) => c.passed).length}/${receipt.checks.length} checks)`,
          ...receipt.checks.map((c) => `  ${c.passed ? "ok  " : "FAIL"} ${c.name}`),
          ...(receipt.error ? [`  error: ${receipt.error}`] : []),
          `receipt: ${out}`,
        ];
        process.stdout.write(`${lines.join("\n")}\n`);
      }
      return receipt.verdict === "pass" ? 0 : 1;
    },
  },
  {
    name: "create-disposable-binding",
    group: GROUP,
    summary: "Create a no-tmux worker/manager pair bound to a task (app sessions polling their inboxes), optionally with a loop run",
    positionals: [{ name: "TASK", required: true, description: "Task name (created when missing)" }],
    options: {
      worker: { type: "string", value: "NAME", description: "Worker session name (default TASK-worker)" },
      manager: { type: "string", value: "NAME", description: "Manager session name (default TASK-manager)" },
      goal: { type: "string", value: "TEXT", description: "Goal when the task is created" },
      template: { type: "string", value: "TEMPLATE", description: "Create a template-backed loop run" },
      "required-before-continue": { type: "string", multiple: true, value: "TYPE", description: "Create a custom loop run requiring this evidence" },
      adversarial: { type: "boolean", description: "The loop run also requires adversarial_check" },
    },
    examples: ["switchyard create-disposable-binding ctl-loop --template adversarial_ralph_loop --json"],
    request: (a) => {
      if (str(a, "template") && list(a, "required-before-continue").length) throw new UsageError("pass --template or --required-before-continue, not both");
      return {
        method: "POST",
        path: `/tasks/${enc(pos(a, 0)!)}/disposable-binding`,
        body: {
          worker: str(a, "worker"),
          manager: str(a, "manager"),
          goal: str(a, "goal"),
          template: str(a, "template"),
          required_before_continue: list(a, "required-before-continue").length ? list(a, "required-before-continue") : undefined,
          adversarial: flag(a, "adversarial"),
        },
      };
    },
    render: (b) =>
      [
        `bound ${b.worker.session.name} (worker) and ${b.manager.session.name} (manager) to ${b.task}${b.task_created ? " (created)" : ""}; both ${b.worker.communication.delivery_mode}`,
        `worker token: ${b.worker.token}   (shown once)`,
        `manager token: ${b.manager.token}   (shown once)`,
        ...(b.loop_run ? [`loop run ${b.loop_run.id} (${b.loop_run.template}): requires ${b.loop_run.required_before_continue.join(", ")}`] : []),
        ...Object.entries(b.commands).map(([k, v]) => `${k}: ${v}`),
        "",
        "worker handoff:",
        b.worker_handoff,
      ].join("\n"),
  },
];
