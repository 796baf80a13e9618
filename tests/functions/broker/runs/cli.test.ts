import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "../../../../local-runner/cli/main.ts";
import { BOUNDED_CONTRACT, boundedContractArgv } from "./fixtures.ts";

/** The run commands through the real CLI, in-process against a temp home. */

let home: string;
let out: string[];
let err: string[];
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "switchyard-runs-cli-"));
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

async function cli(...argv: string[]) {
  out = [];
  err = [];
  const code = await runCli([...argv, "--home", home], { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("broker run commands on the CLI", () => {
  it("run-create takes every flag of the runbook's bounded contract", async () => {
    const res = await cli(...boundedContractArgv(), "--json");
    expect(res.code).toBe(0);
    const run = JSON.parse(res.out).run;
    expect(run).toMatchObject({ ...BOUNDED_CONTRACT, expires_at: "2099-01-01T00:00:00.000Z" });
  });

  it("start, tick, status, events, digest and stop, rendered for a person", async () => {
    const id = JSON.parse((await cli("broker", "run-create", "--mode", "supervised", "--objective", "Visible owner-gated loop", "--json")).out).run_id;
    expect((await cli("broker", "run-start", id)).out).toContain(`started ${id}`);
    const tick = await cli("broker", "tick", "--run-id", id);
    expect(tick.out).toContain("0 sent");
    const status = await cli("broker", "run-status", id);
    for (const field of [
      "expires:",
      "approval policy: owner_approves_each_send",
      "limits:",
      "stop conditions: runtime_or_budget_limit, owner_kill_switch",
      "validation:",
      "lease:           free",
      "events:",
      "conditions met:",
    ]) {
      expect(status.out).toContain(field);
    }
    expect((await cli("broker", "run-events", id)).out).toMatch(/run_created[\s\S]*run_started[\s\S]*tick/);
    expect((await cli("broker", "run-stop", id, "--reason", "done for today")).code).toBe(0);
    expect((await cli("broker", "run-digest", id)).out).toContain("stopped: owner_kill_switch (done for today)");
  });

  it("usage errors exit 2 before anything is created", async () => {
    expect((await cli("broker", "run-create", "--mode", "supervised")).code).toBe(2);
    expect((await cli("broker", "run-create", "--mode", "supervised", "--objective", "o", "--max-drafts-total", "many")).code).toBe(2);
    const bad = await cli("broker", "run-create", "--mode", "supervised", "--objective", "o", "--limit-max", "max_drafts_total");
    expect(bad).toMatchObject({ code: 2, err: expect.stringContaining("NAME=INTEGER") });
    expect((await cli("broker", "runs", "--json")).out).toContain('"count": 0');
  });

  it("the API's refusal exits 1 with its message", async () => {
    const res = await cli("broker", "run-create", "--mode", "overnight_dry_run", "--objective", "o", "--max-sends-total", "3");
    expect(res).toMatchObject({ code: 1, err: expect.stringContaining("overnight_dry_run never sends") });
  });
});
