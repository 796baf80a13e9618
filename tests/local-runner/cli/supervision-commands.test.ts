import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "../../../local-runner/cli/main.ts";
import { cliSandbox, followPages } from "../../helpers/cli.ts";

const sb = cliSandbox("supervision-cli");
const cli = sb.cli;

/** A task `feat` bound to worker w1 and manager m1. */
async function pair() {
  expect((await cli("register-worker", "--name", "w1")).code).toBe(EXIT_OK);
  expect((await cli("register-manager", "--name", "m1")).code).toBe(EXIT_OK);
  expect((await cli("tasks", "--create", "feat", "--goal", "ship it")).code).toBe(EXIT_OK);
  expect((await cli("bind", "--task", "feat", "--worker", "w1", "--manager", "m1")).code).toBe(EXIT_OK);
}

describe("manager-config and manager-permission", () => {
  it("creates, changes, prints and lists revisions; questions as JSON", async () => {
    await pair();
    const first = await cli("manager-config", "feat");
    expect(first.code).toBe(EXIT_OK);
    expect(first.out).toContain("recorded revision 1 (created)");
    expect(first.out).toContain("manager config of feat, revision 1 (guided)");
    const changed = await cli(
      "manager-config",
      "feat",
      "--mode",
      "strict",
      "--permit",
      "repo.open_pr",
      "--guideline",
      "a",
      "--guideline",
      "b",
      "--allow-worker-compact-clear",
    );
    expect(changed.out).toContain("recorded revision 2");
    expect(changed.out).toContain("permissions: repo.open_pr, worker_session.clear, worker_session.compact");
    expect(changed.out).toContain("guideline: b");
    expect((await cli("manager-config", "feat")).out).toMatch(/^unchanged\n/);
    const json = JSON.parse((await cli("manager-config", "feat", "--permissions-json", '{"create_pr":true,"verification":["run_pytest"]}', "--json")).out);
    expect(json.config.granted).toContain("verification.run_pytest");
    expect((await cli("manager-config", "feat", "--revision", "1", "--json")).out).toContain('"mode": "guided"');
    expect((await cli("manager-config", "feat", "--history", "--limit", "1")).out).toMatch(/^revision 3 /);
    const q = JSON.parse((await cli("manager-config", "--questions", "--json")).out);
    expect(q.questions[0].id).toBe("mode");
    expect((await cli("manager-config", "feat", "--permissions-json", "{nope")).code).toBe(EXIT_USAGE);
    expect((await cli("manager-config")).code).toBe(EXIT_USAGE);
    const bad = await cli("manager-config", "feat", "--permit", "repo.nope");
    expect(bad.code).toBe(EXIT_FAILED);
    expect(bad.err).toContain("unknown action 'nope'");
  });

  it("exits 0 for a granted permission and 1 for a denied one", async () => {
    await pair();
    await cli("manager-config", "feat", "--permit", "repo.open_pr");
    const ok = await cli("manager-permission", "feat", "repo.open_pr");
    expect(ok).toMatchObject({ code: EXIT_OK });
    expect(ok.out).toBe("repo.open_pr: allowed\n");
    const denied = await cli("manager-permission", "feat", "repo.merge_green_pr");
    expect(denied.code).toBe(EXIT_FAILED);
    expect(denied.out).toContain("not allowed (manager permission required: repo.merge_green_pr is not granted)");
    const required = await cli("manager-permission", "feat", "repo.merge_green_pr", "--require", "--json");
    expect(required.code).toBe(EXIT_FAILED);
    expect(JSON.parse(required.out).error.code).toBe("POLICY_REFUSED");
    expect((await cli("manager-permission", "feat", "repo", "--list")).out).toBe("repo: open_pr\n");
  });
});

