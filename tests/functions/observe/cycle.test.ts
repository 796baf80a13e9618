import { appendFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTask, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { killTmux, startFakeTui } from "../actuate/fake-tui.ts";

let env: TestEnv;
const started: string[] = [];
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(async () => {
  for (const t of started.splice(0)) await killTmux(env, t);
  env.close();
});

const at = (iso: string) => ({ timestamp: iso });
const line = (ts: string, payload: Record<string, unknown>) => `${JSON.stringify({ ...at(ts), type: "event_msg", payload })}\n`;

async function bindWith(worker: Record<string, unknown>) {
  const w = await registerSession(env, "worker", worker);
  const mPath = join(env.dir, `manager-${Math.random().toString(36).slice(2)}.jsonl`);
  writeFileSync(mPath, "");
  // With an explicit transcript the pid is only recorded (and checked for liveness).
  const m = await registerSession(env, "manager", { pid: process.pid, codex_session: mPath });
  const t = await createTask(env, { goal: "ship the thing" });
  const b = await env.call("POST", "/v1/bindings", { body: { task: t.task.name, worker: w.session.name, manager: m.session.name } });
  expect(b.status).toBe(201);
  return { task: t.task.name, worker: w, manager: m };
}

describe("cycle", () => {
  it("reports busy then idle with task_completed, staleness from the injected clock, and a manager_cycles row each time", async () => {
    const path = join(env.dir, "rollout-cycle.jsonl");
    writeFileSync(path, "");
    const { task } = await bindWith({ codex_session: path });
    appendFileSync(
      path,
      line("2026-11-21T11:59:00.000Z", { type: "user_message", message: "go" }) + line("2026-11-21T11:59:01.000Z", { type: "task_started" }),
    );
    const first = await env.call("POST", `/v1/tasks/${task}/cycle`, { body: {} });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      kind: "session_cycle",
      state: "busy",
      task_completed: false,
      last_event_subtype: "task_started",
      staleness_seconds: 59,
      last_state_event_at: "2026-11-21T11:59:01.000Z",
      manager_alive: true,
      worker_alive: false,
      ingest: { new_events: 2, skipped_lines: 0 },
      manager_context: { task_goal: "ship the thing" },
    });
    expect(first.body.pane_signal).toMatchObject({ captured: false });
    appendFileSync(
      path,
      line("2026-11-21T11:59:30.000Z", { type: "agent_message", message: "all done" }) +
        line("2026-11-21T11:59:31.000Z", { type: "task_complete", last_agent_message: "all done" }) +
        line("2026-11-21T11:59:32.000Z", { type: "token_count" }),
    );
    env.clock.advance(10);
    const second = await env.call("POST", `/v1/tasks/${task}/cycle`);
    expect(second.body).toMatchObject({
      state: "idle",
      task_completed: true,
      last_event_subtype: "task_complete",
      staleness_seconds: 39,
      ingest: { new_events: 3 },
    });
    expect(second.body.manager_context.last_worker_message).toBe("all done");
    expect(second.body.cycle_id).toBeGreaterThan(first.body.cycle_id);
    const rows = await env.services.database.client.execute("SELECT state, worker_state FROM manager_cycles ORDER BY id");
    expect(rows.rows.map((r) => [r.state, r.worker_state])).toEqual([
      ["ok", "busy"],
      ["ok", "idle"],
    ]);
  });

  it("says unknown before any state-changing event", async () => {
    const path = join(env.dir, "rollout-empty.jsonl");
    writeFileSync(path, `${JSON.stringify({ type: "session_meta", payload: { id: "x" } })}\n`);
    const { task } = await bindWith({ codex_session: path });
    const res = await env.call("POST", `/v1/tasks/${task}/cycle`);
    expect(res.body).toMatchObject({ state: "unknown", staleness_seconds: null, task_completed: false, last_event_subtype: null });
  });

  it("records a failed row and errors when the transcript is gone", async () => {
    const path = join(env.dir, "rollout-gone.jsonl");
    writeFileSync(path, line("2026-11-21T11:59:00.000Z", { type: "task_started" }));
    const { task } = await bindWith({ codex_session: path });
    rmSync(path);
    const res = await env.call("POST", `/v1/tasks/${task}/cycle`);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("PATH_NOT_FOUND");
    const rows = await env.services.database.client.execute("SELECT state, error FROM manager_cycles");
    expect(rows.rows).toHaveLength(1);
    expect(rows.rows[0]!.state).toBe("failed");
    expect(String(rows.rows[0]!.error)).toMatch(/no longer exists/);
  });

  it("captures the worker pane and flags a stuck busy worker as long_running_interruptible, visible in divergences", async () => {
    const tui = await startFakeTui(env, 600_000);
    started.push(tui.tmux);
    const { task, worker } = await bindWith({ codex_session: tui.rollout, tmux_session: tui.tmux });
    await env.call("POST", `/v1/sessions/${worker.session.name}/nudge`, { body: { text: "long job" } });
    // The fake clock runs hours ahead of the events the TUI stamps with real time: stale.
    const res = await env.call("POST", `/v1/tasks/${task}/cycle`, { body: { busy_wait_seconds: 30 } });
    expect(res.body.state).toBe("busy");
    expect(res.body.pane_signal.captured).toBe(true);
    expect(res.body.pane_signal.classifier.busy_indicator).toBe(true);
    expect(res.body.notable_pane_pattern).toBe("long_running_interruptible");
    const div = await env.call("GET", `/v1/tasks/${task}/divergences`);
    expect(div.body.divergences).toHaveLength(1);
    expect(div.body.divergences[0]).toMatchObject({ cycle_id: res.body.cycle_id, notable_pane_pattern: "long_running_interruptible", worker_state: "busy" });
  });

  it("lets only the bound manager (or the owner) cycle a task", async () => {
    const path = join(env.dir, "rollout-auth.jsonl");
    writeFileSync(path, "");
    const { task, manager, worker } = await bindWith({ codex_session: path });
    expect((await env.call("POST", `/v1/tasks/${task}/cycle`, { token: manager.token })).status).toBe(200);
    const denied = await env.call("POST", `/v1/tasks/${task}/cycle`, { token: worker.token });
    expect(denied.status).toBe(403);
    const unbound = await createTask(env);
    const nb = await env.call("POST", `/v1/tasks/${unbound.task.name}/cycle`);
    expect(nb.status).toBe(404);
    expect(nb.body.error.hint).toContain("switchyard bind");
  });
});

