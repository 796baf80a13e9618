// End to end with the real Codex (worker) and Claude Code (manager) CLIs in real tmux against
// loopback model stubs: pair with a guided manager config -> the worker writes its result and
// proposes an acceptance criterion by running the switchyard CLI from a scripted tool call ->
// the manager accepts it -> a premature finish with --require-criteria-audit is refused -> the
// manager satisfies the criterion with evidence -> the audited finish captures and stops both
// sessions -> mutation-audit shows the whole chain.
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { agentCommand, makeClaudeConfig, makeCodexHome, startStub, waitFor, type AgentHome, type StubServer } from "../helpers/agents.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";

const CLI = fileURLToPath(new URL("../../bin/switchyard.mjs", import.meta.url));
const TASK = "mc-hello";
const WORKER = "mc-worker";
const MANAGER = "mc-manager";

let env: TestEnv | null = null;
const stubs: StubServer[] = [];
const homes: AgentHome[] = [];
const pids: number[] = [];

afterEach(async () => {
  for (const name of [`sy-codex-${WORKER}`, `sy-claude-${MANAGER}`]) await env?.services.host?.tmuxKillSession(name).catch(() => {});
  // The agents may still be writing into their config dirs as they exit; wait before deleting them.
  for (const pid of pids.splice(0)) await waitFor(async () => !(await env!.services.host!.pidAlive(pid)) || undefined, 10_000, "agent exit").catch(() => {});
  for (const s of stubs.splice(0)) await s.close();
  for (const h of homes.splice(0)) h.cleanup();
  env?.close();
  env = null;
});

