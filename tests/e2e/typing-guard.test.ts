// What a manager types into its worker's pane must reach the agent as a prompt, never as keys.
// A manager types into a worker's pane only through nudges and interrupt follow-ups, and may send
// Escape. In Claude Code's vim mode, Escape leaves the composer in normal mode, where typed text
// is taken as keys: `i/clear` is `i` (insert) and then `/clear`, `i!cmd` opens shell mode. The
// text itself passes the slash-command check (it starts with a letter); what must stop it is that
// Enter is pressed only when the composer shows the text as typed (functions/actuate/submit.ts).
import { cpSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  agentCommand,
  type AgentHome,
  capturePane,
  composerLine,
  makeClaudeConfig,
  makeCodexHome,
  processTree,
  startStub,
  type StubServer,
  submitPrompt,
  tmux,
  waitFor,
  waitForPane,
  wrapWithEnv,
} from "../helpers/agents.ts";
import { createTask, registerSession } from "../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";

let env: TestEnv | null = null;
let stub: StubServer | null = null;
let home: AgentHome | null = null;
let agentPid: number | null = null;
/** The tmux sessions spawn names for the workers `claude-vim-w` and `codex-ask-w`. */
const TMUX = "sy-claude-claude-vim-w";
const CODEX_TMUX = "sy-codex-codex-ask-w";
/** A shell started by the test, with Codex run from it, as a person starts an agent by hand. */
const SHELL_TMUX = `sy-typing-guard-shell-${process.pid}`;

afterEach(async () => {
  await env?.services.host?.tmuxKillSession(TMUX).catch(() => {});
  await env?.services.host?.tmuxKillSession(CODEX_TMUX).catch(() => {});
  await tmux(["kill-session", "-t", `=${SHELL_TMUX}`]).catch(() => {});
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

/**
 * Codex started by hand from a bash whose prompt is like starship's or pure's (its `❯` at the
 * first column looks like Claude Code's composer), after one turn, registered as the worker
 * `shell-w` by the native binary's pid and bound to a new manager: that manager's registration.
 */
async function codexInShell() {
  stub = await startStub("codex", ["PONG-1"]);
  home = await makeCodexHome(stub.url);
  env = await makeTestEnv();
  // Under the test host's transcript roots, where registration accepts the rollout.
  const codexHome = join(env.dir, "codex-home");
  cpSync(home.configDir, codexHome, { recursive: true });
  home.env.CODEX_HOME = codexHome;
  await tmux(["new-session", "-d", "-s", SHELL_TMUX, "-x", "200", "-y", "50", "-c", home.workdir, "env", "PS1=\n❯ ", "bash", "--norc", "--noprofile"]);
  const shellPid = Number((await tmux(["display-message", "-p", "-t", SHELL_TMUX, "#{pane_pid}"])).trim());
  const quoted = wrapWithEnv(agentCommand("codex", home)).map((a) => `'${a.replaceAll("'", "'\\''")}'`);
  await tmux(["send-keys", "-t", SHELL_TMUX, "-l", "--", quoted.join(" ")]);
  await tmux(["send-keys", "-t", SHELL_TMUX, "Enter"]);
  await waitForPane(SHELL_TMUX, /^› /m, 60_000);
  await submitPrompt(SHELL_TMUX, "Say PONG");
  await waitFor(() => stub!.served === 1 || undefined, 20_000, "the first turn");
  // The native Codex binary, which holds the rollout open (a launcher may sit between it and the shell).
  agentPid = processTree(shellPid).find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "codex";
    } catch {
      return false;
    }
  })!;
  const reg = await env.call("POST", "/v1/sessions", { body: { name: "shell-w", role: "worker", tmux_session: SHELL_TMUX, pid: agentPid } });
  expect(reg.status, JSON.stringify(reg.body)).toBe(201);
  const manager = await registerSession(env, "manager");
  const task = await createTask(env, { goal: "g" });
  expect((await env.call("POST", "/v1/bindings", { body: { task: task.task.name, worker: "shell-w", manager: manager.session.name } })).status).toBe(201);
  return { manager };
}

