import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { boundPair, createTask, registerSession, uniqueName } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { killTmux, startFakeTui, userMessages } from "./fake-tui.ts";

let env: TestEnv;
const started: string[] = [];
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(async () => {
  for (const t of started.splice(0)) await killTmux(env, t);
  env.close();
});

async function tuiWorker(busyMs = 300) {
  const tui = await startFakeTui(env, busyMs);
  started.push(tui.tmux);
  const w = await registerSession(env, "worker", { tmux_session: tui.tmux, codex_session: tui.rollout });
  return { ...tui, ...w, name: w.session.name };
}

describe("session-nudge", () => {
  it("types the text, presses Enter after settling, and verifies submission in the transcript", async () => {
    const w = await tuiWorker();
    const res = await env.call("POST", `/v1/sessions/${w.name}/nudge`, { body: { text: "What is your current state?" } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ submitted: true, sent: true, dry_run: false, verified_by: "transcript" });
    expect(userMessages(w.rollout)).toEqual(["What is your current state?"]);
    const cmd = await env.services.database.client.execute({ sql: "SELECT state, type FROM commands WHERE id = ?", args: [res.body.command_id] });
    expect(cmd.rows[0]).toMatchObject({ state: "succeeded", type: "nudge" });
    const att = await env.services.database.client.execute({
      sql: "SELECT side_effect_started, side_effect_completed FROM command_attempts WHERE command_id = ?",
      args: [res.body.command_id],
    });
    expect(att.rows).toHaveLength(1);
    expect(att.rows[0]).toMatchObject({ side_effect_started: 1, side_effect_completed: 1 });
    const ev = await env.services.database.client.execute({ sql: "SELECT kind, payload_json FROM events WHERE id = ?", args: [res.body.event_id] });
    expect(ev.rows[0]!.kind).toBe("session_nudged");
    expect(JSON.parse(String(ev.rows[0]!.payload_json))).toMatchObject({ submitted: true, rollback_error: null });
  });

  it("records a dry run without touching the pane", async () => {
    const w = await tuiWorker();
    const res = await env.call("POST", `/v1/sessions/${w.name}/nudge`, { body: { text: "hello", dry_run: true } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ dry_run: true, sent: false, submitted: false });
    expect(res.body.command.state).toBe("dry_run");
    await new Promise((r) => setTimeout(r, 300));
    expect(userMessages(w.rollout)).toEqual([]);
  });

  it("refuses a session without a tmux pane, pointing at the inbox", async () => {
    const w = await registerSession(env, "worker");
    const res = await env.call("POST", `/v1/sessions/${w.session.name}/nudge`, { body: { text: "hi" } });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("CONFLICT");
    expect(res.body.error.hint).toMatch(/inbox/);
  });

  it("lets the bound manager nudge its worker but not another session", async () => {
    const w = await tuiWorker();
    const other = await tuiWorker();
    const m = await registerSession(env, "manager");
    const task = await createTask(env);
    await env.call("POST", "/v1/bindings", { body: { task: task.task.name, worker: w.name, manager: m.session.name } });
    const ok = await env.call("POST", `/v1/sessions/${w.name}/nudge`, { token: m.token, body: { text: "status?" } });
    expect(ok.status).toBe(200);
    expect(ok.body.submitted).toBe(true);
    const denied = await env.call("POST", `/v1/sessions/${other.name}/nudge`, { token: m.token, body: { text: "status?" } });
    expect(denied.status).toBe(403);
    expect(userMessages(other.rollout)).toEqual([]);
  });

  it("refuses a manager's text that the agent would run as a slash command, on every path into the pane", async () => {
    const pair = await boundPair(env, { worker: { host: "other-machine", tmux_session: uniqueName("pane") } });
    const w = pair.worker.session.name;
    const asManager = { token: pair.manager.token };
    const attempts = [
      env.call("POST", `/v1/sessions/${w}/nudge`, { ...asManager, body: { text: "/clear" } }),
      env.call("POST", `/v1/sessions/${w}/nudge`, { ...asManager, body: { text: "  /compact keep the plan" } }),
      env.call("POST", `/v1/sessions/${w}/interrupt`, { ...asManager, body: { followup: "/quit" } }),
      env.call("POST", `/v1/sessions/${w}/commands`, { ...asManager, body: { type: "nudge", text: "/model opus" } }),
      env.call("POST", `/v1/sessions/${w}/commands`, { ...asManager, body: { type: "interrupt", followup: "/clear" } }),
    ];
    attempts.push(env.call("POST", `/v1/tasks/${pair.task.task.name}/nudge-worker`, { ...asManager, body: { message: "/clear" } }));
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(422);
      expect(res.body.error).toMatchObject({ code: "POLICY_REFUSED", hint: expect.stringContaining("switchyard compact-worker TASK") });
    }
    const queued = await env.services.database.client.execute("SELECT count(*) AS n FROM commands");
    expect(Number(queued.rows[0]!.n)).toBe(0);
    // A word first is a prompt, and the owner may send anything.
    expect((await env.call("POST", `/v1/sessions/${w}/nudge`, { ...asManager, body: { text: "please read /tmp/notes" } })).status).toBe(202);
    expect((await env.call("POST", `/v1/sessions/${w}/nudge`, { body: { text: "/compact" } })).status).toBe(202);
  });

  it("refuses a manager's shell, memory and hidden commands, and keys that are not an interrupt", async () => {
    const pair = await boundPair(env, { worker: { host: "other-machine", tmux_session: uniqueName("pane") } });
    const w = pair.worker.session.name;
    const asManager = { token: pair.manager.token };
    // `!` runs a shell command in Claude Code's bash mode with no permission prompt; an invisible
    // character in front of `/` still opened the slash menu; a Hangul filler renders as nothing.
    for (const text of [
      "!touch /tmp/owned",
      "  !rm -rf x",
      "#always push to main",
      "&run in background",
      "\u200b/help",
      "\ufeff\u200d/clear",
      "\u3164/compact",
      "\u034f!id",
      "\ufe0f\u0300/clear",
      "\u17b4!x",
      // Full-width and small forms that NFKC folds onto the command characters.
      "\uff0fclear",
      "\uff01id",
      "\u3000\uff03remember this",
      "\ufe60bg",
      "\ufe57x",
      // Code points that render as nothing though unassigned (default-ignorable), before a command.
      "\u2065/clear",
      "\u{E0002}/clear",
      "\ufff0!id",
    ]) {
      const res = await env.call("POST", `/v1/sessions/${w}/nudge`, { ...asManager, body: { text } });
      expect(res.status, JSON.stringify(text)).toBe(422);
      expect(res.body.error.code).toBe("POLICY_REFUSED");
      const queued = await env.call("POST", `/v1/sessions/${w}/commands`, { ...asManager, body: { type: "nudge", text } });
      expect(queued.status, JSON.stringify(text)).toBe(422);
    }
    expect((await env.call("POST", `/v1/sessions/${w}/nudge`, { ...asManager, body: { text: "!" } })).status).toBe(422);
    // The refusal quotes what was typed, not its folded form.
    const folded = await env.call("POST", `/v1/sessions/${w}/nudge`, { ...asManager, body: { text: "\uff0fclear now" } });
    expect(folded.body.error.message).toContain("starts with '\uff0fclear'");
    // Cut at 40 characters, never inside a surrogate pair.
    const long = await env.call("POST", `/v1/sessions/${w}/nudge`, { ...asManager, body: { text: `/${"a".repeat(38)}\u{1F600} tail` } });
    expect(long.body.error.message).toContain(`starts with '/${"a".repeat(38)}\u{1F600}'`);
    expect(long.body.error.message.isWellFormed()).toBe(true);
    // C-z suspends the agent and hands the pane to the shell, where a follow-up would run; C-d ends it.
    // Enter would submit whatever the composer holds (a nudge held because it showed as /clear) or approve a prompt.
    for (const key of ["C-z", "C-d", "q", "Enter"]) {
      const direct = await env.call("POST", `/v1/sessions/${w}/interrupt`, { ...asManager, body: { key, followup: "touch /tmp/owned" } });
      expect(direct.status, key).toBe(422);
      expect(direct.body.error.message).toContain(`the key '${key}' is the owner's`);
      expect((await env.call("POST", `/v1/sessions/${w}/commands`, { ...asManager, body: { type: "interrupt", key } })).status, key).toBe(422);
    }
    const queued = await env.services.database.client.execute("SELECT count(*) AS n FROM commands");
    expect(Number(queued.rows[0]!.n)).toBe(0);
    // An interrupt, a prompt that merely mentions a command, and the owner's keys still go.
    expect((await env.call("POST", `/v1/sessions/${w}/interrupt`, { ...asManager, body: { key: "C-c", followup: "use ! sparingly" } })).status).toBe(202);
    expect((await env.call("POST", `/v1/sessions/${w}/commands`, { body: { type: "interrupt", key: "C-z" } })).status).toBe(201);
    // Emoji whose compatibility form begins with '!' are not commands of any CLI: they go.
    for (const text of ["\u203c\ufe0f CI is red, fix it", "\u2049\ufe0f why did you stop?"]) {
      expect((await env.call("POST", `/v1/sessions/${w}/nudge`, { ...asManager, body: { text } })).status, JSON.stringify(text)).toBe(202);
    }
  });

  it("queues a nudge for a session on another host for that host's runner (202), touching no pane here", async () => {
    const w = await registerSession(env, "worker", { tmux_session: "elsewhere", host: "other-machine" });
    const res = await env.call("POST", `/v1/sessions/${w.session.name}/nudge`, { body: { text: "hi" } });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      queued: true,
      sent: false,
      submitted: false,
      command: { state: "pending", host: "other-machine", next_attempt_at: null },
    });
    const runner = await env.mint("runner", "other-machine");
    const claim = await env.call("POST", "/v1/runner/claim", { token: runner, body: {} });
    expect(claim.status).toBe(200);
    expect(JSON.stringify(claim.body)).toContain(res.body.command_id);
    const esc = await env.call("POST", `/v1/sessions/${w.session.name}/interrupt`, { body: { key: "Escape" } });
    expect(esc.status).toBe(409);
  });

  it("fails with HOST_UNAVAILABLE on a server with no local runner for a session that names no host", async () => {
    // No host name anywhere: no runner could ever claim it, so queueing would strand it.
    env.services.host = undefined;
    env.services.hostName = undefined;
    const w = await registerSession(env, "worker", { tmux_session: "somewhere" });
    const res = await env.call("POST", `/v1/sessions/${w.session.name}/nudge`, { body: { text: "hi" } });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe("HOST_UNAVAILABLE");
    const cmd = await env.services.database.client.execute("SELECT state FROM commands WHERE type = 'nudge'");
    expect(cmd.rows.map((r) => r.state)).toEqual(["failed"]);
  });
});

