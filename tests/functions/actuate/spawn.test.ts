import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTask, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { FAKE_TUI, killTmux } from "./fake-tui.ts";

let env: TestEnv;
let seq = 0;
const spawned: string[] = [];

/** Points the "codex" agent at the fake TUI, with a rollout under a sessions/ dir so lsof discovery classifies it. */
function useFakeAgent(opts: { trust?: boolean; lazy?: boolean; busyMs?: number } = {}) {
  seq += 1;
  const rollout = join(env.dir, "codex-home", "sessions", "2026", "11", "21", `rollout-fake-${seq}.jsonl`);
  env.services.agents = {
    codex: {
      command: [process.execPath, FAKE_TUI],
      env: {
        FAKE_TUI_ROLLOUT: rollout,
        FAKE_TUI_BUSY_MS: String(opts.busyMs ?? 300),
        ...(opts.trust ? { FAKE_TUI_TRUST: "1" } : {}),
        ...(opts.lazy ? { FAKE_TUI_LAZY: "1" } : {}),
      },
    },
  };
  return rollout;
}

beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(async () => {
  for (const t of spawned.splice(0)) await killTmux(env, t);
  env.close();
});

async function spawn(body: Record<string, unknown>) {
  const cwd = join(env.dir, "work");
  mkdirSync(cwd, { recursive: true });
  const res = await env.call("POST", "/v1/sessions/spawn", { body: { cwd, timeout_seconds: 15, ...body } });
  if (res.body?.spawn?.tmux_session) spawned.push(res.body.spawn.tmux_session);
  spawned.push(`sy-codex-${body.name}`);
  return res;
}

