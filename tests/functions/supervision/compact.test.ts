import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { boundPair, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { killTmux, startFakeTui } from "../actuate/fake-tui.ts";
import { eventsOf, supervised } from "./helpers.ts";

let env: TestEnv;
const started: string[] = [];
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(async () => {
  for (const t of started.splice(0)) await killTmux(env, t);
  env.close();
});

const commandsOf = async (taskId: string) =>
  (await env.services.database.client.execute({ sql: "SELECT * FROM commands WHERE task_id = ? ORDER BY created_at, id", args: [taskId] }))
    .rows as unknown as Array<Record<string, any>>;

describe("request-worker-compact gates", () => {
  it("fails closed without the permission, then without a handoff, then without a strict decision; nothing is sent", async () => {
    const t = await supervised(env);
    const compact = (body: Record<string, unknown> = {}) => t.post("worker-compact", body);
    const noPerm = await compact();
    expect(noPerm.status).toBe(422);
    expect(noPerm.body.error.message).toContain("manager permission required: worker_session.compact");
    await t.post("manager-config", { permit: ["worker_session.compact"] });
    const clear = await compact({ clear: true });
    expect(clear.body.error.message).toContain("worker_session.clear");
    const noHandoff = await compact();
    expect(noHandoff.body.error.message).toContain("a worker handoff is required");
    await t.post("handoff", { summary: "state saved" }, t.worker.token);
    const noDecision = await compact({ strict_decisions: true });
    expect(noDecision.body.error.message).toContain("strict decisions need a decision id");
    const wait = await t.post("decisions", { decision: "wait", reason: "busy" });
    expect((await compact({ strict_decisions: true, decision_id: wait.body.decision_id })).body.error.message).toContain("is 'wait'");
    expect((await compact({ decision_id: 999 })).status).toBe(404);
    expect(await commandsOf(t.taskId)).toEqual([]);
    expect((await eventsOf(env, t.taskId, "worker_compact_refused")).map((e) => e.payload.reason)).toEqual([
      "manager permission required: worker_session.compact",
      "manager permission required: worker_session.clear",
      "a worker handoff is required before compacting",
      "strict decisions need a decision id",
      `decision ${wait.body.decision_id} is 'wait', not nudge or interrupt`,
    ]);
    expect((await compact({})).status).toBe(200);
  });

  it("counts only a handoff of the current worker (or the owner) since its binding: not the manager's, not an earlier worker's", async () => {
    const t = await supervised(env);
    await t.post("manager-config", { permit: ["worker_session.clear"] }, t.manager.token);
    const clear = () => t.post("worker-compact", { clear: true }, t.manager.token);
    // The manager writing a handoff itself does not say the worker saved anything.
    expect((await t.post("handoff", { summary: "I, the manager, say it is saved" }, t.manager.token)).status).toBe(201);
    expect((await clear()).body.error.message).toContain("a worker handoff is required");
    // An earlier worker's handoff does not speak for the worker bound since.
    expect((await t.post("handoff", { summary: "first worker's state" }, t.worker.token)).status).toBe(201);
    expect((await env.call("POST", "/v1/bindings/unbind", { body: { task: t.name } })).status).toBe(200);
    const w2 = await registerSession(env, "worker");
    env.clock.advance(1);
    expect((await env.call("POST", "/v1/bindings", { body: { task: t.name, worker: w2.session.name, manager: t.manager.session.name } })).status).toBe(201);
    expect((await clear()).body.error.message).toContain("a worker handoff is required");
    expect(await commandsOf(t.taskId)).toEqual([]);
    expect((await t.post("handoff", { summary: "second worker's state" }, w2.token)).status).toBe(201);
    const sent = await clear();
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(sent.body.text).toBe("/clear");
  });

  it("queues the instruction for a pull worker with audit rows before and after, and a dry run sends nothing", async () => {
    const t = await supervised(env);
    await t.post("manager-config", { allow_worker_compact_clear: true });
    await t.post("handoff", { summary: "saved" });
    const dry = await t.post("worker-compact", { reason: "context is long", dry_run: true }, t.manager.token);
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ instruction: "compact", text: "/compact", delivery: "pull_required", dry_run: true, sent: false, submitted: null });
    expect(dry.body.command).toMatchObject({ type: "nudge_worker", state: "dry_run" });
    const real = await t.post("worker-compact", { reason: "now clear", clear: true });
    expect(real.body).toMatchObject({ instruction: "clear", text: "/clear", sent: true, command: { state: "pending", payload: { message: "/clear" } } });
    const kinds = (await t.get("mutation-audit")).body.entries.map((e: any) => e.kind);
    expect(kinds).toEqual([
      "manager_config_recorded",
      "handoff_recorded",
      "decision_recorded",
      "worker_compact_requested",
      "worker_compact_sent",
      "decision_recorded",
      "worker_compact_requested",
      "worker_compact_sent",
    ]);
    const sent = await eventsOf(env, t.taskId, "worker_compact_sent");
    expect(sent.map((e) => [e.payload.dry_run, e.payload.sent, e.payload.decision_id])).toEqual([
      [true, false, dry.body.decision_id],
      [false, true, real.body.decision_id],
    ]);
    const prompt = await t.post("worker-compact", { prompt_only: true });
    expect(prompt.body.text).toContain("/compact");
    expect(prompt.body.text).toContain(`switchyard handoff ${t.name}`);
    expect((await t.post("worker-compact", {}, t.worker.token)).status).toBe(403);
  });

  it("types /compact into a tmux worker through the verified nudge", async () => {
    const tui = await startFakeTui(env);
    started.push(tui.tmux);
    const pair = await boundPair(env, { worker: { tmux_session: tui.tmux, codex_session: tui.rollout } });
    const name = pair.task.task.name;
    await env.call("POST", `/v1/tasks/${name}/manager-config`, { body: { permit: ["worker_session.compact"] } });
    await env.call("POST", `/v1/tasks/${name}/handoff`, { body: { summary: "saved" } });
    const r = await env.call("POST", `/v1/tasks/${name}/worker-compact`, { body: { reason: "long context" } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ delivery: "push", sent: true, submitted: true, command: { type: "nudge", state: "succeeded" } });
    const typed = readFileSync(tui.rollout, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((l) => l.payload?.type === "user_message")
      .map((l) => l.payload.message);
    expect(typed).toEqual(["/compact"]);
    const other = await registerSession(env, "manager");
    expect((await env.call("POST", `/v1/tasks/${name}/worker-compact`, { body: {}, token: other.token })).status).toBe(404);
  });
});
