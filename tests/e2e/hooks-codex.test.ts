// The real Codex CLI in real tmux against the loopback model stub, with Switchyard's hooks
// installed (and trusted) by `switchyard hooks install`: its events land for the registered
// session the same way Claude's do, a permission wait reaches the manager, and the Stop routes
// the completion. No cron or poll runs here.
import { afterEach, describe, expect, it } from "vitest";
import { agentCommand, makeCodexHome, startStub, submitPrompt, tmux, waitFor, waitForPane, type AgentHome, type StubServer } from "../helpers/agents.ts";
import { createTask, registerSession } from "../helpers/factories.ts";
import { cliWithEnv, serveApp } from "../helpers/hooks.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";

let env: TestEnv | null = null;
let stub: StubServer | null = null;
let home: AgentHome | null = null;
let server: { url: string; close(): Promise<void> } | null = null;
let tmuxName: string | null = null;
let agentPid: number | null = null;

afterEach(async () => {
  if (tmuxName) await env?.services.host?.tmuxKillSession(tmuxName).catch(() => {});
  if (agentPid) await waitFor(async () => !(await env!.services.host!.pidAlive(agentPid!)) || undefined, 10_000, "agent exit").catch(() => {});
  agentPid = null;
  await server?.close();
  await stub?.close();
  home?.cleanup();
  env?.close();
  env = stub = home = server = tmuxName = null;
});

describe("Codex with Switchyard's hooks", () => {
  it("posts its hook events for the registered session: prompt, permission wait, completion", async () => {
    stub = await startStub("codex", [
      "Hello from the stub: PONG-1",
      { shell: "echo TOOL-OUTPUT-42 > proof.txt && cat proof.txt", escalate: true },
      "Ran it: TOOL-DONE",
    ]);
    home = await makeCodexHome(stub.url, { sandbox: "workspace-write" });
    env = await makeTestEnv();
    server = await serveApp(env);
    const install = await cliWithEnv(["hooks", "install", "--agent", "codex", "--hook-url", server.url, "--home", env.dir], {
      CODEX_HOME: home.configDir,
      HOME: home.home,
    });
    expect(install.code, install.out + install.err).toBe(0);

    const cmd = agentCommand("codex", home);
    env.services.agents = { codex: { command: cmd.argv, env: cmd.env } };
    const spawn = await env.call("POST", "/v1/sessions/spawn", {
      body: { name: "codex-w", role: "worker", agent: "codex", cwd: home.workdir, prompt: "Say PONG please", timeout_seconds: 90 },
    });
    tmuxName = "sy-codex-codex-w";
    expect(spawn.status, JSON.stringify(spawn.body)).toBe(201);
    agentPid = spawn.body.spawn.pane_pid;
    const target = `${tmuxName}:0.0`;
    await waitForPane(target, /PONG-1/, 60_000);

    const manager = await registerSession(env, "manager");
    const task = await createTask(env, { goal: "prove the hooks" });
    expect((await env.call("POST", "/v1/bindings", { body: { task: task.task.name, worker: "codex-w", manager: manager.session.name } })).status).toBe(201);
    const inbox = async () => (await env!.call("GET", `/v1/sessions/${manager.session.name}/inbox?limit=100`, { token: manager.token })).body.items as any[];

    await submitPrompt(target, "Run the proof command");
    const wait = await waitFor(async () => (await inbox()).find((i) => i.payload.kind === "permission_wait"), 60_000, "permission item");
    expect(wait.payload.message).toContain("echo TOOL-OUTPUT-42");
    await waitForPane(target, /Would you like to run the following command|Press enter to confirm/, 30_000);
    await tmux(["send-keys", "-t", target, "Enter"]);
    await waitForPane(target, /TOOL-DONE/, 60_000);
    const done = await waitFor(
      async () => (await inbox()).find((i) => i.signal_type === "worker_task_complete" && i.payload.source === "hook"),
      10_000,
      "completion item",
    );
    expect(done.payload.last_agent_message).toContain("TOOL-DONE");
    expect(done.payload.turn_id).toBeTruthy();

    const events = (await env.call("GET", "/v1/sessions/codex-w/hook-events?limit=100")).body.events;
    expect(new Set(events.map((e: any) => e.event))).toEqual(new Set(["UserPromptSubmit", "PreToolUse", "PermissionRequest", "PostToolUse", "Stop"]));
    // Codex's session id is the thread id that ends the rollout's file name.
    const thread = events[0].agent_session_id as string;
    expect(spawn.body.session.transcript_path).toMatch(new RegExp(`${thread}\\.jsonl$`));
    expect(events.every((e: any) => e.agent === "codex" && e.agent_session_id === thread)).toBe(true);
    const state = (await env.call("GET", "/v1/sessions/codex-w/hook-state")).body.hook_state;
    expect(state).toMatchObject({ state: "idle", event: "Stop", agent: "codex" });
  }, 300_000);
});
