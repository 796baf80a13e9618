// pair / start-worker with an agent CLI that is not signed in: refused up front with a clear
// error, before any tmux session, command row or task exists; and a Codex that passed the
// pre-check (a key in its environment) but shows its sign-in screen is caught in seconds.
// Real codex and claude binaries with empty config directories.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EXIT_FAILED } from "../../../local-runner/cli/main.ts";
import { AGENT_ENV_UNSET, claudeBinary, codexBinary } from "../../helpers/agents.ts";
import { cliSandbox } from "../../helpers/cli.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv | null = null;
let root: string;
const saved: Record<string, string | undefined> = {};
beforeAll(() => {
  for (const k of AGENT_ENV_UNSET) {
    saved[k] = process.env[k];
    delete process.env[k];
  }
});
afterAll(() => {
  for (const [k, v] of Object.entries(saved)) if (v !== undefined) process.env[k] = v;
});
afterEach(() => {
  env?.close();
  env = null;
  rmSync(root, { recursive: true, force: true });
});

async function setup() {
  root = mkdtempSync(join(tmpdir(), "switchyard-signin-"));
  for (const d of ["codex", "claude", "work"]) mkdirSync(join(root, d));
  env = await makeTestEnv();
  env.services.agents = {
    codex: { command: [process.execPath, codexBinary(), "--no-daemon"], env: { HOME: root, CODEX_HOME: join(root, "codex") } },
    claude: { command: [claudeBinary()], env: { HOME: root, CLAUDE_CONFIG_DIR: join(root, "claude") } },
  };
  return env;
}

const spawnCount = async (e: TestEnv) => (await e.services.database.client.execute("SELECT count(*) AS n FROM commands WHERE type = 'spawn'")).rows[0]!.n;

describe("spawning an agent that is not signed in", () => {
  for (const agent of ["codex", "claude"] as const) {
    it(`refuses ${agent} before starting anything`, async () => {
      const e = await setup();
      const res = await e.call("POST", "/v1/sessions/spawn", { body: { name: `nsi-${agent}`, role: "worker", agent, cwd: join(root, "work"), prompt: "hi" } });
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe("AGENT_NOT_SIGNED_IN");
      expect(res.body.error.message).toBe(`${agent} is not signed in on host 'test-host'`);
      expect(res.body.error.hint).toContain(agent === "codex" ? "codex login" : "claude auth login");
      expect(await e.services.host!.tmuxHasSession(`sy-${agent}-nsi-${agent}`)).toBe(false);
      expect(await spawnCount(e)).toBe(0);
    });
  }

  it("refuses a pair whose manager agent is not signed in before the worker or the task exist", async () => {
    const e = await setup();
    // The worker's codex brings a key of its own; the manager's claude does not.
    e.services.agents!.codex!.env!.STUB_OPENAI_API_KEY = "sk-stub";
    const res = await e.call("POST", "/v1/pairs", {
      body: { task: "nsi-task", task_goal: "g", worker_name: "nsi-pw", manager_name: "nsi-pm", manager_agent: "claude", cwd: join(root, "work") },
    });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("AGENT_NOT_SIGNED_IN");
    expect(res.body.error.message).toContain("claude");
    expect((await e.call("GET", "/v1/tasks/nsi-task")).status).toBe(404);
    expect(await e.services.host!.tmuxHasSession("sy-codex-nsi-pw")).toBe(false);
    expect(await spawnCount(e)).toBe(0);
  });

  it("stops at Codex's sign-in screen when a key in its environment let the pre-check pass", async () => {
    const e = await setup();
    // Codex's TUI ignores OPENAI_API_KEY and asks to sign in anyway.
    e.services.agents!.codex!.env!.OPENAI_API_KEY = "sk-dummy";
    const started = Date.now();
    const res = await e.call("POST", "/v1/sessions/spawn", {
      body: { name: "nsi-screen", role: "worker", agent: "codex", cwd: join(root, "work"), prompt: "hi", timeout_seconds: 60 },
    });
    expect(res.status).toBe(422);
    expect(res.body.error).toMatchObject({ code: "AGENT_NOT_SIGNED_IN", message: "codex is asking to sign in" });
    expect(res.body.error.hint).toContain("The tmux session 'sy-codex-nsi-screen' was killed");
    expect(Date.now() - started).toBeLessThan(45_000);
    expect(await e.services.host!.tmuxHasSession("sy-codex-nsi-screen")).toBe(false);
  });
});

describe("start-worker through the CLI", () => {
  const sb = cliSandbox("signin-cli");
  it("says the agent CLI is not signed in and exits 1", async () => {
    root = mkdtempSync(join(tmpdir(), "switchyard-signin-"));
    mkdirSync(join(root, "codex"));
    process.env.SWITCHYARD_CODEX_BIN = codexBinary();
    process.env.CODEX_HOME = join(root, "codex");
    try {
      const res = await sb.cli("start-worker", "--name", "nsi-cli", "--cwd", root, "--task", "hi");
      expect(res.code).toBe(EXIT_FAILED);
      expect(res.err).toContain("error: AGENT_NOT_SIGNED_IN: codex is not signed in");
      expect(res.err).toContain("hint: Run `codex login`");
      expect(res.err).toContain("starting codex for nsi-cli in tmux and waiting for its transcript (up to 1m)");
    } finally {
      delete process.env.SWITCHYARD_CODEX_BIN;
      delete process.env.CODEX_HOME;
    }
  });
});
