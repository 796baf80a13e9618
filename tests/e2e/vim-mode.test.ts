// A manager types into a worker's pane only through nudges and interrupt follow-ups, and may send
// Escape. In Claude Code's vim mode, Escape leaves the composer in normal mode, where typed text
// is taken as keys: `i/clear` is `i` (insert) and then `/clear`, `i!cmd` opens shell mode. The
// text itself passes the slash-command check (it starts with a letter); what must stop it is that
// Enter is pressed only when the composer shows the text as typed (functions/actuate/submit.ts).
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { agentCommand, type AgentHome, capturePane, composerLine, makeClaudeConfig, startStub, type StubServer, waitFor } from "../helpers/agents.ts";
import { createTask, registerSession } from "../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";

let env: TestEnv | null = null;
let stub: StubServer | null = null;
let home: AgentHome | null = null;
let agentPid: number | null = null;
/** The tmux session spawn names for the worker `claude-vim-w`. */
const TMUX = "sy-claude-claude-vim-w";

afterEach(async () => {
  await env?.services.host?.tmuxKillSession(TMUX).catch(() => {});
  if (agentPid) await waitFor(async () => !(await env!.services.host!.pidAlive(agentPid!)) || undefined, 10_000, "agent exit").catch(() => {});
  agentPid = null;
  await stub?.close();
  home?.cleanup();
  env?.close();
  env = stub = home = null;
});

/** The transcripts Claude Code has written for the worker's folder: /clear starts a new one. */
function transcripts(h: AgentHome): string[] {
  const projects = join(h.configDir, "projects");
  if (!existsSync(projects)) return [];
  return readdirSync(projects).flatMap((d) => readdirSync(join(projects, d)).filter((f) => f.endsWith(".jsonl")));
}

const modelTurns = (s: StubServer) => s.requests.filter((r) => r.kind === "main").length;

