import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EXIT_FAILED, EXIT_OK } from "../../local-runner/cli/main.ts";
import { comparePngs, writeTestPng } from "../../local-runner/visual-diff.ts";
import { cliSandbox } from "../helpers/cli.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sy-vdiff-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A 100x100 white reference, and candidates with a red square of the given side. */
function fixtures() {
  const ref = join(dir, "ref.png");
  writeTestPng(ref, 100, 100, [255, 255, 255]);
  const square = (side: number) => {
    const p = join(dir, `cand-${side}.png`);
    writeTestPng(p, 100, 100, [255, 255, 255], { x: 10, y: 10, w: side, h: side, color: [220, 0, 0] });
    return p;
  };
  return { ref, same: square(0), small: square(10), big: square(30) };
}

describe("comparePngs on real PNGs", () => {
  it("scores identical images 0, a small change under the threshold and a large one over it, and writes a diff", () => {
    const f = fixtures();
    const same = comparePngs(f.ref, f.same, { threshold: 0.02 });
    expect(same).toMatchObject({ differing_pixels: 0, score: 0, below_threshold: true, size_mismatch: false, total_pixels: 10_000 });
    const small = comparePngs(f.ref, f.small, { threshold: 0.02, diffPath: join(dir, "diff-small.png") });
    expect(small).toMatchObject({ differing_pixels: 100, score: 0.01, below_threshold: true });
    const big = comparePngs(f.ref, f.big, { threshold: 0.02 });
    expect(big).toMatchObject({ differing_pixels: 900, score: 0.09, below_threshold: false });
    const diff = PNG.sync.read(readFileSync(join(dir, "diff-small.png")));
    expect([diff.width, diff.height]).toEqual([100, 100]);
    // The changed square is marked in the diff (pixelmatch's red), the rest is not.
    const at = (x: number, y: number) => [...diff.data.subarray((y * 100 + x) * 4, (y * 100 + x) * 4 + 3)];
    expect(at(15, 15)).toEqual([255, 0, 0]);
    expect(at(80, 80)).not.toEqual([255, 0, 0]);
  });

  it("never matches images of different sizes, and names an unreadable file", () => {
    const f = fixtures();
    const other = join(dir, "wide.png");
    writeTestPng(other, 120, 100, [255, 255, 255]);
    expect(comparePngs(f.ref, other, { threshold: 0.5 })).toMatchObject({ size_mismatch: true, score: 1, below_threshold: false });
    expect(() => comparePngs(f.ref, join(dir, "missing.png"), { threshold: 0.1 })).toThrow(/cannot read the candidate .*missing\.png/);
    expect(() => comparePngs(f.ref, f.same, { threshold: 2 })).toThrow(/threshold must be between 0 and 1/);
  });
});

describe("loop-evidence visual-diff", () => {
  const sb = cliSandbox("vdiff-cli");
  it("records visual_diff_report always and diff_below_threshold as satisfied only within the threshold", async () => {
    const f = fixtures();
    const cli = sb.cli;
    await cli("register-worker", "--name", "w1");
    await cli("register-manager", "--name", "m1");
    await cli("tasks", "--create", "page");
    await cli("bind", "--task", "page", "--worker", "w1", "--manager", "m1");
    const run = JSON.parse((await cli("loop-templates", "--create-run", "page", "--template", "visual_diff_loop", "--json")).out).run.id;
    const base = ["loop-evidence", "visual-diff", "page", "--loop-run", run, "--iteration", "1", "--reference", f.ref, "--threshold", "0.02"];
    const report = join(dir, "report.json");
    const under = await cli(...base, "--candidate", f.small, "--report-output", report, "--diff-output", join(dir, "d.png"));
    expect(under.code).toBe(EXIT_OK);
    expect(under.out).toContain("score 0.01 (100/10000 pixels differ) within threshold 0.02");
    expect(JSON.parse(readFileSync(report, "utf8"))).toMatchObject({ score: 0.01, below_threshold: true });
    expect(existsSync(join(dir, "d.png"))).toBe(true);
    const over = await cli(...base, "--candidate", f.big, "--json");
    expect(over.code).toBe(EXIT_FAILED);
    expect(JSON.parse(over.out)).toMatchObject({ report: { below_threshold: false }, diff_below_threshold: { status: "failed" } });
    const status = JSON.parse((await cli("loop-status", "page", "--run", run, "--json")).out);
    expect(status.evidence.map((e: any) => `${e.evidence_type}:${e.status}`)).toEqual([
      "visual_diff_report:satisfied",
      "diff_below_threshold:satisfied",
      "visual_diff_report:satisfied",
      "diff_below_threshold:failed",
    ]);
    expect(status.missing_for_current_iteration).toEqual(["reference_artifact", "candidate_screenshot", "adversarial_check"]);
  });
});