describe("tail and idle-check", () => {
  it("tail is newest first, filters by subtype and redacts text unless asked", async () => {
    const path = join(env.dir, "rollout-tail.jsonl");
    writeFileSync(
      path,
      line("2026-11-21T11:00:00.000Z", { type: "user_message", message: "secret plan" }) +
        line("2026-11-21T11:00:05.000Z", { type: "task_complete", last_agent_message: "ok" }),
    );
    const w = await registerSession(env, "worker", { codex_session: path });
    await env.call("POST", `/v1/sessions/${w.session.name}/ingest`);
    const red = await env.call("GET", `/v1/sessions/${w.session.name}/events`);
    expect(red.body.events.map((e: any) => e.subtype)).toEqual(["task_complete", "user_message"]);
    expect(JSON.stringify(red.body)).not.toContain("secret plan");
    const full = await env.call("GET", `/v1/sessions/${w.session.name}/events?subtype=user_message&include_content=true`);
    expect(full.body.events).toHaveLength(1);
    expect(full.body.events[0].text).toBe("secret plan");
  });

  it("idle-check recommends review after a completed turn and inspect when busy too long", async () => {
    const path = join(env.dir, "rollout-idle.jsonl");
    writeFileSync(path, line("2026-11-21T11:59:50.000Z", { type: "task_started" }));
    const w = await registerSession(env, "worker", { codex_session: path });
    const busy = await env.call("GET", `/v1/sessions/${w.session.name}/idle-check?busy_wait_seconds=5`);
    expect(busy.body).toMatchObject({ state: "busy", recommendation: "inspect", fresh: false });
    const fresh = await env.call("GET", `/v1/sessions/${w.session.name}/idle-check?busy_wait_seconds=60`);
    expect(fresh.body).toMatchObject({ recommendation: "wait", fresh: true });
    appendFileSync(path, line("2026-11-21T11:59:55.000Z", { type: "task_complete" }));
    const done = await env.call("GET", `/v1/sessions/${w.session.name}/idle-check`);
    expect(done.body).toMatchObject({ state: "idle", task_completed: true, recommendation: "review" });
  });
});