describe("a worker's Claude Code in vim mode", () => {
  it("holds a manager's text that the composer took as keys (a slash command, shell mode) and submits plain text", async () => {
    stub = await startStub("claude", ["Hello from the stub: PONG-1", "PONG-2", "PONG-3"]);
    home = await makeClaudeConfig(stub.url, { vim: true });
    env = await makeTestEnv();
    const cmd = agentCommand("claude", home);
    env.services.agents = { claude: { command: cmd.argv, env: cmd.env } };
    const spawn = await env.call("POST", "/v1/sessions/spawn", {
      body: { name: "claude-vim-w", role: "worker", agent: "claude", cwd: home.workdir, prompt: "Say PONG please", timeout_seconds: 60 },
    });
    expect(spawn.status, JSON.stringify(spawn.body)).toBe(201);
    agentPid = spawn.body.spawn.pane_pid;
    const manager = await registerSession(env, "manager");
    const task = await createTask(env, { goal: "answer with PONG" });
    expect((await env.call("POST", "/v1/bindings", { body: { task: task.task.name, worker: "claude-vim-w", manager: manager.session.name } })).status).toBe(
      201,
    );
    const cycle = async () => (await env!.call("POST", `/v1/tasks/${task.task.name}/cycle`, { body: {} })).body;
    await waitFor(async () => (await cycle()).task_completed, 30_000, "first turn to complete");
    await waitFor(async () => (await capturePane(TMUX)).includes("-- INSERT --") || undefined, 10_000, "the composer in insert mode");
    const asManager = { token: manager.token };
    const before = transcripts(home);
    expect(before).toHaveLength(1);
    expect(modelTurns(stub)).toBe(1);

    // Escape, then a follow-up that vim reads as `i` and the text `/clear`.
    const clear = await env.call("POST", "/v1/sessions/claude-vim-w/interrupt", { ...asManager, body: { key: "Escape", followup: "i/clear" } });
    expect(clear.status, JSON.stringify(clear.body)).toBe(200);
    expect(clear.body).toMatchObject({ sent: true, followup_submitted: false });
    expect(clear.body.followup_held).toContain('the composer shows "/clear", a command the text did not start with');
    expect(composerLine(await capturePane(TMUX))).toBe("/clear");
    // Nor can the manager press Enter on what was left there.
    const enter = await env.call("POST", "/v1/sessions/claude-vim-w/interrupt", { ...asManager, body: { key: "Enter" } });
    expect(enter.status).toBe(422);
    expect(enter.body.error.code).toBe("POLICY_REFUSED");
    expect(composerLine(await capturePane(TMUX))).toBe("/clear");
    // The owner clears the composer (Ctrl-C empties it and leaves insert mode on).
    expect((await env.call("POST", "/v1/sessions/claude-vim-w/interrupt", { body: { key: "C-c" } })).status).toBe(200);
    await waitFor(async () => composerLine(await capturePane(TMUX)) === "" || undefined, 10_000, "an empty composer");

    // Escape, then a nudge that vim reads as `i` and `!…`: shell mode, a command without a permission prompt.
    const marker = join(home.workdir, "ran-by-vim");
    expect((await env.call("POST", "/v1/sessions/claude-vim-w/interrupt", { ...asManager, body: { key: "Escape" } })).status).toBe(200);
    const shell = await env.call("POST", "/v1/sessions/claude-vim-w/nudge", { ...asManager, body: { text: `i!touch ${marker}` } });
    expect(shell.status, JSON.stringify(shell.body)).toBe(200);
    expect(shell.body).toMatchObject({ sent: true, submitted: false, enter_attempts: 0 });
    expect(shell.body.held).toBe("the agent is in shell mode (its composer starts with `!`)");
    const audit = await env.call("GET", `/v1/tasks/${task.task.name}/audit?include_content=true`);
    const nudged = audit.body.events.find((e: any) => e.kind === "session_nudged" && e.payload?.command_id === shell.body.command_id);
    expect(nudged.payload.rollback_error).toContain("Enter not pressed: the agent is in shell mode");

    // Neither reached the agent: no new transcript (/clear starts one), no model turn, no file.
    expect(transcripts(home)).toEqual(before);
    expect(modelTurns(stub)).toBe(1);
    expect(existsSync(marker)).toBe(false);

    // Cleared by the owner (Ctrl-C, then Ctrl-H to leave shell mode), plain text goes through in insert mode.
    expect((await env.call("POST", "/v1/sessions/claude-vim-w/interrupt", { body: { key: "C-c" } })).status).toBe(200);
    expect((await env.call("POST", "/v1/sessions/claude-vim-w/interrupt", { body: { key: "C-h" } })).status).toBe(200);
    await waitFor(
      async () => (/^❯/m.test(await capturePane(TMUX)) && composerLine(await capturePane(TMUX)) === "" ? true : undefined),
      10_000,
      "the ordinary prompt",
    );
    const plain = await env.call("POST", "/v1/sessions/claude-vim-w/nudge", { ...asManager, body: { text: "Now say PONG-2" } });
    expect(plain.status, JSON.stringify(plain.body)).toBe(200);
    expect(plain.body).toMatchObject({ submitted: true, verified_by: "transcript" });
    expect(plain.body.held).toBeUndefined();
    await waitFor(() => modelTurns(stub!) === 2 || undefined, 20_000, "the second model turn");
    expect(existsSync(marker)).toBe(false);

    // A long text arrives as one paste, which Claude Code draws as "[Pasted text #1]": the whole
    // text went in as text, so Enter is pressed.
    await waitFor(async () => (await cycle()).task_completed, 30_000, "the second turn to complete");
    const long = "Please look at the failing test once more and fix it. ".repeat(25).trim();
    const pasted = await env.call("POST", "/v1/sessions/claude-vim-w/nudge", { ...asManager, body: { text: long } });
    expect(pasted.status, JSON.stringify(pasted.body)).toBe(200);
    expect(pasted.body).toMatchObject({ submitted: true, verified_by: "transcript" });
    await waitFor(() => modelTurns(stub!) === 3 || undefined, 20_000, "the third model turn");
    await waitFor(async () => (await cycle()).task_completed, 30_000, "the third turn to complete");
    const tail = await env.call("GET", "/v1/sessions/claude-vim-w/events?kind=user_message&include_content=true");
    const [latest, ...older] = tail.body.events.map((e: any) => e.text as string);
    expect(older).toEqual(["Now say PONG-2", "Say PONG please"]);
    // Claude Code wraps a paste in <pasted_content> tags: the whole text is inside, nothing before it.
    expect(latest!.trim()).toMatch(/^<pasted_content id="[0-9a-f]+">/);
    expect(latest!.replace(/<\/?pasted_content[^>]*>/g, "").trim()).toBe(long);
  }, 180_000);
});
