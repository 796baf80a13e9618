import { appendFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTask, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { codexRollout, holdOpen, type Holder } from "../../helpers/transcripts.ts";
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

/** An ISO stamp `seconds` from the fake clock's now (which starts at the real now). */
const ago = (seconds: number) => new Date(env.clock.ms - seconds * 1000).toISOString();
const line = (ts: string, payload: Record<string, unknown>) => `${JSON.stringify({ timestamp: ts, type: "event_msg", payload })}\n`;

const holders: Holder[] = [];
afterEach(async () => {
  for (const h of holders.splice(0)) await h.stop();
});

/**
 * Binds a worker registered with `worker` to a manager whose agent is a live process holding
 * its rollout (so manager_alive is true). A worker rollout that already holds event lines is
 * registered as if they came after registration (a non-empty file must start like a rollout).
 */
async function bindWith(worker: Record<string, unknown>) {
  const path = worker.codex_session as string | undefined;
  const content = path && !worker.tmux_session ? readFileSync(path, "utf8") : "";
  if (content) writeFileSync(path!, "");
  const w = await registerSession(env, "worker", worker);
  if (content) writeFileSync(path!, content);
  const mPath = codexRollout(env, `manager-${Math.random().toString(36).slice(2)}`);
  const holder = await holdOpen(mPath);
  holders.push(holder);
  const m = await registerSession(env, "manager", { pid: holder.pid, codex_session: mPath });
  const t = await createTask(env, { goal: "ship the thing" });
  const b = await env.call("POST", "/v1/bindings", { body: { task: t.task.name, worker: w.session.name, manager: m.session.name } });
  expect(b.status).toBe(201);
  return { task: t.task.name, worker: w, manager: m };
}

describe("cycle", () => {
  it("reports busy then idle with task_completed, staleness from the injected clock, and a manager_cycles row each time", async () => {
    const path = codexRollout(env, "cycle", null);
    writeFileSync(path, "");
    const { task } = await bindWith({ codex_session: path });
    appendFileSync(path, line(ago(60), { type: "user_message", message: "go" }) + line(ago(59), { type: "task_started" }));
    const startedAt = ago(59);
    const first = await env.call("POST", `/v1/tasks/${task}/cycle`, { body: {} });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      kind: "session_cycle",
      state: "busy",
      task_completed: false,
      last_event_subtype: "task_started",
      staleness_seconds: 59,
      last_state_event_at: startedAt,
      manager_alive: true,
      worker_alive: false,
      ingest: { new_events: 2, skipped_lines: 0 },
      manager_context: { task_goal: "ship the thing" },
    });
    expect(first.body.pane_signal).toMatchObject({ captured: false });
    env.clock.advance(30);
    appendFileSync(
      path,
      line(ago(2), { type: "agent_message", message: "all done" }) +
        line(ago(1), { type: "task_complete", last_agent_message: "all done" }) +
        line(ago(0), { type: "token_count" }),
    );
    env.clock.advance(10);
    const second = await env.call("POST", `/v1/tasks/${task}/cycle`);
    expect(second.body).toMatchObject({
      state: "idle",
      task_completed: true,
      last_event_subtype: "task_complete",
      staleness_seconds: 11,
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
    const path = codexRollout(env, "empty", null);
    writeFileSync(path, `${JSON.stringify({ type: "session_meta", payload: { id: "x" } })}\n`);
    const { task } = await bindWith({ codex_session: path });
    const res = await env.call("POST", `/v1/tasks/${task}/cycle`);
    expect(res.body).toMatchObject({ state: "unknown", staleness_seconds: null, task_completed: false, last_event_subtype: null });
  });

  it("records a failed row and errors when the transcript is gone", async () => {
    const path = codexRollout(env, "gone", null);
    writeFileSync(path, line(ago(60), { type: "task_started" }));
    const { task } = await bindWith({ codex_session: path });
    rmSync(path);
    const res = await env.call("POST", `/v1/tasks/${task}/cycle`);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("PATH_NOT_FOUND");
    const rows = await env.services.database.client.execute("SELECT state, error FROM manager_cycles");
    expect(rows.rows).toHaveLength(1);
    expect(rows.rows[0]!.state).toBe("failed");
    expect(String(rows.rows[0]!.error)).toMatch(/not readable/);
  });

  it("captures the worker pane and flags a stuck busy worker as long_running_interruptible, visible in divergences", async () => {
    const tui = await startFakeTui(env, 600_000);
    started.push(tui.tmux);
    const { task, worker } = await bindWith({ codex_session: tui.rollout, tmux_session: tui.tmux });
    await env.call("POST", `/v1/sessions/${worker.session.name}/nudge`, { body: { text: "long job" } });
    // The TUI stamps events with real time, where the fake clock started; two minutes on, the
    // busy turn is older than the 30 s busy wait.
    env.clock.advance(120);
    const res = await env.call("POST", `/v1/tasks/${task}/cycle`, { body: { busy_wait_seconds: 30 } });
    expect(res.body.state).toBe("busy");
    expect(res.body.pane_signal.captured).toBe(true);
    expect(res.body.pane_signal.classifier.busy_indicator).toBe(true);
    expect(res.body.notable_pane_pattern).toBe("long_running_interruptible");
    const div = await env.call("GET", `/v1/tasks/${task}/divergences`);
    expect(div.body.divergences).toHaveLength(1);
    expect(div.body.divergences[0]).toMatchObject({ cycle_id: res.body.cycle_id, notable_pane_pattern: "long_running_interruptible", worker_state: "busy" });
  });

  // The agent's host clock is ten minutes off the server's, in either direction. Cycles repeat
  // as a manager's loop would, and each sees what the worker wrote since the last one.
  for (const skewMinutes of [10, -10]) {
    it(`keeps staleness and stuck-busy right when the worker's host clock is ${skewMinutes > 0 ? "ahead" : "behind"} by ${Math.abs(skewMinutes)} minutes`, async () => {
      const hostStamp = (secondsAgo = 0) => ago(secondsAgo - skewMinutes * 60);
      const path = codexRollout(env, "skew", null);
      writeFileSync(path, line(hostStamp(), { type: "session_configured" }));
      const { task, worker } = await bindWith({ codex_session: path });
      const first = await env.call("POST", `/v1/tasks/${task}/cycle`, { body: {} });
      expect(first.status).toBe(200);
      env.clock.advance(20);
      appendFileSync(path, line(hostStamp(), { type: "user_message", message: "go" }) + line(hostStamp(), { type: "task_started" }));
      env.clock.advance(5);
      const busy = await env.call("POST", `/v1/tasks/${task}/cycle`, { body: { busy_wait_seconds: 90 } });
      expect(busy.body.state).toBe("busy");
      expect(Math.abs(busy.body.ingest.clock_skew_ms - skewMinutes * 60_000)).toBeLessThan(30_000);
      // Fresh: the turn started seconds ago on the server's clock, not ten minutes ago (or ahead).
      expect(busy.body.staleness_seconds).toBeGreaterThanOrEqual(5);
      expect(busy.body.staleness_seconds).toBeLessThanOrEqual(25);
      const fresh = await env.call("GET", `/v1/sessions/${worker.session.name}/idle-check?busy_wait_seconds=90`);
      expect(fresh.body).toMatchObject({ state: "busy", fresh: true, recommendation: "wait" });
      // Still busy two minutes later with nothing new: that is a stall, whichever way the clock is off.
      env.clock.advance(120);
      const stalled = await env.call("POST", `/v1/tasks/${task}/cycle`, { body: { busy_wait_seconds: 90 } });
      expect(stalled.body.staleness_seconds).toBeGreaterThan(120);
      expect(stalled.body.staleness_seconds).toBeLessThanOrEqual(145);
      const stuck = await env.call("GET", `/v1/sessions/${worker.session.name}/idle-check?busy_wait_seconds=90`);
      expect(stuck.body).toMatchObject({ state: "busy", fresh: false, recommendation: "inspect" });
    });
  }

  it("lets only the bound manager (or the owner) cycle a task", async () => {
    const path = codexRollout(env, "auth", null);
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
    const path = codexRollout(env, "tail", "");
    const w = await registerSession(env, "worker", { codex_session: path });
    writeFileSync(
      path,
      line(ago(3600), { type: "user_message", message: "secret plan" }) + line(ago(3595), { type: "task_complete", last_agent_message: "ok" }),
    );
    await env.call("POST", `/v1/sessions/${w.session.name}/ingest`);
    const red = await env.call("GET", `/v1/sessions/${w.session.name}/events`);
    expect(red.body.events.map((e: any) => e.subtype)).toEqual(["task_complete", "user_message"]);
    expect(JSON.stringify(red.body)).not.toContain("secret plan");
    const full = await env.call("GET", `/v1/sessions/${w.session.name}/events?subtype=user_message&include_content=true`);
    expect(full.body.events).toHaveLength(1);
    expect(full.body.events[0].text).toBe("secret plan");
  });

  it("idle-check recommends review after a completed turn and inspect when busy too long", async () => {
    const path = codexRollout(env, "idle", "");
    const w = await registerSession(env, "worker", { codex_session: path });
    writeFileSync(path, line(ago(10), { type: "task_started" }));
    const busy = await env.call("GET", `/v1/sessions/${w.session.name}/idle-check?busy_wait_seconds=5`);
    expect(busy.body).toMatchObject({ state: "busy", recommendation: "inspect", fresh: false });
    const fresh = await env.call("GET", `/v1/sessions/${w.session.name}/idle-check?busy_wait_seconds=60`);
    expect(fresh.body).toMatchObject({ recommendation: "wait", fresh: true });
    appendFileSync(path, line(ago(5), { type: "task_complete" }));
    const done = await env.call("GET", `/v1/sessions/${w.session.name}/idle-check`);
    expect(done.body).toMatchObject({ state: "idle", task_completed: true, recommendation: "review" });
  });
});
