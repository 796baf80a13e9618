import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { eq } from "drizzle-orm";
import { DISPATCH_PLUGINS } from "../../../functions/executors.ts";
import { LOOP_EXECUTORS } from "../../../functions/loops/continue.ts";
import { commands } from "../../../schema/commands.ts";
import { dispatchPass } from "../../../functions/queue/dispatch-pass.ts";
import { boundPair, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { daemonCtx, eventsOf, supervised } from "../supervision/helpers.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const dispatch = () => dispatchPass(daemonCtx(env), DISPATCH_PLUGINS, { dispatcherId: "loop-test" });
const commandRow = async (id: string) =>
  (await env.services.database.client.execute({ sql: "SELECT * FROM commands WHERE id = ?", args: [id] })).rows[0] as unknown as Record<string, any>;
const ADV = { failure_mode: "retry double-charges", check: "replayed the request", result: "one charge" };

async function loopTask(template: string, extra: Record<string, unknown> = {}) {
  const t = await supervised(env);
  const run = await t.post("loop-runs", { template, ...extra });
  expect(run.status, JSON.stringify(run.body)).toBe(201);
  const id = run.body.run.id as string;
  return {
    ...t,
    run: run.body.run,
    evidence: (iteration: number, evidence_type: string, payload: Record<string, unknown> = {}, status?: string) =>
      t.post(`loop-runs/${id}/evidence`, { iteration, evidence_type, payload, status }),
    next: (requested_iteration: number, key?: string) =>
      t.post(`loop-runs/${id}/continue`, { requested_iteration, message: "next pass", idempotency_key: key }),
    status: () => t.get(`loop-runs/${id}/status`),
    consume: () => env.call("POST", `/v1/tasks/${t.name}/worker-inbox/consume`, { body: {}, token: t.worker.token }),
  };
}

describe("a pass's advance re-checks what the policy saw", () => {
  it("does not advance a run a claimed pass no longer fits: a skipped iteration, or evidence gone since", async () => {
    const l = await loopTask("adversarial_ralph_loop", { max_iterations: 5 });
    await l.evidence(1, "adversarial_check", ADV);
    const queued = await l.next(2, "two");
    expect(queued.status).toBe(201);
    const cmd = await env.services.database.db.select().from(commands).where(eq(commands.id, queued.body.command_id));
    const run = async (payload: Record<string, unknown>) =>
      LOOP_EXECUTORS.continue_iteration!.run(daemonCtx(env), cmd[0]!, { loop_run_id: l.run.id, message: null, ...payload } as never);
    // As if another dispatcher's policy check had passed a pass that skips an iteration.
    expect(await run({ requested_iteration: 4 })).toMatchObject({ ok: false, result: { delivered: false } });
    // As if the receipt the policy saw were withdrawn before the advance.
    await env.services.database.client.execute({ sql: "UPDATE loop_evidence SET status = 'failed' WHERE run_id = ?", args: [l.run.id] });
    expect(await run({ requested_iteration: 2 })).toMatchObject({ ok: false });
    expect((await l.status()).body.iterations.current).toBe(1);
    expect((await l.consume()).body.item).toBeNull();
    // With the receipt back, the next pass goes through.
    await env.services.database.client.execute({ sql: "UPDATE loop_evidence SET status = 'satisfied' WHERE run_id = ?", args: [l.run.id] });
    expect(await run({ requested_iteration: 2 })).toMatchObject({ ok: true, result: { iteration: 2 } });
  });
});

describe("loop templates and runs", () => {
  it("lists the built-in templates with their required evidence and creates runs from them", async () => {
    const list = await env.call("GET", "/v1/loop-templates");
    expect(list.body.templates.map((t: any) => t.name)).toEqual([
      "visual_diff_loop",
      "test_coverage_loop",
      "pr_ci_merge_loop",
      "build_then_clear",
      "adversarial_ralph_loop",
    ]);
    const visual = await env.call("GET", "/v1/loop-templates/visual_diff_loop");
    expect(visual.body.required_before_continue).toEqual([
      "reference_artifact",
      "candidate_screenshot",
      "visual_diff_report",
      "diff_below_threshold",
      "adversarial_check",
    ]);
    expect(visual.body.artifact_requirements.adversarial_check.required_fields).toEqual(["failure_mode", "check", "result"]);
    expect((await env.call("GET", "/v1/loop-templates/pr_ci_merge_loop")).body.required_before_continue).toEqual([
      "pr_url",
      "ci_green",
      "merge",
      "adversarial_check",
    ]);
    expect((await env.call("GET", "/v1/loop-templates/build_then_clear")).body.artifact_requirements.adversarial_check).toBeUndefined();
    expect((await env.call("GET", "/v1/loop-templates/nope")).status).toBe(404);

    const t = await supervised(env);
    const custom = await t.post("loop-runs", { required_before_continue: ["smoke_test"], adversarial: true, max_iterations: 2 });
    expect(custom.body.run).toMatchObject({
      template: "custom",
      max_iterations: 2,
      current_iteration: 1,
      required_before_continue: ["smoke_test", "adversarial_check"],
    });
    expect(custom.body.loop_policy).toMatchObject({ run_id: custom.body.run.id, current_iteration: 1 });
    expect((await t.post("loop-runs", {})).status).toBe(400);
    expect((await t.post("loop-runs", { template: "pr_ci_merge_loop" }, t.worker.token)).status).toBe(403);
    expect((await eventsOf(env, t.taskId, "loop_run_created")).length).toBe(1);
    expect((await t.get("loop-runs")).body.runs).toHaveLength(1);
  });

  it("refuses unstructured evidence and evidence for a future iteration", async () => {
    const l = await loopTask("test_coverage_loop");
    const loose = await l.evidence(1, "adversarial_check", { note: "looked fine" });
    expect(loose.status).toBe(400);
    expect(loose.body.error.fields.map((f: any) => f.field)).toEqual(["payload.failure_mode", "payload.check", "payload.result"]);
    expect((await l.evidence(1, "coverage_report", { command: "npm test -- --coverage" })).body.error.fields).toEqual([
      { field: "payload.coverage_percent", message: "required for coverage_report evidence" },
    ]);
    expect((await l.evidence(2, "coverage_report", { coverage_percent: 80, command: "c" })).status).toBe(409);
    const ok = await l.evidence(1, "coverage_report", { coverage_percent: 81.5, command: "npm test -- --coverage" }, undefined);
    expect(ok.body).toMatchObject({ evidence: { evidence_type: "coverage_report", status: "satisfied" }, missing_for_iteration: ["adversarial_check"] });
    // The worker records evidence too.
    expect(
      (await l.post(`loop-runs/${l.run.id}/evidence`, { iteration: 1, evidence_type: "adversarial_check", payload: ADV }, l.worker.token)).body
        .missing_for_iteration,
    ).toEqual([]);
  });
});

describe("continue-iteration guardrails", () => {
  it("refuses the same or current iteration before it becomes a queue row", async () => {
    const l = await loopTask("adversarial_ralph_loop");
    const same = await l.post(`loop-runs/${l.run.id}/continue`, { requested_iteration: 1 });
    expect(same.status).toBe(400);
    const r = await l.next(1);
    expect(r.status).toBe(400);
    expect((await env.services.database.client.execute("SELECT count(*) AS n FROM commands")).rows[0]!.n).toBe(0);
    expect((await l.post(`loop-runs/${l.run.id}/continue`, { requested_iteration: 2 }, l.worker.token)).status).toBe(403);
  });

  it("blocks a pass without the required evidence, delivers it with loop_policy only after structured evidence, and cuts off past max_iterations", async () => {
    const l = await loopTask("adversarial_ralph_loop", { max_iterations: 2 });
    const early = await l.next(2, "early");
    expect(early.status).toBe(201);
    expect(early.body.loop_policy).toMatchObject({ current_iteration: 1, max_iterations: 2, required_before_continue: ["adversarial_check"] });
    expect(await dispatch()).toMatchObject({ refused: 1, succeeded: 0 });
    const blocked = await commandRow(early.body.command_id);
    expect(blocked.state).toBe("failed");
    expect(blocked.error).toContain("missing adversarial_check");
    expect(JSON.parse(blocked.result_json).policy_receipt).toMatchObject({
      policy: "loop_guardrail",
      reason: "missing_evidence",
      missing_evidence: ["adversarial_check"],
    });
    expect((await l.consume()).body.item).toBeNull();

    // Unstructured proof is refused; a failed receipt does not count.
    expect((await l.evidence(1, "adversarial_check", { result: "fine" })).status).toBe(400);
    await l.evidence(1, "adversarial_check", ADV, "failed");
    await l.next(2, "after-failed");
    expect(await dispatch()).toMatchObject({ refused: 1 });

    await l.evidence(1, "adversarial_check", ADV);
    const ok = await l.next(2, "ok");
    expect(await dispatch()).toMatchObject({ succeeded: 1, refused: 0 });
    expect((await commandRow(ok.body.command_id)).state).toBe("succeeded");
    const item = (await l.consume()).body.item;
    expect(item).toMatchObject({
      signal_type: "continue_iteration",
      payload: { loop_policy: { run_id: l.run.id, current_iteration: 2, max_iterations: 2 }, ralph_loop: { iteration: 2 } },
    });
    expect(item.payload.message).toContain("Start iteration 2 of 2");

    // The current iteration is not a next pass: refused before it is queued.
    const current = await l.next(2, "current");
    expect(current.status).toBe(409);
    expect(current.body.error.hint).toBe("Request iteration 3; each pass needs the evidence of the one before it.");
    // Nor is a pass that would skip iterations (and their evidence).
    const jump = await l.next(4, "jump");
    expect(jump.status).toBe(409);
    expect(jump.body.error.message).toContain("iteration 4 is not the next pass");

    // Iteration 2 is the last: evidence does not lift the cap.
    await l.evidence(2, "adversarial_check", ADV);
    const over = await l.next(3, "over");
    await dispatch();
    const capped = await commandRow(over.body.command_id);
    expect(capped.state).toBe("failed");
    expect(JSON.parse(capped.result_json).policy_receipt).toMatchObject({ reason: "max_iterations", max_iterations: 2, requested_iteration: 3 });

    const status = (await l.status()).body;
    expect(status).toMatchObject({ iterations: { current: 2, max: 2, remaining: 0 }, notifications: { delivered: 1, consumed: 1, pending: 0 }, failures: 3 });
    expect(status.commands.by_state).toEqual({ failed: 3, succeeded: 1 });
    expect(status.commands.refused.map((r: any) => r.reason)).toEqual(["max_iterations", "missing_evidence", "missing_evidence"]);
    expect(status.recommendation).toContain("max_iterations (2) reached");
    expect(status.evidence_types_by_iteration).toEqual({ "1": ["adversarial_check"], "2": ["adversarial_check"] });
    const kinds = (await l.get("mutation-audit")).body.entries.map((e: any) => e.kind);
    expect(kinds.filter((k: string) => k === "dispatch_policy_refused")).toHaveLength(3);
    expect(kinds).toContain("loop_iteration_delivered");
  });

  it("blocks a stale pass at dispatch when another pass for the same iteration was delivered first", async () => {
    const l = await loopTask("pr_ci_merge_loop");
    for (const [type, payload] of [
      ["pr_url", { url: "https://example.test/pr/1" }],
      ["ci_green", { run: "ci-1" }],
      ["merge", { commit: "abc123" }],
      ["adversarial_check", ADV],
    ] as const)
      await l.evidence(1, type, payload);
    const a = await l.next(2, "a");
    const b = await l.next(2, "b");
    await dispatch();
    expect((await commandRow(a.body.command_id)).state).toBe("succeeded");
    const stale = await commandRow(b.body.command_id);
    expect(JSON.parse(stale.result_json).policy_receipt.reason).toBe("stale_iteration");
    expect((await l.status()).body.recommendation).toContain("has not consumed");
  });

  it("does not run a pass queued before a rebind: the old manager's is refused, the owner's does not reach the new worker", async () => {
    const l = await loopTask("adversarial_ralph_loop", { max_iterations: 3 });
    await l.evidence(1, "adversarial_check", ADV);
    const managers = await l.post(`loop-runs/${l.run.id}/continue`, { requested_iteration: 2, message: "next pass" }, l.manager.token);
    expect(managers.status, JSON.stringify(managers.body)).toBe(201);
    const owners = await l.next(2, "owner-pass");
    expect(owners.status).toBe(201);
    expect((await env.call("POST", "/v1/bindings/unbind", { body: { task: l.name } })).status).toBe(200);
    const w2 = await registerSession(env, "worker");
    const m2 = await registerSession(env, "manager");
    expect((await env.call("POST", "/v1/bindings", { body: { task: l.name, worker: w2.session.name, manager: m2.session.name } })).status).toBe(201);
    await dispatch();
    const refused = await commandRow(managers.body.command_id);
    expect(refused.state).toBe("failed");
    expect(JSON.parse(refused.result_json).policy_receipt).toMatchObject({ policy: "loop_guardrail", reason: "manager_unbound" });
    const orphaned = await commandRow(owners.body.command_id);
    expect(orphaned.state).not.toBe("succeeded");
    expect(orphaned.error ?? orphaned.last_error ?? "").toContain("no longer bound");
    expect((await env.call("GET", `/v1/sessions/${w2.session.name}/inbox`)).body.items).toEqual([]);
    expect((await l.status()).body.iterations.current).toBe(1);
  });

  it("requires every pr_ci_merge_loop receipt before delivering", async () => {
    const l = await loopTask("pr_ci_merge_loop");
    await l.evidence(1, "pr_url", { url: "https://example.test/pr/1" });
    await l.evidence(1, "adversarial_check", ADV);
    await l.next(2);
    await dispatch();
    const status = (await l.status()).body;
    expect(status.commands.refused[0].missing_evidence).toEqual(["ci_green", "merge"]);
    expect(status.recommendation).toBe(`record evidence for iteration 1 before another pass: ci_green, merge`);
  });
});

describe("continue-iteration delivery", () => {
  it("types a pass the bound manager queued into its worker's pane (a nudge's authority), the same item the inbox holds", async () => {
    // The worker's pane is on another machine: whether the item is to be typed is decided here.
    const pair = await boundPair(env, { worker: { host: "far-box", tmux_session: "far-pane" } });
    const path = (rest: string) => `/v1/tasks/${pair.task.task.name}/${rest}`;
    const run = await env.call("POST", path("loop-runs"), { body: { required_before_continue: ["smoke_test"], max_iterations: 3 } });
    const id = run.body.run.id as string;
    await env.call("POST", path(`loop-runs/${id}/evidence`), { body: { iteration: 1, evidence_type: "smoke_test", payload: { command: "npm test" } } });
    const queued = await env.call("POST", path(`loop-runs/${id}/continue`), {
      body: { requested_iteration: 2, message: "next pass" },
      token: pair.manager.token,
    });
    expect(queued.status, JSON.stringify(queued.body)).toBe(201);
    expect(await dispatch()).toMatchObject({ succeeded: 1 });
    const item = (await env.call("GET", `/v1/sessions/${pair.worker.session.name}/inbox`)).body.items.find((i: any) => i.signal_type === "continue_iteration");
    expect(item.delivery_command_id).toMatch(/^cmd_/);
    const deliver = await commandRow(item.delivery_command_id);
    expect(deliver).toMatchObject({ type: "deliver", host: "far-box", state: "pending" });
    expect(JSON.parse(deliver.payload_json)).toMatchObject({ inbox_item_id: item.id, tmux_session: "far-pane" });
  });
});

describe("loop triggers and QA plans", () => {
  it("arms gates only for the controlled phrases", async () => {
    const classify = async (prompt: string) => (await env.call("POST", "/v1/loop-triggers/classify", { body: { prompt } })).body;
    expect(await classify("Be careful and run tests.")).toMatchObject({
      matched: false,
      triggers: [],
      arms: { ralph_loop_policy: false, adversarial_before_continue: false },
    });
    expect(await classify("Please double-check your work and be thorough.")).toMatchObject({ matched: false });
    const gated = await classify("Run this as an adversarially gated Ralph loop.");
    expect(gated).toMatchObject({ matched: true, arms: { ralph_loop_policy: true, adversarial_before_continue: true, adversarial_proof_at_finish: false } });
    expect(gated.triggers).toContain("adversarial_ralph_loop");
    expect((await classify("Require adversarial proof before another worker iteration.")).arms.adversarial_before_continue).toBe(true);
    expect((await classify("Require adversarial proof before finishing.")).arms).toMatchObject({ adversarial_proof_at_finish: true, ralph_loop_policy: false });
    expect((await classify("The worker must try to disprove the change.")).arms.worker_adversarial_proof).toBe(true);
    expect((await env.call("GET", "/v1/loop-triggers")).body.triggers.length).toBeGreaterThan(4);
  });

  it("serves the QA checklists", async () => {
    const plans = (await env.call("GET", "/v1/qa-plans")).body.plans.map((p: any) => p.name);
    expect(plans).toContain("emergent-criteria");
    expect((await env.call("GET", "/v1/qa-plans/ralph-loop")).body.harness).toBe("ralph-loop-guardrails");
    expect((await env.call("GET", "/v1/qa-plans/nope")).status).toBe(404);
  });
});

describe("a run's status with more receipts than it lists", () => {
  it("lists the newest 500 with the total, and counts every satisfied receipt per iteration", async () => {
    const l = await loopTask("adversarial_ralph_loop", { max_iterations: 5 });
    const at = env.clock.ms - 1_000_000;
    // 510 older receipts that satisfy nothing, recorded before the one that does.
    await env.services.database.client.batch(
      Array.from({ length: 510 }, (_, i) => ({
        sql: `INSERT INTO loop_evidence (id, run_id, task_id, iteration, evidence_type, status, payload_json, created_by, created_at)
              SELECT ?, id, task_id, 1, 'note', 'failed', '{}', 'owner', ? FROM loop_runs WHERE id = ?`,
        args: [`lev_old_${i}`, at + i, l.run.id],
      })),
    );
    expect((await l.evidence(1, "adversarial_check", ADV)).status).toBe(201);
    const status = (await l.status()).body;
    expect(status.evidence).toHaveLength(500);
    expect(status.evidence_total).toBe(511);
    expect(status.evidence.at(-1)).toMatchObject({ evidence_type: "adversarial_check", status: "satisfied" });
    expect(status.evidence_types_by_iteration).toEqual({ "1": ["adversarial_check"] });
    // Types are listed in the order they were recorded, not alphabetically.
    env.clock.advance(1);
    expect((await l.evidence(1, "zz_late", {})).status).toBe(201);
    env.clock.advance(1);
    expect((await l.evidence(1, "aa_later", {})).status).toBe(201);
    expect((await l.status()).body.evidence_types_by_iteration).toEqual({ "1": ["adversarial_check", "zz_late", "aa_later"] });
  });
});
