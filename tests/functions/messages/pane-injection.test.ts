// Messages must never become keystrokes in a pane their sender could not nudge, and text typed
// into any pane is literal: ESC and Ctrl-C inside a body arrive as nothing, never as keys.
import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DISPATCH_PLUGINS } from "../../../functions/executors.ts";
import { makeCtx } from "../../../functions/lib/ctx.ts";
import { dispatchPass } from "../../../functions/queue/dispatch-pass.ts";
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

/** The rollout's records of one kind (the fake TUI writes Codex-format event_msg lines). */
const records = (rollout: string, type: string) =>
  readFileSync(rollout, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((l) => l.payload?.type === type);

/** A worker agent in tmux, busy for a long turn, bound to a manager on task A; and a session of task B. */
async function setup() {
  const tui = await startFakeTui(env, 30_000);
  started.push(tui.tmux);
  const worker = await registerSession(env, "worker", { tmux_session: tui.tmux, codex_session: tui.rollout });
  // The manager's pane is on another machine: whether an item would be typed into it is decided here.
  const manager = await registerSession(env, "manager", { host: "mgr-box", tmux_session: "mgr-pane" });
  const taskA = await createTask(env);
  expect((await env.call("POST", "/v1/bindings", { body: { task: taskA.task.name, worker: worker.session.name, manager: manager.session.name } })).status).toBe(
    201,
  );
  const stranger = await registerSession(env, "worker");
  const other = await createTask(env);
  const otherManager = await registerSession(env, "manager");
  await env.call("POST", "/v1/bindings", { body: { task: other.task.name, worker: stranger.session.name, manager: otherManager.session.name } });
  // Start a long turn, so an interrupt would show as turn_aborted.
  const busy = await env.call("POST", `/v1/sessions/${worker.session.name}/nudge`, { body: { text: "start the long job" } });
  expect(busy.body.submitted).toBe(true);
  return { tui, worker, manager, stranger, taskA };
}

async function dispatch() {
  return dispatchPass(makeCtx(env.services, { kind: "daemon", tokenId: "tok_dispatch" }), DISPATCH_PLUGINS, { dispatcherId: "d-test", pid: process.pid });
}

describe("push delivery into panes", () => {
  it("puts another task's session's message in the inbox only: no deliver command, nothing typed, no Ctrl-C or Escape", async () => {
    const { tui, worker, stranger } = await setup();
    const res = await env.call("POST", "/v1/messages", { token: stranger.token, body: { to: worker.session.name, body: "\x03\x1b stop everything \x03" } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ delivery_mode: "pull_required", delivery_command_id: null });
    const ev = await env.services.database.client.execute({ sql: "SELECT payload_json FROM events WHERE id = ?", args: [res.body.event_id] });
    expect(JSON.parse(String(ev.rows[0]!.payload_json))).toMatchObject({ delivery: "pull_required", push_refused: expect.any(String) });
    await dispatch();
    await new Promise((r) => setTimeout(r, 500));
    expect(records(tui.rollout, "turn_aborted")).toEqual([]);
    expect(records(tui.rollout, "user_message").map((r) => r.payload.message)).toEqual(["start the long job"]);
    const deliveries = await env.services.database.client.execute("SELECT count(*) AS n FROM commands WHERE type = 'deliver'");
    expect(Number(deliveries.rows[0]!.n)).toBe(0);
    // It is still readable by polling, control bytes and all: only panes get literal text.
    const inbox = await env.call("GET", `/v1/sessions/${worker.session.name}/inbox`, { token: worker.token });
    expect(inbox.body.items[0].payload.body).toBe("\x03\x1b stop everything \x03");
  });

  it("types an authorised message as literal text: ESC and Ctrl-C in the body never reach the agent as keys", async () => {
    const { tui, worker } = await setup();
    const res = await env.call("POST", "/v1/messages", { body: { to: worker.session.name, body: "please\x03 look\x1b[2J at \x1b]0;x\x07this" } });
    expect(res.body.delivery_command_id).toMatch(/^cmd_/);
    const pass = await dispatch();
    expect(pass).toBeTruthy();
    const typed = records(tui.rollout, "user_message").map((r) => r.payload.message as string);
    expect(typed).toHaveLength(2);
    expect(typed[1]).toMatch(/please look at this$/);
    expect(typed[1]).not.toMatch(/[\x00-\x1f\x7f]/);
    expect(records(tui.rollout, "turn_aborted")).toEqual([]);
  });

  it("pushes a task signal only when its sender may nudge the target: the manager into its worker, never the worker into its manager", async () => {
    const { worker, manager, taskA } = await setup();
    const up = await env.call("POST", `/v1/tasks/${taskA.task.name}/notify-manager`, { token: worker.token, body: { message: "I am stuck" } });
    const down = await env.call("POST", `/v1/tasks/${taskA.task.name}/nudge-worker`, { token: manager.token, body: { message: "rebase first" } });
    expect([up.status, down.status]).toEqual([201, 201]);
    await dispatch();
    const items = await env.services.database.client.execute(
      "SELECT signal_type, delivery_command_id FROM inbox_items WHERE signal_type IN ('notify_manager', 'nudge_worker') ORDER BY signal_type",
    );
    expect(items.rows.map((r) => [r.signal_type, r.delivery_command_id === null ? "pull" : "push"])).toEqual([
      ["notify_manager", "pull"],
      ["nudge_worker", "push"],
    ]);
  });

  it("refuses control bytes in a nudge, an interrupt follow-up and a queued nudge, pointing at the interrupt route", async () => {
    const { worker } = await setup();
    for (const [path, body] of [
      [`/v1/sessions/${worker.session.name}/nudge`, { text: "hi\x1b" }],
      [`/v1/sessions/${worker.session.name}/interrupt`, { followup: "go\x03" }],
      [`/v1/sessions/${worker.session.name}/commands`, { type: "nudge", text: "\x1b[B" }],
    ] as const) {
      const res = await env.call("POST", path, { body });
      expect(res.status, path).toBe(400);
      expect(res.body.error.fields[0].message).toMatch(/session-interrupt/);
    }
  });

  it("lets neither another task's session nor the daemon queue keystrokes for a pane", async () => {
    const { worker, stranger } = await setup();
    const daemon = await env.mint("daemon");
    for (const token of [stranger.token, daemon]) {
      const res = await env.call("POST", `/v1/sessions/${worker.session.name}/commands`, { token, body: { type: "interrupt" } });
      expect(res.status).toBe(403);
    }
    const cmds = await env.services.database.client.execute("SELECT count(*) AS n FROM commands WHERE type = 'interrupt'");
    expect(Number(cmds.rows[0]!.n)).toBe(0);
  });
});
