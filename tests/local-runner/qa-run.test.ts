import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EXIT_OK, EXIT_USAGE } from "../../local-runner/cli/main.ts";
import { runHarness } from "../../local-runner/qa/harness.ts";
import { cliSandbox } from "../helpers/cli.ts";

/*
 * The deterministic QA harnesses run here, in CI, through the CLI, and their receipts are checked
 * for the expected verdict and checks. The browser harness drives the real Chromium.
 */

const sb = cliSandbox("qa-run");

async function qaRun(name: string) {
  const receiptPath = join(sb.home, "..", `${name}.json`);
  const r = await sb.cli("qa-run", name, "--receipt-output", receiptPath);
  const receipt = JSON.parse(readFileSync(receiptPath, "utf8"));
  return { ...r, receipt };
}

const EXPECTED: Record<string, string[]> = {
  "ralph-loop-guardrails": [
    "missing evidence blocks the next pass",
    "nothing reached the worker while blocked",
    "unstructured adversarial evidence is refused",
    "a fresh retry is delivered after structured adversarial_check evidence",
    "max_iterations cuts the loop off even with evidence",
    "pr_ci_merge_loop blocks without ci_green and merge",
    "pr_ci_merge_loop delivers once pr_url, ci_green, merge and adversarial_check exist",
  ],
  "generic-loop-template": [
    "visual_diff_loop blocks before any visual evidence",
    "unstructured adversarial evidence is refused",
    "visual receipts alone are not enough without adversarial proof",
    "the next visual pass is delivered after every receipt",
    "the candidate is within the threshold",
  ],
  "test-coverage-loop": [
    "test_coverage_loop blocks before coverage evidence",
    "a coverage receipt without coverage_percent and command is refused",
    "malformed adversarial evidence is refused",
    "coverage alone is not enough without adversarial proof",
    "the next pass is delivered after the coverage receipt and proof",
  ],
  "build-clear-loop": [
    "build_then_clear blocks before build_passed and cleanup",
    "build evidence alone still blocks",
    "the next pass is delivered after build and cleanup evidence",
  ],
};

describe("qa-run harnesses", () => {
  for (const [name, checks] of Object.entries(EXPECTED)) {
    it(`${name} passes every check and writes its receipt`, async () => {
      const r = await qaRun(name);
      expect(r.receipt.error).toBeNull();
      expect(r.receipt.checks.map((c: any) => [c.name, c.passed])).toEqual(checks.map((c) => [c, true]));
      expect(r.receipt).toMatchObject({ harness: name, verdict: "pass", database: "disposable" });
      expect(r.code).toBe(EXIT_OK);
      expect(r.out).toContain(`${name}: PASS (${checks.length}/${checks.length} checks)`);
    }, 60_000);
  }

  it("adversarial-triggers arms nothing for generic caution", async () => {
    const r = await qaRun("adversarial-triggers");
    expect(r.receipt.verdict).toBe("pass");
    const caution = r.receipt.checks.find((c: any) => c.name.startsWith('"Be careful and run tests."'));
    expect(caution).toMatchObject({ passed: true, detail: { armed: [] } });
    expect(r.receipt.checks.length).toBeGreaterThanOrEqual(7);
  }, 60_000);

  it("generic-loop-template-browser renders the candidate in real Chromium and records the browser receipt", async () => {
    const r = await qaRun("generic-loop-template-browser");
    expect(r.receipt.error).toBeNull();
    expect(r.receipt.verdict).toBe("pass");
    expect(r.receipt.artifacts.render).toMatchObject({ browser_backend: "chromium", viewport: { width: 320, height: 200 } });
    expect(r.receipt.artifacts.render.chromium).toMatch(/^\d+\./);
    expect(r.receipt.artifacts.visual_diff).toMatchObject({ width: 320, height: 200, differing_pixels: 0 });
  }, 120_000);

  it("refuses an unknown harness, and a receipt with a failed check is a failing verdict", async () => {
    expect((await sb.cli("qa-run", "nope", "--receipt-output", "/dev/null")).code).toBe(EXIT_USAGE);
    const failed = await runHarness("probe", async (env) => {
      env.check("first", true);
      env.check("second", false, { why: "broken on purpose" });
    });
    expect(failed).toMatchObject({ verdict: "fail", error: null });
    const thrown = await runHarness("probe", async () => {
      throw new Error("boom");
    });
    expect(thrown).toMatchObject({ verdict: "fail", error: "boom" });
  });
});
