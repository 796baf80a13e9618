import { rmSync, writeFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { boundPair } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { codexRollout } from "../../helpers/transcripts.ts";
import { killTmux, startFakeTui } from "../actuate/fake-tui.ts";
import { eventsOf, supervised } from "./helpers.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const taskState = async (name: string) => (await env.call("GET", `/v1/tasks/${name}`)).body.task.state;

describe("finish-task gates", () => {
  it("refuses a premature finish with --require-criteria-audit, naming the open criteria; passes once they are satisfied", async () => {
    const t = await supervised(env);
    const a = (await t.post("criteria", { criterion: "tests pass", source: "manager_inferred", status: "accepted" })).body.affected_criterion.id;
    await t.post("criteria", { criterion: "later", source: "manager_inferred", status: "deferred" });
    await t.post("criteria", { criterion: "maybe", source: "worker_proposed" });
    const refused = await t.post("finish", { reason: "done?", require_criteria_audit: true }, t.manager.token);
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe("POLICY_REFUSED");
    expect(refused.body.error.message).toContain(`criterion #${a} is accepted but not satisfied: tests pass`);
    expect(refused.body.error.fields).toEqual([{ field: "require_criteria_audit", message: `criterion #${a} is accepted but not satisfied: tests pass` }]);
    expect(await taskState(t.name)).toBe("active");
    expect((await eventsOf(env, t.taskId, "finish_refused"))[0]!.payload.gates[0]).toMatchObject({ gate: "criteria_audit", passed: false });

    await t.post(`criteria/${a}`, { action: "satisfy", evidence: { command: "npm test", status: "pass" } });
    const ok = await t.post("finish", { reason: "done", require_criteria_audit: true }, t.manager.token);
    expect(ok.status).toBe(200);
    expect(ok.body.gates).toEqual([{ gate: "criteria_audit", required: true, passed: true, missing: [] }]);
    expect(await taskState(t.name)).toBe("finished");
  });

  it("requires both acks with --require-acks, and always when the config requires acks", async () => {
    const t = await supervised(env);
    await t.post("manager-config", { require_acks: true });
    const r = await t.post("finish", {});
    expect(r.status).toBe(422);
    expect(r.body.error.fields).toEqual([{ field: "require_acks", message: "worker ack; manager ack" }]);
    await t.post("acks/worker", { payload: { ok: 1 } }, t.worker.token);
    expect((await t.post("finish", {})).body.error.fields).toEqual([{ field: "require_acks", message: "manager ack" }]);
    await t.post("acks/manager", { payload: { ok: 1 } }, t.manager.token);
    expect((await t.post("finish", {})).status).toBe(200);
  });

  it("requires every configured epilogue to have succeeded, and adversarial proof when asked", async () => {
    const t = await supervised(env);
    await t.post("manager-config", { epilogues: ["record-handoff", "run-tools"], tools: ["npm test", "npm run lint"] });
    const both = await t.post("finish", { require_epilogue: true, require_adversarial_proof: true });
    expect(both.body.error.fields.map((f: any) => f.field)).toEqual(["require_epilogue", "require_adversarial_proof"]);
    expect(both.body.error.message).toContain("epilogue record-handoff has not run");

    const failed = await t.post("epilogues/record-handoff", {});
    expect(failed.body).toMatchObject({ succeeded: false, run: { state: "failed", error: "no handoff is recorded" } });
    expect((await t.post("finish", { require_epilogue: true })).body.error.message).toContain("epilogue record-handoff last failed");
    await t.post("handoff", { summary: "done" });
    expect((await t.post("epilogues/record-handoff", {})).body.succeeded).toBe(true);
    const tools = await t.post("epilogues/run-tools", { evidence: { tools: { "npm test": "pass", "npm run lint": "fail" } } });
    expect(tools.body.run.error).toBe("not passing: npm run lint (fail)");
    expect((await t.post("epilogues/run-tools", { evidence: { tools: { "npm test": "pass", "npm run lint": "pass" } } })).body.succeeded).toBe(true);
    expect((await t.get("epilogues")).body).toMatchObject({ all_succeeded: true });

    // Plain evidence is not adversarial proof; structured adversarial_check evidence is.
    const c = (await t.post("criteria", { criterion: "no double charge", source: "manager_inferred", status: "accepted" })).body.affected_criterion.id;
    await t.post(`criteria/${c}`, { action: "satisfy", evidence: { command: "npm test", status: "pass" } });
    expect((await t.post("finish", { require_epilogue: true, require_adversarial_proof: true })).body.error.fields.map((f: any) => f.field)).toEqual([
      "require_adversarial_proof",
    ]);
    const d = (await t.post("criteria", { criterion: "retry safe", source: "manager_inferred", status: "accepted" })).body.affected_criterion.id;
    await t.post(`criteria/${d}`, {
      action: "satisfy",
      evidence: { evidence_type: "adversarial_check", failure_mode: "retry double-charges", check: "replayed the request twice", result: "one charge" },
    });
    const ok = await t.post("finish", { require_epilogue: true, require_adversarial_proof: true, require_criteria_audit: true });
    expect(ok.status).toBe(200);
    expect(ok.body.gates.map((g: any) => g.gate)).toEqual(["criteria_audit", "epilogue", "adversarial_proof"]);
  });

  it("captures the transcript of each session before stopping it, and a capture failure stops nothing", async () => {
    // A rollout under the test host's Codex root, registered empty (a non-empty one must start
    // with its session_meta record), then the worker's turn arrives.
    const path = codexRollout(env, "finish-w", "");
    const pair = await boundPair(env, { worker: { codex_session: path } });
    writeFileSync(path, `${JSON.stringify({ timestamp: new Date(env.clock.ms).toISOString(), type: "event_msg", payload: { type: "task_started" } })}\n`);
    const name = pair.task.task.name;
    rmSync(path);
    const refused = await env.call("POST", `/v1/tasks/${name}/finish`, { body: { stop_worker: true, capture_transcript_before_stop: true } });
    expect(refused.status).toBe(422);
    expect(refused.body.error.message).toMatch(/transcript capture of '.+' failed before stop, so nothing was stopped/);
    expect(await taskState(name)).toBe("active");
    expect((await env.call("GET", `/v1/sessions/${pair.worker.session.name}`)).body.session.state).toBe("active");

    const line = `${JSON.stringify({ timestamp: new Date(env.clock.ms).toISOString(), type: "event_msg", payload: { type: "task_started" } })}\n`;
    writeFileSync(path, line + line);
    const ok = await env.call("POST", `/v1/tasks/${name}/finish`, { body: { stop_worker: true, capture_transcript_before_stop: true } });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.captures).toEqual([
      expect.objectContaining({ session: pair.worker.session.name, transcript_offset: Buffer.byteLength(line) * 2, pane_captured: false }),
    ]);
    expect(ok.body.stopped.map((s: any) => s.session)).toEqual([pair.worker.session.name]);
    const audit = (await env.call("GET", `/v1/tasks/${name}/audit`)).body.events.map((e: any) => e.kind);
    expect(audit.indexOf("transcript_captured")).toBeLessThan(audit.indexOf("session_stopped"));
  });

  it("keeps a pane's screen only while the pane runs the agent: a pane taken over refuses the capture and stops nothing", async () => {
    const tui = await startFakeTui(env);
    try {
      const pair = await boundPair(env, { worker: { tmux_session: tui.tmux, codex_session: tui.rollout } });
      const name = pair.task.task.name;
      // The agent exits and something else starts under its tmux name.
      await killTmux(env, tui.tmux);
      await env.services.host!.tmuxNewSession({ name: tui.tmux, cwd: env.dir, command: ["sleep", "600"] });
      const refused = await env.call("POST", `/v1/tasks/${name}/finish`, { body: { stop_worker: true, capture_transcript_before_stop: true } });
      expect(refused.status).toBe(422);
      expect(refused.body.error.message).toMatch(/failed before stop, so nothing was stopped: refusing to use tmux session/);
      expect(await taskState(name)).toBe("active");
      const captured = (await env.call("GET", `/v1/tasks/${name}/audit`)).body.events.filter((e: any) => e.kind === "transcript_captured");
      expect(captured).toEqual([]);
    } finally {
      await killTmux(env, tui.tmux);
    }
  });

  it("still finishes with no body and no gates", async () => {
    const t = await supervised(env);
    const r = await env.call("POST", `/v1/tasks/${t.name}/finish`);
    expect(r.status).toBe(200);
    expect(r.body.gates).toEqual([]);
  });
});