describe("POST /v1/sessions/spawn (start-worker)", () => {
  it("accepts a preselected-No trust menu only with accept_trust, then finds the transcript by lsof and registers", async () => {
    const rollout = useFakeAgent({ trust: true, lazy: true });
    const res = await spawn({ name: "w-trust", role: "worker", accept_trust: true, prompt: "build the feature" });
    expect(res.status).toBe(201);
    expect(res.body.spawn).toMatchObject({ trust_prompt_seen: true, trust_accepted: true, tmux_session: "sy-codex-w-trust" });
    expect(res.body.session).toMatchObject({
      name: "w-trust",
      role: "worker",
      transcript_path: rollout,
      transcript_kind: "codex",
      tmux_session: "sy-codex-w-trust",
    });
    expect(res.body.session.pid).toBe(res.body.spawn.pane_pid);
    expect(readFileSync(rollout, "utf8")).toContain("build the feature");
    const ev = await env.services.database.client.execute("SELECT kind FROM events WHERE kind LIKE 'session_%' ORDER BY rowid");
    expect(ev.rows.map((r) => r.kind)).toEqual(["session_registered", "session_spawned"]);
  });

  it("refuses the trust prompt without accept_trust, kills the tmux session and records the failure", async () => {
    useFakeAgent({ trust: true, lazy: true });
    const res = await spawn({ name: "w-notrust", role: "worker", prompt: "x" });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("SPAWN_FAILED");
    expect(res.body.error.hint).toMatch(/--accept-trust/);
    expect(res.body.error.hint).toMatch(/killed/);
    expect(await env.services.host!.tmuxHasSession("sy-codex-w-notrust")).toBe(false);
    const cmd = await env.services.database.client.execute("SELECT state FROM commands WHERE type = 'spawn'");
    expect(cmd.rows.map((r) => r.state)).toEqual(["failed"]);
    expect((await env.call("GET", "/v1/sessions?state=all")).body.count).toBe(0);
  });

  it("times out with a hint when the agent never opens a transcript (no prompt given)", async () => {
    useFakeAgent({ lazy: true });
    const res = await spawn({ name: "w-idle", role: "worker", timeout_seconds: 2 });
    expect(res.status).toBe(422);
    expect(res.body.error.message).toMatch(/no codex transcript appeared/);
    expect(res.body.error.hint).toMatch(/--task/);
    expect(await env.services.host!.tmuxHasSession("sy-codex-w-idle")).toBe(false);
  });

  it("registers with the holding it just proved, even when a second lsof answer would miss it", async () => {
    // Under load a later lsof run has missed a transcript the agent plainly held (README tour
    // flake): after the first answer that finds it, every discovery here answers "nothing".
    const rollout = useFakeAgent();
    const host = env.services.host!;
    const discover = host.discoverTranscript.bind(host);
    let found = false;
    host.discoverTranscript = async (pid, opts) => {
      if (found) return null;
      const r = await discover(pid, opts);
      found = r !== null;
      return r;
    };
    const res = await spawn({ name: "w-flaky-lsof", role: "worker", prompt: "x" });
    expect(res.status).toBe(201);
    expect(res.body.session).toMatchObject({ name: "w-flaky-lsof", transcript_path: rollout, pid: res.body.spawn.pane_pid });
  });

  it("asks lsof again when the transcript's name now resolves to another file", async () => {
    // Between the spawn's discovery and registration the rollout's name is swapped for a symlink
    // to another agent's transcript: what the spawn proved no longer covers the path registered.
    const rollout = useFakeAgent();
    const other = join(dirname(rollout), "rollout-other-agent.jsonl");
    const host = env.services.host!;
    const inspect = host.inspectTranscript.bind(host);
    let swapped = false;
    host.inspectTranscript = async (path, kind, opts) => {
      if (!swapped && path === rollout) {
        swapped = true;
        copyFileSync(rollout, other);
        renameSync(rollout, `${rollout}.moved`);
        symlinkSync(other, rollout);
      }
      return inspect(path, kind, opts);
    };
    const res = await spawn({ name: "w-swapped", role: "worker", prompt: "x" });
    expect(swapped).toBe(true);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("PATH_NOT_ALLOWED");
    expect((await env.call("GET", "/v1/sessions?state=all")).body.count).toBe(0);
  });

  it("refuses a taken name before starting anything", async () => {
    useFakeAgent();
    await registerSession(env, "worker", { name: "w-dup" });
    const res = await spawn({ name: "w-dup", role: "worker", prompt: "x" });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("NAME_TAKEN");
    expect(await env.services.host!.tmuxHasSession("sy-codex-w-dup")).toBe(false);
  });

  it("gives a manager without a prompt a bootstrap naming the task, goal, worker and cycle command", async () => {
    const rollout = useFakeAgent({ lazy: true });
    const task = await createTask(env, { goal: "Refactor auth" });
    const res = await spawn({ name: "m-boot", role: "manager", task: task.task.name, worker: "w-x" });
    expect(res.status).toBe(201);
    const text = readFileSync(rollout, "utf8");
    expect(text).toContain(`switchyard cycle ${task.task.name} --json`);
    expect(text).toContain("Refactor auth");
    expect(text).toContain("session-nudge w-x");
  });

  it("names an explicit --task-goal in the bootstrap when given", async () => {
    const rollout = useFakeAgent({ lazy: true });
    const res = await spawn({ name: "m-goal", role: "manager", task: "not-created-yet", task_goal: "Ship the login page", worker: "w-y" });
    expect(res.status).toBe(201);
    expect(readFileSync(rollout, "utf8")).toContain("Goal: Ship the login page");
  });

  it("is owner only", async () => {
    useFakeAgent();
    const w = await registerSession(env, "worker");
    const res = await env.call("POST", "/v1/sessions/spawn", { token: w.token, body: { name: "x", role: "worker", cwd: env.dir } });
    expect(res.status).toBe(403);
  });
});