/** Spawns `name` running `kind` from `home` with `prompt`, binds it to a new manager on a new task; the manager's token and the task. */
async function spawnBoundWorker(kind: "claude" | "codex", name: string, prompt: string) {
  const cmd = agentCommand(kind, home!);
  env!.services.agents = { [kind]: { command: cmd.argv, env: cmd.env } };
  const spawn = await env!.call("POST", "/v1/sessions/spawn", { body: { name, role: "worker", agent: kind, cwd: home!.workdir, prompt, timeout_seconds: 60 } });
  expect(spawn.status, JSON.stringify(spawn.body)).toBe(201);
  agentPid = spawn.body.spawn.pane_pid;
  const manager = await registerSession(env!, "manager");
  const task = await createTask(env!, { goal: prompt });
  expect((await env!.call("POST", "/v1/bindings", { body: { task: task.task.name, worker: name, manager: manager.session.name } })).status).toBe(201);
  return { asManager: { token: manager.token }, task: task.task.name as string };
}

describe("a worker's Claude Code in vim mode", () => {
  it("holds a manager's text that the composer took as keys (a slash command, shell mode) and submits plain text", async () => {
    stub = await startStub("claude", ["Hello from the stub: PONG-1", "PONG-2", "PONG-3"]);
    home = await makeClaudeConfig(stub.url, { vim: true });
    env = await makeTestEnv();
    const { asManager, task } = await spawnBoundWorker("claude", "claude-vim-w", "Say PONG please");
    const cycle = async () => (await env!.call("POST", `/v1/tasks/${task}/cycle`, { body: {} })).body;
    await waitFor(async () => (await cycle()).task_completed, 30_000, "first turn to complete");
    await waitFor(async () => (await capturePane(TMUX)).includes("-- INSERT --") || undefined, 10_000, "the composer in insert mode");
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

    // A blank first line would leave nothing to compare: `o` opens line 2 for `/clear`, and
    // Claude Code drops the empty line 1 when it submits. Leading blanks are not typed at all.
    const blank = await env.call("POST", "/v1/sessions/claude-vim-w/interrupt", { ...asManager, body: { key: "Escape", followup: "\no/clear" } });
    expect(blank.status, JSON.stringify(blank.body)).toBe(200);
    expect(blank.body).toMatchObject({ followup_submitted: false, followup_held: 'the composer shows "", not the text as typed' });
    expect((await env.call("POST", "/v1/sessions/claude-vim-w/interrupt", { body: { key: "C-c" } })).status).toBe(200);
    await waitFor(async () => composerLine(await capturePane(TMUX)) === "" || undefined, 10_000, "an empty composer");

    // Escape, then a nudge that vim reads as `i` and `!…`: shell mode, a command without a permission prompt.
    const marker = join(home.workdir, "ran-by-vim");
    expect((await env.call("POST", "/v1/sessions/claude-vim-w/interrupt", { ...asManager, body: { key: "Escape" } })).status).toBe(200);
    const shell = await env.call("POST", "/v1/sessions/claude-vim-w/nudge", { ...asManager, body: { text: `i!touch ${marker}` } });
    expect(shell.status, JSON.stringify(shell.body)).toBe(200);
    expect(shell.body).toMatchObject({ sent: true, submitted: false, enter_attempts: 0 });
    expect(shell.body.held).toBe("the agent is in shell mode (its composer starts with `!`)");
    const audit = await env.call("GET", `/v1/tasks/${task}/audit?include_content=true`);
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

  it("types nothing while the worker's Codex shows an approval menu: the `y` of 'yes, carry on' would approve the command", async () => {
    stub = await startStub("codex", [{ shell: "touch APPROVED-BY-NUDGE", escalate: true }, "done"]);
    home = await makeCodexHome(stub.url, { approvalPolicy: "on-request", sandbox: "workspace-write" });
    env = await makeTestEnv();
    const { asManager, task } = await spawnBoundWorker("codex", "codex-ask-w", "run the command");
    await waitForPane(CODEX_TMUX, /1\. Yes, proceed/, 30_000);
    const marker = join(home.workdir, "APPROVED-BY-NUDGE");

    const nudge = await env.call("POST", "/v1/sessions/codex-ask-w/nudge", { ...asManager, body: { text: "yes, carry on" } });
    expect(nudge.status, JSON.stringify(nudge.body)).toBe(200);
    expect(nudge.body).toMatchObject({ sent: false, submitted: false, enter_attempts: 0 });
    expect(nudge.body.held).toBe("the pane shows a menu: › 1. Yes, proceed (y); typed text would answer it");
    await new Promise((r) => setTimeout(r, 1500));
    expect(existsSync(marker)).toBe(false);
    expect(await capturePane(CODEX_TMUX)).not.toContain("You approved");
    const audit = await env.call("GET", `/v1/tasks/${task}/audit?include_content=true`);
    const nudged = audit.body.events.find((e: any) => e.kind === "session_nudged" && e.payload?.command_id === nudge.body.command_id);
    expect(nudged.payload).toMatchObject({ sent: false, submitted: false, rollback_error: null });
    expect(nudged.payload.held).toContain("the pane shows a menu");
  }, 180_000);

  it("types nothing into the shell an agent quit to, even behind a `❯` prompt: an idle Codex exits on the C-c before a follow-up", async () => {
    const { manager } = await codexInShell();
    const marker = join(home!.workdir, "ran-in-the-shell");
    const r = await env!.call("POST", "/v1/sessions/shell-w/interrupt", {
      token: manager.token,
      body: { key: "C-c", followup: `touch ${marker}; echo RAN-IN-THE-SHELL` },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({
      followup_submitted: false,
      followup_held: `after C-c, the agent (pid ${agentPid}) is no longer running; nothing was typed`,
    });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(existsSync(marker)).toBe(false);
    expect(await capturePane(SHELL_TMUX)).not.toContain("RAN-IN-THE-SHELL");
  }, 180_000);

  it("types nothing while the agent is suspended and its shell has the terminal: the text would be a shell command", async () => {
    const { manager } = await codexInShell();
    // What the terminal does on C-z in cooked mode: stop the foreground job, whose shell then
    // takes the terminal back and draws its prompt.
    const group = Number(readFileSync(`/proc/${agentPid}/stat`, "utf8").split(") ")[1]!.split(" ")[2]);
    process.kill(-group, "SIGTSTP");
    try {
      await waitForPane(SHELL_TMUX, /Stopped/, 10_000);
      const marker = join(home!.workdir, "ran-while-suspended");
      const nudge = await env!.call("POST", "/v1/sessions/shell-w/nudge", {
        token: manager.token,
        body: { text: `touch ${marker}; echo RAN-WHILE-SUSPENDED` },
      });
      expect(nudge.status, JSON.stringify(nudge.body)).toBe(200);
      expect(nudge.body).toMatchObject({ sent: false, submitted: false, enter_attempts: 0 });
      expect(nudge.body.held).toBe(`the agent (pid ${agentPid}) is stopped (suspended, as by C-z); typed text would go to its shell`);
      const followup = await env!.call("POST", "/v1/sessions/shell-w/interrupt", {
        token: manager.token,
        body: { key: "Escape", followup: `touch ${marker}` },
      });
      expect(followup.status, JSON.stringify(followup.body)).toBe(200);
      expect(followup.body, JSON.stringify(followup.body)).toMatchObject({
        followup_submitted: false,
        followup_held: `after Escape, the agent (pid ${agentPid}) is stopped (suspended, as by C-z); typed text would go to its shell; nothing was typed`,
      });
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(existsSync(marker)).toBe(false);
      expect(await capturePane(SHELL_TMUX)).not.toContain(marker);
    } finally {
      process.kill(-group, "SIGCONT");
    }
  }, 180_000);
});
