import { describe, expect, it } from "vitest";
import { cliSandbox } from "../../helpers/cli.ts";

const { cli } = cliSandbox("patrol-cli");

describe("patrol CLI", () => {
  it("patrol status exits 1 until the patrol has run, then 0; run --once, runs and show print the run", async () => {
    const before = await cli("patrol", "status");
    expect(before.code).toBe(1);
    expect(before.out).toMatch(/NOT RUNNING/);
    const run = await cli("patrol", "run", "--once");
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/prn_\S+ succeeded/);
    expect(run.out).toMatch(/gate-evaluation\s+succeeded/);
    const after = await cli("patrol", "status");
    expect(after.code).toBe(0);
    expect(after.out).toMatch(/patrol:\s+running/);
    const runs = await cli("patrol", "runs", "--json");
    const id = JSON.parse(runs.out).runs[0].id;
    const show = await cli("patrol", "show", id);
    expect(show.out.split("\n")).toHaveLength(11);
    expect((await cli("doctor")).out).toMatch(/patrol:\s+running/);
  });

  it("validates --step and config keys, and changes config", async () => {
    const bad = await cli("patrol", "run", "--once", "--step", "nope");
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--step must be one of/);
    const set = await cli("patrol", "config", "--set", "escalate_after_cycles=7");
    expect(set.code).toBe(0);
    expect(set.out).toMatch(/escalate_after_cycles\s+7 \(default 5\)/);
    const unknown = await cli("patrol", "config", "--set", "nonsense=1");
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/VALIDATION_FAILED/);
    expect((await cli("notices")).out).toBe("no notices");
  });
});