describe("criteria and criteria-plan", () => {
  it("adds and satisfies a row by the id from affected_criterion, and lists the ledger", async () => {
    await pair();
    const added = JSON.parse((await cli("criteria", "feat", "--add", "--criterion", "Targeted tests pass", "--source", "worker_proposed", "--json")).out);
    const id = String(added.affected_criterion.id);
    const sat = await cli("criteria", "feat", "--satisfy", id, "--evidence-json", '{"command":"npm test","status":"pass"}');
    expect(sat.code).toBe(EXIT_OK);
    expect(sat.out).toContain(`proposed -> #${id}`);
    expect(sat.out).toContain("satisfied");
    await cli("criteria", "feat", "--add", "--criterion", "Docs", "--source", "manager_inferred", "--status", "accepted");
    const list = await cli("criteria", "feat", "--list");
    expect(list.out).toContain("feat: 0 proposed, 1 accepted (open), 1 satisfied, 0 deferred, 0 rejected");
    expect((await cli("criteria", "feat", "--list", "--status", "accepted")).out).toContain("Docs");
    expect((await cli("criteria", "feat", "--add", "--criterion", "x")).code).toBe(EXIT_USAGE);
    // --status lists every status, but a new criterion may not start satisfied or rejected: refused before anything is sent.
    const born = await cli("criteria", "feat", "--add", "--criterion", "y", "--source", "worker_proposed", "--status", "satisfied");
    expect(born).toMatchObject({ code: EXIT_USAGE, err: expect.stringContaining("proposed, accepted, deferred") });
    expect((await cli("criteria", "feat", "--list")).out).toContain("feat: 0 proposed, 1 accepted (open), 1 satisfied");
    expect((await cli("criteria", "feat", "--accept", "1", "--reject", "1")).code).toBe(EXIT_USAGE);
    expect((await cli("criteria", "feat", "--satisfy", id, "--evidence-json", '{"status":"pass"}')).code).toBe(EXIT_FAILED);
  });

  it("drafts commands from a worker response file without recording anything", async () => {
    await pair();
    const file = join(sb.home, "..", "response.md");
    writeFileSync(file, "Must-have:\n- Retry is idempotent\nFollow-up:\n- Metrics\n");
    const plan = await cli("criteria-plan", "feat", "--from-worker-response", file);
    expect(plan.code).toBe(EXIT_OK);
    expect(plan.out).toBe(
      "switchyard criteria feat --add --criterion 'Retry is idempotent' --source worker_proposed --status accepted\nswitchyard criteria feat --add --criterion 'Metrics' --source worker_proposed --status deferred",
    );
    expect((await cli("criteria", "feat", "--json")).out).toContain('"criteria": []');
    expect((await cli("criteria-plan", "feat")).code).toBe(EXIT_USAGE);
  });
});

describe("handoff, acks, decisions, mutation-audit", () => {
  it("records each and shows the chain", async () => {
    await pair();
    expect((await cli("handoff", "feat", "--summary", "half done", "--next-step", "tests")).out).toMatch(
      /^recorded handoff hnd_\S+: half done\n {2}next: tests$/,
    );
    expect((await cli("handoff", "feat", "--list")).out).toContain("half done");
    expect((await cli("worker-ack", "feat")).out).toBe("no worker ack yet");
    expect((await cli("worker-ack", "feat", "--payload-json", '{"objective":"x"}')).out).toBe("recorded worker ack revision 1");
    expect((await cli("worker-ack", "feat", "--payload-json", '{"objective":"y"}')).out).toBe("recorded worker ack revision 2");
    expect((await cli("worker-ack", "feat")).out).toContain("worker ack revision 2 at ");
    expect((await cli("manager-ack", "feat", "--payload-json", "[1]")).code).toBe(EXIT_USAGE);
    const noCycle = await cli("record-decision", "feat", "nudge", "--reason", "idle", "--cycle-id", "4");
    expect(noCycle.code).toBe(EXIT_FAILED);
    expect(noCycle.err).toContain("task 'feat' has no cycle 4");
    const d = await cli("record-decision", "feat", "nudge", "--reason", "idle");
    expect(d.out).toMatch(/^decision \d+: nudge \(idle\)$/);
    expect((await cli("record-decision", "feat", "nudge")).code).toBe(EXIT_USAGE);
    expect((await cli("record-decision", "feat", "--list")).out).toContain("nudge");
    const chain = await cli("mutation-audit", "feat");
    expect(
      chain.out
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split(/\s+/)[1]),
    ).toEqual(["handoff_recorded", "ack_recorded", "ack_recorded", "decision_recorded"]);
  });

  it("pages each list in text as in JSON, printing the command for the next page", async () => {
    await pair();
    for (const reason of ["first", "second"]) expect((await cli("record-decision", "feat", "wait", "--reason", reason)).code).toBe(EXIT_OK);
    for (const o of ["a", "b"]) expect((await cli("worker-ack", "feat", "--payload-json", JSON.stringify({ objective: o }))).code).toBe(EXIT_OK);
    for (const step of ["one", "two"]) expect((await cli("handoff", "feat", "--summary", step)).code).toBe(EXIT_OK);
    const follow = (args: string[]) => followPages(cli, args);
    const decisions = await follow(["record-decision", "feat", "--list", "--limit", "1"]);
    expect(decisions.map((p) => p.split(/\s+/).at(-1))).toEqual(["second", "first"]);
    const acks = await follow(["worker-ack", "feat", "--limit", "1"]);
    expect(acks.map((p) => /"objective":"(\w)"/.exec(p)?.[1])).toEqual(["b", "a"]);
    const handoffs = await follow(["handoff", "feat", "--list", "--limit", "1"]);
    expect(handoffs.map((p) => p.split(/\s+/).at(-1))).toEqual(["two", "one"]);
    const revisions = await follow(["manager-config", "feat", "--history", "--limit", "1"]);
    expect(revisions).toHaveLength(1);
  });
});