describe("POST /v1/pairs", () => {
  it("creates the task, spawns both sessions and binds them", async () => {
    useFakeAgent();
    env.services.agents!.codex!.env!.FAKE_TUI_ROLLOUT = join(env.dir, "codex-home", "sessions", "rollout-pair-{pid}.jsonl");
    const cwd = join(env.dir, "work");
    mkdirSync(cwd, { recursive: true });
    const res = await env.call("POST", "/v1/pairs", {
      body: { task: "pair-task", task_goal: "Ship it", task_prompt: "start working", worker_name: "pw", manager_name: "pm", cwd, timeout_seconds: 15 },
    });
    spawned.push("sy-codex-pw", "sy-codex-pm");
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ task: "pair-task", task_created: true, binding: { binding: { worker: "pw", manager: "pm", state: "active" } } });
    expect(res.body.worker.session.transcript_path).not.toBe(res.body.manager.session.transcript_path);
    // Each agent starts with its own session token, never the owner's.
    const meta = (path: string) => JSON.parse(readFileSync(path, "utf8").split("\n")[0]!).payload;
    expect(meta(res.body.manager.session.transcript_path).switchyard_token).toBe(res.body.manager.token);
    expect(meta(res.body.worker.session.transcript_path).switchyard_token).toBe(res.body.worker.token);
    expect(res.body.manager.token).not.toBe(env.owner);
    const asManager = await env.call("POST", `/v1/tasks/pair-task/cycle`, { token: res.body.manager.token });
    expect(asManager.status).toBe(200);
    expect((await env.call("POST", "/v1/tokens", { token: res.body.manager.token, body: { scope: "daemon" } })).status).toBe(403);
    expect(readFileSync(res.body.manager.session.transcript_path, "utf8")).toContain("manager of task 'pair-task'");
  });

  it("stops the worker again when the manager cannot be started, and says so", async () => {
    useFakeAgent();
    // A manager CLI that exits as soon as it starts: the failure comes after the worker is up.
    env.services.agents!.claude = { command: [process.execPath, "-e", "process.exit(3)"], env: { ANTHROPIC_API_KEY: "test-key" } };
    const cwd = join(env.dir, "work");
    mkdirSync(cwd, { recursive: true });
    const res = await env.call("POST", "/v1/pairs", {
      body: { task: "pair-fail", task_goal: "g", task_prompt: "go", worker_name: "pw2", manager_name: "pm2", manager_agent: "claude", cwd, timeout_seconds: 5 },
    });
    spawned.push("sy-codex-pw2", "sy-claude-pm2");
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.body.error.message).toMatch(/pair failed/);
    expect(res.body.error.hint).toMatch(/Stopped again: pw2/);
    expect(await env.services.host!.tmuxHasSession("sy-codex-pw2")).toBe(false);
    const gone = await env.call("GET", "/v1/sessions?state=gone");
    expect(gone.body.sessions.map((s: any) => s.name)).toEqual(["pw2"]);
  });

  it("refuses a manager name an active session holds before it records the task or starts anything", async () => {
    const rollout = useFakeAgent();
    await registerSession(env, "manager", { name: "pm-taken" });
    const counts = async () => {
      const row = (await env.services.database.client.execute("SELECT (SELECT count(*) FROM tasks) AS t, (SELECT count(*) FROM manager_configs) AS c"))
        .rows[0]!;
      return { tasks: Number(row.t), configs: Number(row.c) };
    };
    const before = await counts();
    const res = await env.call("POST", "/v1/pairs", {
      body: { task: "pair-taken", task_goal: "g", worker_name: "pw3", manager_name: "pm-taken", cwd: env.dir, timeout_seconds: 15 },
    });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("NAME_TAKEN");
    expect(res.body.error.message).toContain("pm-taken");
    expect(await counts()).toEqual(before);
    expect(existsSync(rollout)).toBe(false);
  });

  it("refuses a pair on a server with no local runner and records nothing", async () => {
    const edge = await makeTestEnv({ host: null });
    try {
      const res = await edge.call("POST", "/v1/pairs", { body: { task: "edge-task", task_goal: "g", worker_name: "ew", manager_name: "em", cwd: edge.dir } });
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe("HOST_UNAVAILABLE");
      expect((await edge.call("GET", "/v1/tasks")).body.tasks).toEqual([]);
      const configs = await edge.services.database.client.execute("SELECT count(*) FROM manager_configs");
      expect(Number(configs.rows[0]![0])).toBe(0);
    } finally {
      edge.close();
    }
  });

  it("refuses the same name for worker and manager", async () => {
    useFakeAgent();
    const res = await env.call("POST", "/v1/pairs", { body: { task: "same", task_goal: "g", worker_name: "twin", manager_name: "twin", cwd: env.dir } });
    expect(res.status).toBe(400);
    expect(res.body.error.hint).toMatch(/own name/);
  });

  it("refuses an unknown task without a goal", async () => {
    const rollout = useFakeAgent();
    const res = await env.call("POST", "/v1/pairs", { body: { task: "nope", worker_name: "a", manager_name: "b", cwd: env.dir } });
    expect(res.status).toBe(404);
    expect(res.body.error.hint).toMatch(/--task-goal/);
    // Nothing was started: no agent wrote its rollout.
    expect(existsSync(rollout)).toBe(false);
  });
});
