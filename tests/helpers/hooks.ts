import { serve, type ServerType } from "@hono/node-server";
import type { AddressInfo } from "node:net";
import { afterEach, expect } from "vitest";
import { runCli } from "../../local-runner/cli/main.ts";
import {
  agentCommand,
  makeClaudeConfig,
  makeCodexHome,
  startStub,
  waitFor,
  type AgentHome,
  type AgentKind,
  type HomeOptions,
  type StubServer,
  type StubTurn,
} from "./agents.ts";
import { createTask, registerSession } from "./factories.ts";
import { makeTestEnv, type TestEnv } from "./services.ts";

/** The test env's app served on 127.0.0.1 (no crons: nothing polls behind the test's back). */
export async function serveApp(env: TestEnv): Promise<{ url: string; close(): Promise<void> }> {
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: env.app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
    s.once("error", reject);
  });
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/**
 * Runs the real `switchyard` CLI in-process with extra environment (CLAUDE_CONFIG_DIR,
 * CODEX_HOME…) for the duration of the call, and returns its exit code and output.
 */
export async function cliWithEnv(argv: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  const out: string[] = [];
  const err: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((t: string | Uint8Array) => {
    out.push(String(t));
    return true;
  }) as typeof process.stdout.write;
  try {
    const code = await runCli(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    process.stdout.write = write;
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** A real agent CLI spawned in tmux through the API as worker `<agent>-w`, its hooks installed. */
export interface HookedWorker {
  env: TestEnv;
  stub: StubServer;
  home: AgentHome;
  /** The answer of POST /v1/sessions/spawn. */
  spawn: any;
  /** The worker's tmux pane. */
  target: string;
  /** Binds a new manager to a new task with this worker; `inbox()` reads the manager's inbox. */
  bindManager(): Promise<{ task: any; manager: any; inbox: () => Promise<any[]> }>;
}

/**
 * For the hook end-to-end tests: `start(agent, turns, homeOptions)` starts a model stub playing
 * `turns`, an isolated agent home, a test env served on 127.0.0.1 with the agent's hooks
 * installed by `switchyard hooks install`, and spawns the worker with the prompt "Say PONG
 * please". Call it at the top of a test file: it registers the afterEach that stops the tmux
 * session, waits for the agent to exit (it may still be writing into its home), and removes
 * everything it started.
 */
export function useHookedWorker(): (agent: AgentKind, turns: StubTurn[], homeOptions: HomeOptions) => Promise<HookedWorker> {
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

  return async (agent, turns, homeOptions) => {
    // Each piece is kept in the closure as soon as it exists, so a failure part-way is cleaned up too.
    const s = await startStub(agent, turns);
    stub = s;
    const h = agent === "claude" ? await makeClaudeConfig(s.url, homeOptions) : await makeCodexHome(s.url, homeOptions);
    home = h;
    const e = await makeTestEnv();
    env = e;
    server = await serveApp(e);
    const configVar = agent === "claude" ? "CLAUDE_CONFIG_DIR" : "CODEX_HOME";
    const install = await cliWithEnv(["hooks", "install", "--agent", agent, "--hook-url", server.url, "--home", e.dir], {
      [configVar]: h.configDir,
      HOME: h.home,
    });
    expect(install.code, install.out + install.err).toBe(0);

    const cmd = agentCommand(agent, h);
    e.services.agents = { [agent]: { command: cmd.argv, env: cmd.env } };
    const worker = `${agent}-w`;
    const spawn = await e.call("POST", "/v1/sessions/spawn", {
      body: { name: worker, role: "worker", agent, cwd: h.workdir, prompt: "Say PONG please", timeout_seconds: 90 },
    });
    tmuxName = `sy-${agent}-${worker}`;
    expect(spawn.status, JSON.stringify(spawn.body)).toBe(201);
    agentPid = spawn.body.spawn.pane_pid;
    return {
      env: e,
      stub: s,
      home: h,
      spawn: spawn.body,
      target: `${tmuxName}:0.0`,
      async bindManager() {
        const manager = await registerSession(e, "manager");
        const task = await createTask(e, { goal: "prove the hooks" });
        expect((await e.call("POST", "/v1/bindings", { body: { task: task.task.name, worker, manager: manager.session.name } })).status).toBe(201);
        const inbox = async () => (await e.call("GET", `/v1/sessions/${manager.session.name}/inbox?limit=100`, { token: manager.token })).body.items as any[];
        return { task, manager, inbox };
      },
    };
  };
}
