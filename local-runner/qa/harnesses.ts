import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { comparePngs, writeTestPng } from "../visual-diff.ts";
import { type HarnessEnv, type QaReceipt, runHarness } from "./harness.ts";
import type { QaHarnessName } from "./names.ts";

const ADVERSARIAL = {
  failure_mode: "the next pass repeats work the previous one already merged",
  check: "compared the iteration's receipts with the previous iteration's",
  result: "no overlap; the pass starts from the recorded handoff",
};

type Bound = Awaited<ReturnType<HarnessEnv["boundTask"]>>;

/** Queues pass `n` of a run and dispatches once; returns what happened to that command. */
async function requestPass(env: HarnessEnv, t: Bound, run: string, n: number, key: string) {
  const queued = await env.must(
    201,
    "POST",
    `/tasks/${t.task}/loop-runs/${run}/continue`,
    { requested_iteration: n, idempotency_key: `${t.task}-${key}` },
    t.manager.token,
  );
  await env.dispatch();
  const cmds = await env.must(200, "GET", `/commands?task=${t.task}&type=continue_iteration`);
  const cmd = cmds.commands.find((c: any) => c.id === queued.command_id);
  return { state: cmd.state as string, receipt: (cmd.result?.policy_receipt ?? null) as Record<string, any> | null, error: cmd.error as string | null };
}

/** Consumes the worker's next inbox item as the worker would (polling). */
async function workerItem(env: HarnessEnv, t: Bound) {
  return (await env.must(200, "POST", `/tasks/${t.task}/worker-inbox/consume`, {}, t.worker.token)).item as Record<string, any> | null;
}

async function evidence(env: HarnessEnv, t: Bound, run: string, iteration: number, type: string, payload: Record<string, unknown>, status = "satisfied") {
  return env.call("POST", `/tasks/${t.task}/loop-runs/${run}/evidence`, { iteration, evidence_type: type, payload, status }, t.worker.token);
}

async function createRun(env: HarnessEnv, t: Bound, body: Record<string, unknown>): Promise<string> {
  return (await env.must(201, "POST", `/tasks/${t.task}/loop-runs`, body, t.manager.token)).run.id;
}

/** Max-iteration cutoff, missing-evidence cutoff, delivery after structured proof, and the pr_ci_merge_loop gate. */
async function ralphLoopGuardrails(env: HarnessEnv) {
  const t = await env.boundTask("qa-ralph");
  const run = await createRun(env, t, { template: "adversarial_ralph_loop", max_iterations: 2 });
  const missing = await requestPass(env, t, run, 2, "missing");
  env.check("missing evidence blocks the next pass", missing.state === "failed" && missing.receipt?.reason === "missing_evidence", { ...missing });
  env.check("nothing reached the worker while blocked", (await workerItem(env, t)) === null);
  const loose = await evidence(env, t, run, 1, "adversarial_check", { result: "looked fine" });
  env.check("unstructured adversarial evidence is refused", loose.status === 400, { status: loose.status, error: loose.body?.error?.message });
  await evidence(env, t, run, 1, "adversarial_check", ADVERSARIAL);
  const retry = await requestPass(env, t, run, 2, "retry");
  const item = await workerItem(env, t);
  env.check(
    "a fresh retry is delivered after structured adversarial_check evidence",
    retry.state === "succeeded" && item?.payload?.loop_policy?.current_iteration === 2,
    {
      state: retry.state,
      loop_policy: item?.payload?.loop_policy ?? null,
    },
  );
  await evidence(env, t, run, 2, "adversarial_check", ADVERSARIAL);
  const over = await requestPass(env, t, run, 3, "over");
  env.check("max_iterations cuts the loop off even with evidence", over.state === "failed" && over.receipt?.reason === "max_iterations", { ...over });

  const p = await env.boundTask("qa-pr-ci");
  const prRun = await createRun(env, p, { template: "pr_ci_merge_loop" });
  await evidence(env, p, prRun, 1, "pr_url", { url: "https://example.test/pr/1" });
  await evidence(env, p, prRun, 1, "adversarial_check", ADVERSARIAL);
  const partial = await requestPass(env, p, prRun, 2, "partial");
  env.check(
    "pr_ci_merge_loop blocks without ci_green and merge",
    partial.receipt?.reason === "missing_evidence" && JSON.stringify(partial.receipt?.missing_evidence) === '["ci_green","merge"]',
    {
      ...partial,
    },
  );
  await evidence(env, p, prRun, 1, "ci_green", { run: "ci-1" });
  await evidence(env, p, prRun, 1, "merge", { commit: "abc1234" });
  const full = await requestPass(env, p, prRun, 2, "full");
  env.check("pr_ci_merge_loop delivers once pr_url, ci_green, merge and adversarial_check exist", full.state === "succeeded", { ...full });
  env.artifacts.loop_status = await env.must(200, "GET", `/tasks/${t.task}/loop-runs/${run}/status`);
}

