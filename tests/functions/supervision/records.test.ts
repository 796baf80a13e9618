import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { managerCycles } from "../../../schema/observe.ts";
import { eventsOf, supervised } from "./helpers.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("handoff", () => {
  it("records handoffs with an audit row and lists them newest first", async () => {
    const t = await supervised(env);
    const first = await t.post("handoff", { summary: "module split", next_steps: ["run tests"] }, t.worker.token);
    expect(first.status).toBe(201);
    expect(first.body.handoff).toMatchObject({ summary: "module split", next_steps: ["run tests"], session_id: t.worker.session_id });
    env.clock.advance(1);
    await t.post("handoff", { summary: "tests green", payload: { branch: "feat/x" } });
    const list = await t.get("handoffs?limit=1");
    expect(list.body.handoffs.map((h: any) => h.summary)).toEqual(["tests green"]);
    expect((await t.get(`handoffs?limit=1&cursor=${list.body.next_cursor}`)).body.handoffs.map((h: any) => h.summary)).toEqual(["module split"]);
    expect((await eventsOf(env, t.taskId, "handoff_recorded")).map((e) => e.payload.handoff_id)).toEqual([first.body.handoff_id, expect.any(String)]);
    expect((await t.post("handoff", { summary: "" })).status).toBe(400);
    const stranger = await registerSession(env, "worker");
    expect((await t.post("handoff", { summary: "x" }, stranger.token)).status).toBe(404);
  });
});

describe("acks", () => {
  it("revisions each role separately, keeps old revisions, and lets a session ack only for its own role", async () => {
    const t = await supervised(env);
    const w1 = await t.post("acks/worker", { payload: { objective: "split" } }, t.worker.token);
    expect(w1.body).toMatchObject({ previous_revision: null, ack: { role: "worker", revision: 1 } });
    const w2 = await t.post("acks/worker", { payload: { objective: "split", criteria: [1] }, correlation_id: "turn-2" }, t.worker.token);
    expect(w2.body).toMatchObject({ previous_revision: 1, ack: { revision: 2, correlation_id: "turn-2" } });
    expect((await t.post("acks/manager", { payload: { ok: true } }, t.worker.token)).status).toBe(403);
    expect((await t.post("acks/worker", { payload: { ok: true } }, t.manager.token)).status).toBe(403);
    expect((await t.post("acks/manager", { payload: { ok: true } }, t.manager.token)).body.ack.revision).toBe(1);
    const list = await t.get("acks");
    expect(list.body.latest.worker).toMatchObject({ revision: 2, payload: { criteria: [1] } });
    expect(list.body.latest.manager).toMatchObject({ revision: 1 });
    expect(list.body.acks.map((a: any) => `${a.role}:${a.revision}`).sort()).toEqual(["manager:1", "worker:1", "worker:2"]);
    expect((await t.get("acks?role=worker")).body.acks.map((a: any) => a.revision).sort()).toEqual([1, 2]);
    expect((await eventsOf(env, t.taskId, "ack_recorded")).map((e) => `${e.payload.role}:${e.payload.revision}`)).toEqual([
      "worker:1",
      "worker:2",
      "manager:1",
    ]);
    expect((await t.post("acks/worker", { payload: "nope" })).status).toBe(400);
  });
});

/** A cycle row of the task, as `cycle` records one; its id. */
async function cycleOf(taskId: string): Promise<number> {
  const [row] = await env.services.database.db
    .insert(managerCycles)
    .values({ taskId, state: "ok", createdAt: env.clock.ms })
    .returning({ id: managerCycles.id });
  return row!.id;
}

describe("record-decision and mutation-audit", () => {
  it("records decisions with ids and shows the chain of supervision mutations", async () => {
    const t = await supervised(env);
    await t.post("manager-config", { permit: ["repo.open_pr"] });
    const cycle = await cycleOf(t.taskId);
    const d = await t.post("decisions", { decision: "nudge", reason: "worker idle", cycle_id: cycle }, t.manager.token);
    expect(d.status).toBe(201);
    expect(d.body.decision).toMatchObject({ decision: "nudge", reason: "worker idle", cycle_id: cycle });
    const audit = await eventsOf(env, t.taskId, "decision_recorded");
    expect(audit[0]!.payload).toEqual({ decision: "nudge", reason: "worker idle", cycle_id: cycle, decision_id: d.body.decision_id });
    // A cited cycle must exist and be this task's.
    const other = await supervised(env);
    const theirs = await cycleOf(other.taskId);
    for (const bad of [cycle + 1000, theirs]) {
      const refused = await t.post("decisions", { decision: "wait", reason: "x", cycle_id: bad }, t.manager.token);
      expect(refused.status, JSON.stringify(refused.body)).toBe(404);
      expect(refused.body.error).toMatchObject({ code: "NOT_FOUND", message: `task '${t.name}' has no cycle ${bad}` });
    }
    expect(await eventsOf(env, t.taskId, "decision_recorded")).toHaveLength(1);
    const id = (await t.post("criteria", { criterion: "x", source: "manager_inferred" })).body.affected_criterion.id;
    expect((await eventsOf(env, t.taskId, "criterion_added"))[0]!.payload.criterion_id).toBe(id);
    expect((await t.post("decisions", { decision: "wait", reason: "x" }, t.worker.token)).status).toBe(403);
    expect((await t.post("decisions", { decision: "dance", reason: "x" })).status).toBe(400);
    await t.post("decisions", { decision: "wait", reason: "busy" });
    expect((await t.get("decisions")).body.decisions.map((x: any) => x.decision)).toEqual(["wait", "nudge"]);

    const chain = await t.get("mutation-audit");
    expect(chain.body.entries.map((e: any) => e.kind)).toEqual(["manager_config_recorded", "decision_recorded", "criterion_added", "decision_recorded"]);
    expect(chain.body.entries[1].decision_id).toBe(d.body.decision_id);
    const page = await t.get("mutation-audit?limit=3");
    expect(page.body.entries).toHaveLength(3);
    expect((await t.get(`mutation-audit?cursor=${page.body.next_cursor}`)).body.entries.map((e: any) => e.kind)).toEqual(["decision_recorded"]);
    expect((await t.get("mutation-audit", t.worker.token)).status).toBe(200);
  });
});