describe("compact-worker and request-worker-compact", () => {
  it("fails closed, then queues /compact for the pull worker once permitted and handed off", async () => {
    await pair();
    const refused = await cli("compact-worker", "feat", "--reason", "long", "--json");
    expect(refused.code).toBe(EXIT_FAILED);
    expect(JSON.parse(refused.out).error.code).toBe("POLICY_REFUSED");
    await cli("manager-config", "feat", "--permit", "worker_session.compact");
    await cli("handoff", "feat", "--summary", "saved");
    const dry = await cli("compact-worker", "feat", "--reason", "long", "--dry-run");
    expect(dry.out).toMatch(/^compact for w1: dry run: recorded, command cmd_\S+, decision \d+, handoff hnd_/);
    const id = JSON.parse((await cli("record-decision", "feat", "nudge", "--reason", "x", "--json")).out).decision_id;
    const sent = await cli("request-worker-compact", "feat", "--decision-id", String(id), "--strict-decisions");
    expect(sent.out).toContain("queued for the worker's inbox");
    expect((await cli("compact-worker", "feat")).code).toBe(EXIT_USAGE);
  });
});

describe("finish-task gates, epilogue and stop-task", () => {
  it("refuses a premature audited finish (exit 1), runs an epilogue, then finishes", async () => {
    await pair();
    await cli("manager-config", "feat", "--epilogue", "record-handoff");
    await cli("criteria", "feat", "--add", "--criterion", "tests pass", "--source", "manager_inferred", "--status", "accepted");
    const refused = await cli("finish-task", "feat", "--require-criteria-audit", "--require-epilogue", "--json");
    expect(refused.code).toBe(EXIT_FAILED);
    expect(JSON.parse(refused.out).error.fields.map((f: any) => f.field)).toEqual(["require_criteria_audit", "require_epilogue"]);
    const failedStep = await cli("epilogue", "feat", "--step", "record-handoff");
    expect(failedStep.code).toBe(EXIT_FAILED);
    expect(failedStep.out).toContain("record-handoff: failed (no handoff is recorded)");
    await cli("handoff", "feat", "--summary", "done");
    expect((await cli("epilogue", "feat", "--step", "record-handoff")).code).toBe(EXIT_OK);
    expect((await cli("epilogue", "feat", "--list")).out).toMatch(/^record-handoff\s+configured succeeded/);
    await cli("criteria", "feat", "--satisfy", "1", "--evidence-json", '{"command":"npm test","status":"pass"}');
    const ok = await cli("finish-task", "feat", "--require-criteria-audit", "--require-epilogue", "--reason", "done");
    expect(ok.code).toBe(EXIT_OK);
    expect(ok.out).toContain("finished feat (gates passed: criteria_audit, epilogue)");
  });

  it("stop-task needs a reason and ends the binding", async () => {
    await pair();
    expect((await cli("stop-task", "feat")).code).toBe(EXIT_USAGE);
    const r = await cli("stop-task", "feat", "--reason", "looping");
    expect(r.code).toBe(EXIT_OK);
    expect(r.out).toContain("stopped task feat");
    expect(r.out).toContain("stopped m1");
  });
});