describe("the supervision contract end to end", () => {
  it("pairs with a guided config, refuses a premature audited finish, and finishes once the worker's criterion is proven", async () => {
    env = await makeTestEnv();
    // Real processes (the worker's switchyard call) write rows too: every writer keeps real time.
    env.services.clock = () => new Date();
    const proposal = "hello.txt holds PONG";
    // The worker's model: write the file; when the manager asks for criteria, propose one through
    // the switchyard CLI (a scripted tool call), then report.
    const codexStub = await startStub("codex", [
      { shell: "printf PONG > hello.txt" },
      "Wrote hello.txt.",
      { shell: `"${process.execPath}" "${CLI}" criteria ${TASK} --add --criterion "${proposal}" --source worker_proposed --json` },
      "Proposed the acceptance criterion.",
    ]);
    const claudeStub = await startStub("claude", ["Supervising task mc-hello: I will cycle and review the criteria."]);
    stubs.push(codexStub, claudeStub);
    const codexHome = await makeCodexHome(codexStub.url, { trust: false, git: true, approvalPolicy: "never" });
    // Codex strips *TOKEN* variables from tool commands by default; the worker's switchyard call
    // must act as the worker session, so its own token has to reach the shell.
    appendFileSync(join(codexHome.configDir, "config.toml"), '\n[shell_environment_policy]\ninherit = "all"\nignore_default_excludes = true\n');
    const claudeHome = await makeClaudeConfig(claudeStub.url, { trust: false });
    homes.push(codexHome, claudeHome);
    const codex = agentCommand("codex", codexHome, { extraEnv: { SWITCHYARD_HOME: env.dir, SWITCHYARD_NO_BUNDLE: "1" } });
    const claude = agentCommand("claude", claudeHome);
    env.services.agents = { codex: { command: codex.argv, env: codex.env }, claude: { command: claude.argv, env: claude.env } };

    const pair = await env.call("POST", "/v1/pairs", {
      body: {
        task: TASK,
        task_goal: "Write hello.txt containing PONG",
        task_prompt: "Write hello.txt containing PONG and propose an acceptance criterion for it.",
        worker_name: WORKER,
        manager_name: MANAGER,
        agent: "codex",
        manager_agent: "claude",
        cwd: codexHome.workdir,
        accept_trust: true,
        timeout_seconds: 90,
        manager_config: { mode: "guided", objective: "hello.txt holds exactly PONG", permit: ["verification.run_tests"] },
      },
    });
    expect(pair.status, JSON.stringify(pair.body)).toBe(201);
    pids.push(pair.body.worker.spawn.pane_pid, pair.body.manager.spawn.pane_pid);
    expect(pair.body.manager_config).toMatchObject({
      revision: 1,
      mode: "guided",
      objective: "hello.txt holds exactly PONG",
      granted: ["verification.run_tests"],
    });
    const workerId = pair.body.worker.session_id;
    const manager = { token: pair.body.manager.token as string };
    const asManager = (method: string, rest: string, body?: unknown) => env!.call(method, `/v1/tasks/${TASK}/${rest}`, { body, token: manager.token });

    const cycle = async () => {
      const c = await asManager("POST", "cycle", {});
      expect(c.status, JSON.stringify(c.body)).toBe(200);
      return c.body;
    };
    const diagnose = async (e: unknown, last: any): Promise<never> => {
      const pane = await env!.services.host!.tmuxCapturePane(`sy-codex-${WORKER}`).catch((x: Error) => x.message);
      throw new Error(
        `${(e as Error).message}\nlast cycle: ${JSON.stringify(last?.manager_context?.acceptance_criteria?.summary)}\nstub served ${codexStub.served}\nworker pane:\n${pane}`,
      );
    };

    // First cycles: the worker's turn completes with no criteria, so the manager is told to ask for some.
    let last: any = null;
    const first = await waitFor(
      async () => {
        last = await cycle();
        return last.task_completed ? last : undefined;
      },
      120_000,
      "the worker's first turn",
    ).catch((e) => diagnose(e, last));
    expect(first.manager_context.criteria_negotiation).toMatchObject({ needed: true, reason: "no_criteria" });
    expect(first.manager_context.manager_config).toMatchObject({ revision: 1, objective: "hello.txt holds exactly PONG" });

    // The manager passes the negotiation prompt to the worker (a verified nudge, as its CLI would).
    const ask = await env.call("POST", `/v1/sessions/${WORKER}/nudge`, {
      body: { text: first.manager_context.criteria_negotiation.prompt },
      token: manager.token,
    });
    expect(ask.status, JSON.stringify(ask.body)).toBe(200);
    expect(ask.body.submitted).toBe(true);
    const cycled = await waitFor(
      async () => {
        last = await cycle();
        return last.task_completed && last.manager_context.acceptance_criteria.summary.proposed === 1 ? last : undefined;
      },
      120_000,
      "the worker to propose a criterion",
    ).catch((e) => diagnose(e, last));
    const mc = cycled.manager_context;
    expect(mc.worker_receipt).toMatchObject({ turn_id: expect.any(Number) });
    expect(mc.criteria_negotiation.reason).toBe("proposals_pending");
    const proposed = mc.acceptance_criteria.proposed[0];
    // Proposed by the worker itself: its switchyard call ran with the worker's own token.
    expect(proposed).toMatchObject({ criterion: proposal, source: "worker_proposed", status: "proposed", created_by: `session:${workerId}` });
    expect(readFileSync(join(codexHome.workdir, "hello.txt"), "utf8")).toBe("PONG");

    // The manager accepts it; a finish before proof is refused and names the open criterion.
    expect((await asManager("POST", `criteria/${proposed.id}`, { action: "accept", rationale: "must-have for this task" })).status).toBe(200);
    const premature = await asManager("POST", "finish", { reason: "looks done", require_criteria_audit: true });
    expect(premature.status).toBe(422);
    expect(premature.body.error.message).toContain(`criterion #${proposed.id} is accepted but not satisfied: ${proposal}`);
    expect((await env.call("GET", `/v1/tasks/${TASK}`)).body.task.state).toBe("active");

    // The manager checks the worker's result, satisfies the criterion with that evidence, and finishes.
    const content = readFileSync(join(codexHome.workdir, "hello.txt"), "utf8");
    const satisfied = await asManager("POST", `criteria/${proposed.id}`, {
      action: "satisfy",
      evidence: { command: "cat hello.txt", status: content === "PONG" ? "pass" : "fail", output: content },
    });
    expect(satisfied.body.affected_criterion).toMatchObject({ status: "satisfied", evidence: { status: "pass" } });
    const finish = await asManager("POST", "finish", {
      reason: "hello.txt verified",
      require_criteria_audit: true,
      capture_transcript_before_stop: true,
      stop_worker: true,
      stop_manager: true,
    });
    expect(finish.status, JSON.stringify(finish.body)).toBe(200);
    expect(finish.body.gates).toEqual([{ gate: "criteria_audit", required: true, passed: true, missing: [] }]);
    expect(finish.body.captures.map((c: any) => [c.session, c.pane_captured])).toEqual([
      [WORKER, true],
      [MANAGER, true],
    ]);
    expect(finish.body.stopped.map((s: any) => s.session).sort()).toEqual([MANAGER, WORKER]);
    expect(await env.services.host!.tmuxHasSession(`sy-codex-${WORKER}`)).toBe(false);

    const chain = (await env.call("GET", `/v1/tasks/${TASK}/mutation-audit?limit=100`)).body.entries.map(
      (e: any) => `${e.kind}${e.actor.startsWith("session:") ? `@${e.actor === `session:${workerId}` ? "worker" : "manager"}` : ""}`,
    );
    const order = [
      "manager_config_recorded",
      "session_nudged@manager",
      "criterion_added@worker",
      "criterion_accepted@manager",
      "finish_refused@manager",
      "criterion_satisfied@manager",
      "transcript_captured@manager",
      "task_finished@manager",
      "session_stopped@manager",
    ];
    const positions = order.map((k) => chain.indexOf(k));
    expect(
      positions.every((p) => p >= 0),
      `chain: ${chain.join(", ")}`,
    ).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(existsSync(join(env.dir, "switchyard.db"))).toBe(true);
  }, 240_000);
});
