import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { NodeHost } from "../../../local-runner/host.ts";
import { AGENT_ENV_UNSET, claudeBinary, codexBinary } from "../../helpers/agents.ts";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { FAKE_TUI } from "../actuate/fake-tui.ts";

let env: TestEnv | null = null;
afterEach(() => env?.close());

describe("GET /v1/admin/doctor", () => {
  it("reports tmux, lsof and the database on a healthy host", async () => {
    env = await makeTestEnv();
    const res = await env.call("GET", "/v1/admin/doctor");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ local_runner: true, database: "ok", tmux: { available: true }, lsof: { available: true } });
    expect(res.body.tmux.version).toMatch(/tmux \d/);
  });

  it("says when tmux and lsof are missing, and tmux actions then fail with a typed error", async () => {
    env = await makeTestEnv({ host: new NodeHost({ tmuxBin: "/nonexistent/tmux", lsofBin: "/nonexistent/lsof" }) });
    const res = await env.call("GET", "/v1/admin/doctor");
    expect(res.body.ok).toBe(false);
    expect(res.body.tmux.available).toBe(false);
    expect(res.body.problems.map((p: any) => p.check)).toEqual(expect.arrayContaining(["tmux", "lsof"]));
    expect(res.body.problems.find((p: any) => p.check === "tmux").hint).toMatch(/install/i);
    // Registering a tmux session is the first tmux action: the pane is looked up before it is accepted.
    const reg = await env.call("POST", "/v1/sessions", { body: { name: "w-no-tmux", role: "worker", tmux_session: "nowhere" } });
    expect(reg.status).toBe(503);
    expect(reg.body.error.code).toBe("HOST_UNAVAILABLE");
    expect(reg.body.error.message).toMatch(/tmux/);
  });

  it("reports no local runner on a host-less server and is owner/daemon only", async () => {
    env = await makeTestEnv({ host: null });
    const res = await env.call("GET", "/v1/admin/doctor");
    expect(res.body).toMatchObject({ ok: false, local_runner: false });
    const w = await registerSession(env, "worker");
    expect((await env.call("GET", "/v1/admin/doctor", { token: w.token })).status).toBe(403);
  });
});

describe("agent CLIs signed in or not", () => {
  const roots: string[] = [];
  const saved: Record<string, string | undefined> = {};
  beforeAll(() => {
    // The probe runs with this process's environment under the agent's: no real credentials may leak in.
    for (const k of AGENT_ENV_UNSET) {
      saved[k] = process.env[k];
      delete process.env[k];
    }
  });
  afterAll(() => {
    for (const [k, v] of Object.entries(saved)) if (v !== undefined) process.env[k] = v;
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  });

  /** The real CLIs, each with an empty config of its own. */
  function isolatedAgents() {
    const root = mkdtempSync(join(tmpdir(), "switchyard-auth-"));
    roots.push(root);
    for (const d of ["codex", "claude"]) mkdirSync(join(root, d));
    return {
      root,
      codexEnv: { HOME: root, CODEX_HOME: join(root, "codex") },
      agents: {
        codex: { command: [process.execPath, codexBinary(), "--no-daemon"], env: { HOME: root, CODEX_HOME: join(root, "codex") } },
        claude: { command: [claudeBinary()], env: { HOME: root, CLAUDE_CONFIG_DIR: join(root, "claude") } as Record<string, string> },
      },
    };
  }

  it("asks the real codex and claude CLIs, with the environment a spawn would give them", async () => {
    env = await makeTestEnv();
    const iso = isolatedAgents();
    env.services.agents = iso.agents;
    const out = await env.call("GET", "/v1/admin/doctor");
    expect(out.body.agents.codex).toMatchObject({ found: true, signed_in: false, auth: "`codex login status`: not logged in" });
    expect(out.body.agents.claude).toMatchObject({ found: true, signed_in: false, auth: "`claude auth status`: not logged in" });
    expect(out.body.ok).toBe(false);
    const problems = out.body.problems.filter((p: any) => p.check.endsWith("_sign_in"));
    expect(problems.map((p: any) => p.check)).toEqual(["codex_sign_in", "claude_sign_in"]);
    expect(problems[0].hint).toContain("codex login");
    expect(problems[1].hint).toContain("claude auth login");

    // Signed in: Codex with an API key stored in its home (no network needed), Claude through a key in its environment.
    execFileSync(process.execPath, [codexBinary(), "login", "--with-api-key"], {
      input: "sk-test-doctor",
      env: { ...process.env, ...iso.codexEnv },
      stdio: ["pipe", "ignore", "ignore"],
    });
    iso.agents.claude.env.ANTHROPIC_API_KEY = "sk-ant-test-doctor";
    const inn = await env.call("GET", "/v1/admin/doctor");
    expect(inn.body.agents.codex).toMatchObject({ signed_in: true });
    expect(inn.body.agents.claude).toMatchObject({ signed_in: true, auth: "api_key from ANTHROPIC_API_KEY" });
    expect(inn.body.problems.filter((p: any) => p.check.endsWith("_sign_in"))).toEqual([]);
  });

  it("does not count as a problem when the agent's environment brings its own key, and never runs a stand-in", async () => {
    env = await makeTestEnv();
    const iso = isolatedAgents();
    env.services.agents = {
      codex: { ...iso.agents.codex, env: { ...iso.agents.codex.env, STUB_OPENAI_API_KEY: "sk-stub" } },
      claude: { command: [process.execPath, FAKE_TUI], env: {} },
    };
    const res = await env.call("GET", "/v1/admin/doctor");
    expect(res.body.agents.codex.signed_in).toBe(false);
    expect(res.body.agents.codex.auth).toContain("the agent environment brings STUB_OPENAI_API_KEY");
    expect(res.body.agents.claude).toMatchObject({ found: true, signed_in: null, auth: "fake-tui.mjs is not the claude CLI; sign-in not checked" });
    expect(res.body.problems.filter((p: any) => p.check.endsWith("_sign_in"))).toEqual([]);
  });
});