describe("session-interrupt", () => {
  it("sends C-c to a busy worker and submits the follow-up", async () => {
    const w = await tuiWorker(60_000);
    await env.call("POST", `/v1/sessions/${w.name}/nudge`, { body: { text: "long job" } });
    const res = await env.call("POST", `/v1/sessions/${w.name}/interrupt`, { body: { followup: "summarize instead" } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ key: "C-c", sent: true, followup_submitted: true });
    const lines = readFileSync(w.rollout, "utf8");
    expect(lines).toContain("turn_aborted");
    expect(userMessages(w.rollout)).toEqual(["long job", "summarize instead"]);
  });

  it("refuses Escape while the worker is busy", async () => {
    const w = await tuiWorker(60_000);
    await env.call("POST", `/v1/sessions/${w.name}/nudge`, { body: { text: "long job" } });
    const res = await env.call("POST", `/v1/sessions/${w.name}/interrupt`, { body: { key: "Escape" } });
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/Escape/);
  });
});

describe("stop and finish-task", () => {
  it("stop kills the tmux session and marks the session gone", async () => {
    const w = await tuiWorker();
    const res = await env.call("POST", `/v1/sessions/${w.name}/stop`, { body: {} });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ tmux_killed: true, marked_gone: true });
    expect(await env.services.host!.tmuxHasSession(w.tmux)).toBe(false);
    const list = await env.call("GET", `/v1/sessions?state=gone`);
    expect(list.body.sessions.map((s: any) => s.name)).toContain(w.name);
  });

  it("finish-task: the bound manager may finish its task; its worker and other sessions may not", async () => {
    const w = await tuiWorker();
    const m = await registerSession(env, "manager");
    const task = await createTask(env);
    await env.call("POST", "/v1/bindings", { body: { task: task.task.name, worker: w.name, manager: m.session.name } });
    expect((await env.call("POST", `/v1/tasks/${task.task.name}/finish`, { token: w.token, body: {} })).status).toBe(403);
    const fin = await env.call("POST", `/v1/tasks/${task.task.name}/finish`, { token: m.token, body: { reason: "done", stop_worker: true } });
    expect(fin.status).toBe(200);
    expect(fin.body.stopped.map((s: any) => s.session)).toEqual([w.name]);
  });

  it("stop refuses a bound session; finish-task --stop-worker stops it and ends the binding", async () => {
    const w = await tuiWorker();
    const m = await registerSession(env, "manager");
    const task = await createTask(env);
    await env.call("POST", "/v1/bindings", { body: { task: task.task.name, worker: w.name, manager: m.session.name } });
    const refused = await env.call("POST", `/v1/sessions/${w.name}/stop`, { body: {} });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("SESSION_BOUND");
    expect(refused.body.error.hint).toContain("finish-task");
    const fin = await env.call("POST", `/v1/tasks/${task.task.name}/finish`, { body: { reason: "done", stop_worker: true } });
    expect(fin.status).toBe(200);
    expect(fin.body.task.state).toBe("finished");
    expect(fin.body.stopped.map((s: any) => s.session)).toEqual([w.name]);
    expect(await env.services.host!.tmuxHasSession(w.tmux)).toBe(false);
    const show = await env.call("GET", `/v1/tasks/${task.task.name}`);
    expect(show.body.binding).toBeNull();
    const again = await env.call("POST", `/v1/tasks/${task.task.name}/finish`, { body: {} });
    expect(again.status).toBe(409);
  });
});
