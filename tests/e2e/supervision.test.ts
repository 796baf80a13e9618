// End to end with the real agent CLIs in real tmux, driven only through Switchyard's API:
// spawn (trust prompt accepted on request) -> registration finds the transcript from the pane
// pid -> a verified nudge -> cycle reports busy, then idle with task_completed.
import { afterEach, describe, expect, it } from "vitest";
import { agentCommand, makeClaudeConfig, makeCodexHome, startStub, waitFor, type AgentHome, type AgentKind, type StubServer } from "../helpers/agents.ts";
import { registerSession, createTask } from "../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";

let env: TestEnv | null = null;
let stub: StubServer | null = null;
let home: AgentHome | null = null;
let tmuxName: string | null = null;

let agentPid: number | null = null;

afterEach(async () => {
  if (tmuxName) await env?.services.host?.tmuxKillSession(tmuxName).catch(() => {});
  // The agent may still be writing into its config dir as it exits; wait before deleting it.
  if (agentPid) await waitFor(async () => !(await env!.services.host!.pidAlive(agentPid!)) || undefined, 10_000, "agent exit").catch(() => {});
  agentPid = null;
  await stub?.close();
  home?.cleanup();
  env?.close();
  env = stub = home = tmuxName = null;
});

async function cycle(task: string) {
  const res = await env!.call("POST", `/v1/tasks/${task}/cycle`, { body: {} });
  expect(res.status).toBe(200);
  return res.body;
}

async function superviseEndToEnd(kind: AgentKind) {
  stub = await startStub(kind, ["Hello from the stub: PONG-1", { text: "slow reply PONG-2", delayMs: 6000 }]);
  // An untrusted folder (a git repo for Codex, which only asks about repositories).
  home = kind === "codex" ? await makeCodexHome(stub.url, { trust: false, git: true }) : await makeClaudeConfig(stub.url, { trust: false });
  env = await makeTestEnv();
  const cmd = agentCommand(kind, home);
  env.services.agents = { [kind]: { command: cmd.argv, env: cmd.env } };

  const spawn = await env.call("POST", "/v1/sessions/spawn", {
    body: { name: `${kind}-w`, role: "worker", agent: kind, cwd: home.workdir, prompt: "Say PONG please", accept_trust: true, timeout_seconds: 60 },
  });
  tmuxName = `sy-${kind}-${kind}-w`;
  expect(spawn.status, JSON.stringify(spawn.body)).toBe(201);
  expect(spawn.body.spawn).toMatchObject({ trust_prompt_seen: true, trust_accepted: true });
  expect(spawn.body.session.transcript_kind).toBe(kind);
  expect(spawn.body.session.pid).toBe(spawn.body.spawn.pane_pid);
  agentPid = spawn.body.spawn.pane_pid;

  const manager = await registerSession(env, "manager");
  const task = await createTask(env, { goal: "answer with PONG" });
  expect((await env.call("POST", "/v1/bindings", { body: { task: task.task.name, worker: `${kind}-w`, manager: manager.session.name } })).status).toBe(201);

  // The first (fast) turn completes on its own.
  await waitFor(async () => (await cycle(task.task.name)).task_completed, 30_000, "first turn to complete");

  const nudge = await env.call("POST", `/v1/sessions/${kind}-w/nudge`, { body: { text: "Now a slow one" } });
  expect(nudge.status).toBe(200);
  expect(nudge.body).toMatchObject({ submitted: true, verified_by: "transcript" });

  const busy = await cycle(task.task.name);
  expect(busy).toMatchObject({ state: "busy", task_completed: false, worker_alive: true });
  expect(busy.pane_signal.captured).toBe(true);

  const done = await waitFor(
    async () => {
      const c = await cycle(task.task.name);
      return c.state === "idle" && c.task_completed ? c : undefined;
    },
    30_000,
    "slow turn to complete",
  );
  expect(done.last_event_subtype).toMatch(/task_complete|end_turn/);
  expect(done.manager_context.last_worker_message).toContain("PONG-2");

  const tail = await env.call("GET", `/v1/sessions/${kind}-w/events?kind=user_message&include_content=true`);
  expect(tail.body.events.map((e: any) => e.text)).toEqual(["Now a slow one", "Say PONG please"]);
}

describe("supervision with the real CLIs against local model stubs", () => {
  it("Codex: trust accepted, rollout found via lsof, nudge submitted, busy then idle", async () => {
    await superviseEndToEnd("codex");
  }, 180_000);

  it("Claude Code: trust accepted, transcript found from the pid, nudge submitted, busy then idle", async () => {
    await superviseEndToEnd("claude");
  }, 180_000);
});