describe("stop-task", () => {
  it("ends the binding, stops the manager and records the reason; the task stays active", async () => {
    const t = await supervised(env);
    expect((await t.post("stop", { reason: "x" }, t.manager.token)).status).toBe(403);
    const r = await t.post("stop", { reason: "manager looping", stop_worker: false });
    expect(r.status).toBe(200);
    expect(r.body.stopped.map((s: any) => s.session)).toEqual([t.manager.session.name]);
    expect(await taskState(t.name)).toBe("active");
    expect((await env.call("GET", `/v1/tasks/${t.name}`)).body.binding).toBeNull();
    expect((await eventsOf(env, t.taskId, "task_stopped"))[0]!.payload).toMatchObject({ reason: "manager looping", stop_worker: false });
    expect((await t.post("stop", { reason: "again" })).status).toBe(404);
  });
});

describe("epilogue", () => {
  it("refuses unconfigured steps and needs permissions for draft-pr and subagent-review", async () => {
    const t = await supervised(env);
    expect((await t.post("epilogues/draft-pr", {})).status).toBe(409);
    await t.post("manager-config", { epilogues: ["draft-pr", "subagent-review"] });
    expect((await t.post("epilogues/draft-pr", { evidence: { pr_url: "https://example.test/pr/1" } })).body.run.error).toBe(
      "manager permission required: repo.open_pr",
    );
    await t.post("manager-config", { permit: ["repo.open_pr", "context.spawn_reviewer"] });
    expect((await t.post("epilogues/draft-pr", { evidence: {} })).body.run.error).toContain("pr_url");
    expect((await t.post("epilogues/draft-pr", { evidence: { pr_url: "https://example.test/pr/1" } })).body.succeeded).toBe(true);
    expect((await t.post("epilogues/subagent-review", {})).body.run.error).toBe("no continuation review is recorded");
    expect((await t.post("epilogues/draft-pr", {}, t.worker.token)).status).toBe(403);
    const status = await t.get("epilogues");
    expect(status.body.steps.slice(0, 2).map((s: any) => [s.step, s.configured, s.latest?.state])).toEqual([
      ["draft-pr", true, "succeeded"],
      ["subagent-review", true, "failed"],
    ]);
    expect(status.body.all_succeeded).toBe(false);
  });
});