describe("continuation and continuation-reviewer", () => {
  /** Writes a reviewer script and returns its --reviewer-command value. */
  const reviewer = (name: string, body: string) => {
    const path = join(sb.home, "..", `${name}.mjs`);
    writeFileSync(path, body);
    return JSON.stringify([process.execPath, path]);
  };

  async function turn() {
    await pair();
    await cli("manager-config", "feat", "--permit", "context.spawn_reviewer");
    expect((await cli("continuation", "feat", "--submit", "worker", "--correlation-id", "t1", "--payload-json", '{"next":"metrics"}')).code).toBe(EXIT_OK);
    expect((await cli("continuation", "feat", "--submit", "manager", "--correlation-id", "t1", "--payload-json", '{"next":"ship"}')).code).toBe(EXIT_OK);
  }
  const base = ["continuation-reviewer", "feat", "--correlation-id", "t1", "--reviewer-session-id", "rev-1"];

  it("runs the reviewer with the context on stdin, in a temp cwd with a stripped environment, and records its verdict", async () => {
    await turn();
    process.env.SWITCHYARD_SECRET_PROBE = "must-not-leak";
    try {
      const cmd = reviewer(
        "good",
        `let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const c=JSON.parse(s);console.log(JSON.stringify({verdict:"proceed",rationale:c.proposals.worker.next+"/"+c.proposals.manager.next,cwd:process.cwd(),leaked:Object.keys(process.env).filter(k=>k.startsWith("SWITCHYARD"))}))});`,
      );
      const r = await cli(...base, "--reviewer-command", cmd, "--json");
      expect(r.code).toBe(EXIT_OK);
      const review = JSON.parse(r.out).review;
      expect(review).toMatchObject({ verdict: "proceed", payload: { rationale: "metrics/ship", leaked: [] } });
      expect(review.payload.cwd).toMatch(/switchyard-drafter-/);
      expect(review.payload.subagent_run).toMatchObject({
        reviewer_session_id: "rev-1",
        manager_rollout_access: false,
        isolated_cwd: true,
        stripped_env: true,
      });
    } finally {
      delete process.env.SWITCHYARD_SECRET_PROBE;
    }
  });

  it("records a failing, timed-out or nonsense reviewer as verdict=stop and exits 1", async () => {
    await turn();
    const cases: Array<[string, string, string[]]> = [
      ["fails", "process.exit(3)", []],
      ["slow", "setTimeout(()=>{},60000)", ["--timeout-seconds", "1"]],
      ["garbage", 'console.log("not json")', []],
      ["noverdict", 'console.log(JSON.stringify({verdict:"yes"}))', []],
    ];
    const errors: string[] = [];
    for (const [name, body, extra] of cases) {
      const r = await cli(...base, "--reviewer-command", reviewer(name, body), ...extra, "--json");
      expect(r.code, name).toBe(EXIT_FAILED);
      const review = JSON.parse(r.out).review;
      expect(review.verdict, name).toBe("stop");
      errors.push(review.error);
    }
    expect(errors[0]).toContain("exited with status 3");
    expect(errors[1]).toContain("timed out after 1000 ms");
    expect(errors[2]).toContain("invalid JSON");
    expect(errors[3]).toContain("without a verdict");
    const dry = await cli(...base, "--dry-run", "--json");
    expect(JSON.parse(dry.out).proposals).toEqual({ worker: { next: "metrics" }, manager: { next: "ship" } });
    expect((await cli("continuation", "feat", "--list")).out).toContain("t1 review   stop");
  });
});