/** Renders the visual receipts for an iteration from two PNGs and records them. */
async function visualReceipts(env: HarnessEnv, t: Bound, run: string, reference: string, candidate: string, dir: string, extra: Record<string, unknown> = {}) {
  const report = comparePngs(reference, candidate, { threshold: 0.02, diffPath: join(dir, "diff.png") });
  writeFileSync(join(dir, "visual-diff.json"), JSON.stringify(report, null, 2));
  await evidence(env, t, run, 1, "reference_artifact", { path: reference });
  await evidence(env, t, run, 1, "candidate_screenshot", { path: candidate, ...extra });
  await evidence(env, t, run, 1, "visual_diff_report", { ...report, report_path: join(dir, "visual-diff.json") });
  await evidence(env, t, run, 1, "diff_below_threshold", { ...report }, report.below_threshold ? "satisfied" : "failed");
  return report;
}

/** The visual_diff_loop gate: blocked before visual evidence, refuses loose proof, delivers after all receipts. */
async function genericLoopTemplate(
  env: HarnessEnv,
  render?: (dir: string) => Promise<{ reference: string; candidate: string; extra: Record<string, unknown> }>,
) {
  const t = await env.boundTask(render ? "qa-visual-browser" : "qa-visual");
  const run = await createRun(env, t, { template: "visual_diff_loop" });
  const before = await requestPass(env, t, run, 2, "before");
  env.check(
    "visual_diff_loop blocks before any visual evidence",
    before.receipt?.reason === "missing_evidence" && (before.receipt?.missing_evidence ?? []).length === 5,
    { ...before },
  );
  const loose = await evidence(env, t, run, 1, "adversarial_check", { note: "it looks right" });
  env.check("unstructured adversarial evidence is refused", loose.status === 400, { status: loose.status });
  const dir = mkdtempSync(join(tmpdir(), "switchyard-qa-visual-"));
  let reference: string;
  let candidate: string;
  let extra: Record<string, unknown> = {};
  if (render) ({ reference, candidate, extra } = await render(dir));
  else {
    reference = join(dir, "reference.png");
    candidate = join(dir, "candidate.png");
    writeTestPng(reference, 120, 80, [250, 250, 250], { x: 10, y: 10, w: 40, h: 20, color: [30, 90, 200] });
    writeTestPng(candidate, 120, 80, [250, 250, 250], { x: 10, y: 10, w: 41, h: 20, color: [30, 90, 200] });
  }
  const report = await visualReceipts(env, t, run, reference, candidate, dir, extra);
  env.artifacts.visual_diff = report;
  env.artifacts.render = { reference, candidate, ...extra };
  const noProof = await requestPass(env, t, run, 2, "no-proof");
  env.check("visual receipts alone are not enough without adversarial proof", JSON.stringify(noProof.receipt?.missing_evidence) === '["adversarial_check"]', {
    ...noProof,
  });
  await evidence(env, t, run, 1, "adversarial_check", {
    failure_mode: "the candidate drifts from the reference outside the compared viewport",
    check: "compared full-viewport screenshots pixel by pixel",
    result: `score ${report.score} within threshold ${report.threshold}`,
  });
  const done = await requestPass(env, t, run, 2, "done");
  const item = await workerItem(env, t);
  env.check(
    "the next visual pass is delivered after every receipt",
    done.state === "succeeded" && item?.payload?.loop_policy?.template === "visual_diff_loop",
    {
      state: done.state,
      below_threshold: report.below_threshold,
    },
  );
  env.check("the candidate is within the threshold", report.below_threshold, { score: report.score });
}

/** Renders a static page in real Chromium (playwright-core) for the browser-backed visual gate. */
async function browserRender(dir: string) {
  const { chromium } = await import("playwright-core");
  const executablePath = process.env.SWITCHYARD_CHROMIUM ?? "/usr/bin/chromium";
  let browser;
  try {
    browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-gpu"] });
  } catch (e) {
    throw new Error(
      `the browser-backed QA harness needs a launchable Chromium at ${executablePath} (set SWITCHYARD_CHROMIUM, or apt-get install chromium): ${(e as Error).message.split("\n")[0]}`,
    );
  }
  const viewport = { width: 320, height: 200 };
  const page = (label: string) =>
    `<!doctype html><html><body style="margin:0;background:#fafafa;font:16px sans-serif"><div style="margin:20px;width:200px;height:60px;background:#1e5ac8;color:#fff">${label}</div></body></html>`;
  try {
    const shot = async (html: string, file: string) => {
      const p = await browser.newPage({ viewport });
      await p.setContent(html);
      await p.screenshot({ path: file });
      await p.close();
      return file;
    };
    const candidateHtml = page("Checkout");
    writeFileSync(join(dir, "candidate.html"), candidateHtml);
    const reference = await shot(page("Checkout"), join(dir, "reference.png"));
    const candidate = await shot(candidateHtml, join(dir, "candidate.png"));
    return { reference, candidate, extra: { browser_backend: "chromium", chromium: browser.version(), viewport, candidate_html: join(dir, "candidate.html") } };
  } finally {
    await browser.close();
  }
}

