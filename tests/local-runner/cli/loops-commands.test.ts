import { describe, expect, it } from "vitest";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "../../../local-runner/cli/main.ts";
import { cliSandbox } from "../../helpers/cli.ts";

const sb = cliSandbox("loops-cli");
const cli = sb.cli;

async function pair() {
  await cli("register-worker", "--name", "w1");
  await cli("register-manager", "--name", "m1");
  await cli("tasks", "--create", "feat");
  await cli("bind", "--task", "feat", "--worker", "w1", "--manager", "m1");
}

describe("loop commands", () => {
  it("runs a Ralph loop from preset to delivered pass through the CLI", async () => {
    await pair();
    expect((await cli("loop-templates", "--list")).out).toContain("visual_diff_loop: ");
    expect((await cli("ralph-loop-presets", "--show", "pr_ci_merge_loop")).out).toContain(
      "required before continue: pr_url, ci_green, merge, adversarial_check",
    );
    const created = await cli("ralph-loop-presets", "--create-run", "feat", "--preset", "adversarial_ralph_loop", "--max-iterations", "2");
    expect(created.out).toMatch(/^created loop run (lrun_\S+) \(adversarial_ralph_loop\) for feat: iteration 1 of 2, requires adversarial_check$/);
    const run = /lrun_\S+/.exec(created.out)![0];
    expect((await cli("enqueue-continue-iteration", "feat", "--loop-run", run, "--requested-iteration", "2")).out).toContain("queued continue_iteration");
    await cli("dispatch", "--once");
    const blocked = await cli("loop-status", "feat", "--run", run);
    expect(blocked.out).toContain("refused: 1");
    expect(blocked.out).toContain("missing adversarial_check");
    const adv = await cli(
      "loop-evidence",
      "adversarial-check",
      "feat",
      "--loop-run",
      run,
      "--iteration",
      "1",
      "--failure-mode",
      "f",
      "--check",
      "c",
      "--result",
      "r",
    );
    expect(adv.out).toBe("recorded adversarial_check (satisfied) for iteration 1; evidence complete");
    await cli("enqueue-continue-iteration", "feat", "--loop-run", run, "--requested-iteration", "2", "--idempotency-key", "second");
    await cli("dispatch", "--once");
    const item = JSON.parse((await cli("worker-inbox", "feat", "--consume-next", "--json")).out).item;
    expect(item.payload.loop_policy).toMatchObject({ run_id: run, current_iteration: 2 });
    expect((await cli("loop-status", "feat")).out).toContain(`${run} adversarial_ralph_loop`);
    // The run list pages like every list; a single run's status does not.
    const page = await cli("loop-status", "feat", "--limit", "1");
    expect(page.out).toContain(`${run} adversarial_ralph_loop`);
    expect((await cli("loop-status", "feat", "--run", run, "--limit", "1")).code).toBe(EXIT_USAGE);
    expect((await cli("loop-status", "feat", "--limit", "0")).code).toBe(EXIT_USAGE);
    expect(
      (await cli("loop-evidence", "add", "feat", "--loop-run", run, "--iteration", "2", "--evidence-type", "adversarial_check", "--payload-json", "{}")).code,
    ).toBe(EXIT_FAILED);
    expect((await cli("loop-evidence", "add", "feat", "--loop-run", run, "--evidence-type", "x")).code).toBe(EXIT_USAGE);
    expect((await cli("enqueue-continue-iteration", "feat", "--loop-run", run, "--requested-iteration", "2")).code).toBe(EXIT_FAILED);
  });

  it("classifies prompts and prints QA plans", async () => {
    expect((await cli("loop-triggers", "--classify", "be careful and run tests")).out).toBe("no loop trigger matched: nothing is armed");
    const gated = await cli("loop-triggers", "--classify", "Run this as an adversarially gated Ralph loop.");
    expect(gated.out).toContain("arms: ralph_loop_policy, adversarial_before_continue");
    expect((await cli("loop-triggers", "--list")).out).toContain("adversarial_ralph_loop");
    const plan = await cli("qa-plan", "ralph-loop");
    expect(plan.code).toBe(EXIT_OK);
    expect(plan.out).toContain("Deterministic harness: switchyard qa-run ralph-loop-guardrails");
    expect((await cli("qa-plan")).out).toContain("emergent-criteria");
    expect((await cli("qa-plan", "nope")).code).toBe(EXIT_FAILED);
  });
});

describe("pair --dry-run and create-disposable-binding", () => {
  it("prints the pair plan without starting anything", async () => {
    const r = await cli(
      "pair",
      "--task",
      "auth",
      "--task-goal",
      "split",
      "--worker-name",
      "w9",
      "--manager-name",
      "m9",
      "--manager-acceptance",
      "tests pass",
      "--manager-permit",
      "repo.open_pr",
      "--dry-run",
    );
    expect(r.code).toBe(EXIT_OK);
    expect(r.out).toContain("dry run: would pair task auth (would create it)");
    expect(r.out).toContain("grants repo.open_pr");
    expect(r.out).toContain("would seed criterion: tests pass");
    expect(r.out).toContain("dispatcher dispatch-local: not running (would start)");
    expect((await cli("tasks", "--json")).out).not.toContain('"auth"');
    expect((await cli("pair", "--task", "auth", "--worker-name", "w9", "--manager-name", "m9", "--dry-run")).code).toBe(EXIT_FAILED);
  });

  it("creates a disposable no-tmux pair with a loop run", async () => {
    const r = await cli("create-disposable-binding", "ctl", "--template", "build_then_clear");
    expect(r.code).toBe(EXIT_OK);
    expect(r.out).toContain("bound ctl-worker (worker) and ctl-manager (manager) to ctl (created); both pull_required");
    expect(r.out).toMatch(/loop run lrun_\S+ \(build_then_clear\): requires build_passed, cleanup/);
    expect(r.out).toContain("worker handoff:");
    expect((await cli("create-disposable-binding", "x", "--template", "a", "--required-before-continue", "b")).code).toBe(EXIT_USAGE);
  });
});
