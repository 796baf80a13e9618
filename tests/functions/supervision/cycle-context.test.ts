import { appendFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTask, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { codexRollout } from "../../helpers/transcripts.ts";

/*
 * cycle's manager_context carries the supervision contract: config, handoff, acks, the worker's
 * last turn receipt, the criteria ledger grouped by status and advisory criteria negotiation;
 * the cycle also reports the dispatch notifications the manager consumed since the last cycle.
 */

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const ago = (seconds: number) => new Date(env.clock.ms - seconds * 1000).toISOString();
const line = (ts: string, payload: Record<string, unknown>) => `${JSON.stringify({ timestamp: ts, type: "event_msg", payload })}\n`;

async function setup() {
  // Under the test host's Codex root, empty until the tests append the worker's turns.
  const path = codexRollout(env, Math.random().toString(36).slice(2), "");
  const w = await registerSession(env, "worker", { codex_session: path });
  const m = await registerSession(env, "manager");
  const t = await createTask(env, { goal: "ship" });
  expect((await env.call("POST", "/v1/bindings", { body: { task: t.task.name, worker: w.session.name, manager: m.session.name } })).status).toBe(201);
  const name = t.task.name;
  return {
    path,
    name,
    worker: w,
    manager: m,
    cycle: async () => {
      const r = await env.call("POST", `/v1/tasks/${name}/cycle`, { body: {} });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body;
    },
    post: (rest: string, body: unknown, token?: string) => env.call("POST", `/v1/tasks/${name}/${rest}`, { body, token }),
  };
}

describe("cycle manager_context", () => {
  it("starts with empty supervision state and asks for criteria", async () => {
    const s = await setup();
    const c = await s.cycle();
    expect(c.manager_context).toMatchObject({
      task_goal: "ship",
      manager_config: null,
      worker_handoff: null,
      worker_ack: null,
      manager_ack: null,
      worker_receipt: null,
      acceptance_criteria: { summary: { proposed: 0, accepted: 0, satisfied: 0, deferred: 0, rejected: 0 }, open: [], truncated: false },
      criteria_negotiation: { needed: true, reason: "no_criteria" },
    });
    expect(c.manager_context.criteria_negotiation.prompt).toContain("must-have");
    expect(c.consumed_dispatch_notifications).toEqual([]);
    expect(Date.parse(c.cycle_started_at)).toBeLessThanOrEqual(Date.parse(c.cycle_completed_at));
  });

  it("carries config, handoff, acks, the worker's turn receipt and the grouped ledger", async () => {
    const s = await setup();
    appendFileSync(s.path, line(ago(50), { type: "user_message", message: "go" }) + line(ago(49), { type: "task_started" }));
    appendFileSync(s.path, line(ago(19), { type: "agent_message", message: "done" }) + line(ago(19), { type: "task_complete", last_agent_message: "done" }));
    await s.post("manager-config", { objective: "ship it", permit: ["repo.open_pr"] });
    await s.post("handoff", { summary: "halfway", next_steps: ["tests"] }, s.worker.token);
    await s.post("acks/worker", { payload: { objective: "ship it" } }, s.worker.token);
    const a = (await s.post("criteria", { criterion: "tests pass", source: "worker_proposed" }, s.worker.token)).body.affected_criterion.id;
    const b = (await s.post("criteria", { criterion: "docs", source: "manager_inferred", status: "accepted" })).body.affected_criterion.id;
    await s.post("criteria", { criterion: "metrics", source: "manager_inferred", status: "deferred" });

    const c = await s.cycle();
    const mc = c.manager_context;
    expect(mc.manager_config).toMatchObject({ revision: 1, objective: "ship it", granted: ["repo.open_pr"] });
    expect(mc.worker_handoff).toMatchObject({ summary: "halfway", next_steps: ["tests"] });
    expect(mc.worker_ack).toMatchObject({ role: "worker", revision: 1 });
    expect(mc.manager_ack).toBeNull();
    expect(mc.acks_missing).toEqual([]);
    await s.post("manager-config", { require_acks: true });
    expect((await s.cycle()).manager_context.acks_missing).toEqual(["manager"]);
    expect(mc.worker_receipt).toMatchObject({ turn_id: expect.any(Number), started_at: ago(49), completed_at: ago(19), duration_seconds: 30 });
    expect(mc.acceptance_criteria.summary).toEqual({ proposed: 1, accepted: 1, satisfied: 0, deferred: 1, rejected: 0 });
    expect(mc.acceptance_criteria.open.map((x: any) => x.id)).toEqual([b]);
    expect(mc.acceptance_criteria.proposed.map((x: any) => x.id)).toEqual([a]);
    expect(mc.criteria_negotiation).toMatchObject({ needed: true, reason: "proposals_pending" });
    expect(mc.criteria_negotiation.suggested_actions[0]).toBe(`switchyard criteria ${s.name} --accept ${a} --rationale "must-have for this task"`);

    // With the proposal settled and the turn complete, the open criterion needs proof.
    await s.post(`criteria/${a}`, { action: "accept" });
    const after = (await s.cycle()).manager_context;
    expect(after.criteria_negotiation).toMatchObject({ needed: true, reason: "completed_with_open_criteria" });
    expect(after.criteria_negotiation.prompt).toContain(`#${a} tests pass`);
    await s.post(`criteria/${a}`, { action: "satisfy", evidence: { command: "npm test", status: "pass" } });
    await s.post(`criteria/${b}`, { action: "satisfy", evidence: { check: "read the docs", status: "pass" } });
    const settled = (await s.cycle()).manager_context;
    expect(settled.acceptance_criteria.summary).toMatchObject({ accepted: 0, satisfied: 2 });
    expect(settled.criteria_negotiation).toEqual({ needed: false, reason: null, prompt: null, suggested_actions: [] });
  });

  it("reports the notifications the manager consumed since the previous cycle, once", async () => {
    const s = await setup();
    await s.cycle();
    env.clock.advance(1);
    await s.post("notify-manager", { message: "one" });
    const { dispatchPass } = await import("../../../functions/queue/dispatch-pass.ts");
    const { DISPATCH_PLUGINS } = await import("../../../functions/executors.ts");
    const { makeCtx } = await import("../../../functions/lib/ctx.ts");
    await dispatchPass(makeCtx(env.services, { kind: "daemon", tokenId: "t" }), DISPATCH_PLUGINS, { dispatcherId: "d" });
    const consumed = await env.call("POST", `/v1/tasks/${s.name}/manager-inbox/consume`, { body: {}, token: s.manager.token });
    expect(consumed.body.item).not.toBeNull();
    env.clock.advance(1);
    const c = await s.cycle();
    expect(c.consumed_dispatch_notifications).toEqual([
      expect.objectContaining({ id: consumed.body.item.id, signal_type: "notify_manager", consumed_by: `session:${s.manager.session_id}` }),
    ]);
    env.clock.advance(1);
    expect((await s.cycle()).consumed_dispatch_notifications).toEqual([]);
  });
});