/** test_coverage_loop: blocked before coverage, refuses malformed proof, delivers after a coverage receipt plus proof. */
async function testCoverageLoop(env: HarnessEnv) {
  const t = await env.boundTask("qa-coverage");
  const run = await createRun(env, t, { template: "test_coverage_loop" });
  const before = await requestPass(env, t, run, 2, "before");
  env.check("test_coverage_loop blocks before coverage evidence", (before.receipt?.missing_evidence ?? []).includes("coverage_report"), { ...before });
  const badCoverage = await evidence(env, t, run, 1, "coverage_report", { note: "coverage went up" });
  env.check("a coverage receipt without coverage_percent and command is refused", badCoverage.status === 400, { status: badCoverage.status });
  const badProof = await evidence(env, t, run, 1, "adversarial_check", { failure_mode: "untested branch", check: "" });
  env.check("malformed adversarial evidence is refused", badProof.status === 400, { status: badProof.status });
  await evidence(env, t, run, 1, "coverage_report", { coverage_percent: 82.4, command: "npm test -- --coverage" });
  const coverageOnly = await requestPass(env, t, run, 2, "coverage-only");
  env.check("coverage alone is not enough without adversarial proof", JSON.stringify(coverageOnly.receipt?.missing_evidence) === '["adversarial_check"]', {
    ...coverageOnly,
  });
  await evidence(env, t, run, 1, "adversarial_check", {
    failure_mode: "coverage rose while the error path stayed untested",
    check: "read the coverage report for the error branch",
    result: "error branch covered",
  });
  const done = await requestPass(env, t, run, 2, "done");
  env.check("the next pass is delivered after the coverage receipt and proof", done.state === "succeeded", { ...done });
}

/** build_then_clear: blocked before build and cleanup, still blocked after build alone, delivered after both. */
async function buildClearLoop(env: HarnessEnv) {
  const t = await env.boundTask("qa-build-clear");
  const run = await createRun(env, t, { template: "build_then_clear" });
  const before = await requestPass(env, t, run, 2, "before");
  env.check("build_then_clear blocks before build_passed and cleanup", JSON.stringify(before.receipt?.missing_evidence) === '["build_passed","cleanup"]', {
    ...before,
  });
  await evidence(env, t, run, 1, "build_passed", { command: "npm run build" });
  const buildOnly = await requestPass(env, t, run, 2, "build-only");
  env.check("build evidence alone still blocks", JSON.stringify(buildOnly.receipt?.missing_evidence) === '["cleanup"]', { ...buildOnly });
  await evidence(env, t, run, 1, "cleanup", { action: "worker context cleared" });
  const done = await requestPass(env, t, run, 2, "done");
  env.check("the next pass is delivered after build and cleanup evidence", done.state === "succeeded", { ...done });
}

/** The controlled triggers arm exactly their gates; generic caution arms nothing. */
async function adversarialTriggers(env: HarnessEnv) {
  const cases: Array<{ prompt: string; expect: Record<string, boolean> }> = [
    { prompt: "Be careful and run tests.", expect: {} },
    { prompt: "Please be thorough and double-check the edge cases.", expect: {} },
    { prompt: "Run this as an adversarially gated Ralph loop.", expect: { ralph_loop_policy: true, adversarial_before_continue: true } },
    { prompt: "Set up a Ralph loop for issue 42.", expect: { ralph_loop_policy: true } },
    { prompt: "Require adversarial proof before another worker iteration.", expect: { adversarial_before_continue: true } },
    { prompt: "Require adversarial proof before finishing.", expect: { adversarial_proof_at_finish: true } },
    { prompt: "The worker must try to disprove the change before handing off.", expect: { worker_adversarial_proof: true } },
  ];
  for (const c of cases) {
    const r = await env.must(200, "POST", "/loop-triggers/classify", { prompt: c.prompt });
    const armed = Object.entries(r.arms as Record<string, boolean>)
      .filter(([, v]) => v)
      .map(([k]) => k)
      .sort();
    const want = Object.keys(c.expect).sort();
    env.check(`"${c.prompt}" arms ${want.join(", ") || "nothing"}`, JSON.stringify(armed) === JSON.stringify(want), { armed, triggers: r.triggers });
  }
}

/** The deterministic no-tmux QA harnesses, by name. */
export const QA_HARNESSES: Record<QaHarnessName, (opts: { home?: string }) => Promise<QaReceipt>> = {
  "ralph-loop-guardrails": (o) => runHarness("ralph-loop-guardrails", ralphLoopGuardrails, o),
  "generic-loop-template": (o) => runHarness("generic-loop-template", (env) => genericLoopTemplate(env), o),
  "generic-loop-template-browser": (o) => runHarness("generic-loop-template-browser", (env) => genericLoopTemplate(env, browserRender), o),
  "test-coverage-loop": (o) => runHarness("test-coverage-loop", testCoverageLoop, o),
  "adversarial-triggers": (o) => runHarness("adversarial-triggers", adversarialTriggers, o),
  "build-clear-loop": (o) => runHarness("build-clear-loop", buildClearLoop, o),
};
