import { spawn, spawnSync } from "node:child_process";
import { appendFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { recordSpawn } from "../../../functions/patrol/spawns.ts";
import { commands, dispatchers } from "../../../schema/commands.ts";
import { transcriptEvents } from "../../../schema/observe.ts";
import { boundPair } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { codexRollout, holdInTmux } from "../../helpers/transcripts.ts";
import { daemonCtx, ownerNotices, runSteps } from "./helpers.ts";

let env: TestEnv;
const tmuxes: string[] = [];
afterEach(async () => {
  for (const t of tmuxes.splice(0)) await env.services.host!.tmuxKillSession(t).catch(() => {});
  env?.close();
});

/**
 * A bound worker whose process is a real, silent program in tmux (its pane never changes), with
 * a transcript file, started "by Switchyard" (a spawn record), and busy: its last event opened
 * a turn that has not completed.
 */
async function busySilentWorker() {
  const tmux = `patrol-health-${process.pid}-${tmuxes.length}`;
  // A rollout under the test host's Codex root, held open by the pane's own (silent) process.
  const transcript = codexRollout(env, tmux);
  tmuxes.push(tmux);
  const { pid } = await holdInTmux(env.services.host!, tmux, transcript, env.dir);
  const pair = await boundPair(env, { worker: { tmux_session: tmux, pid, codex_session: transcript } });
  const ctx = daemonCtx(env);
  await recordSpawn(ctx, {
    sessionId: pair.worker.session_id,
    sessionName: pair.worker.session.name,
    agent: "codex",
    host: "test-host",
    tmuxSession: tmux,
    panePid: pid,
  });
  await env.services.database.db.insert(transcriptEvents).values({
    sessionId: pair.worker.session_id,
    generation: 1,
    offset: 1_000_000,
    seq: 0,
    kind: "task_started",
    subtype: "task_started",
    ingestedAt: env.clock.ms,
  });
  return { pair, transcript, tmux, pid };
}

const interrupts = async () => (await env.services.database.db.select().from(commands)).filter((c) => c.type === "interrupt");
const sessionAction = (r: any, name: string) => r["health-scan"].actions.find((a: any) => a.label === name);

describe("health-scan", () => {
  it("never restarts a busy worker whose pane is silent while its transcript grows", async () => {
    env = await makeTestEnv();
    const { pair, transcript } = await busySilentWorker();
    for (let cycle = 0; cycle < 8; cycle++) {
      env.clock.advance(700);
      // The agent is deep in a long tool call: nothing on screen changes, but it keeps writing.
      appendFileSync(transcript, `{"type":"response_item","n":${cycle}}\n`);
      const r = await runSteps(env, "health-scan");
      const a = sessionAction(r, pair.worker.session.name);
      if (cycle > 0) expect(a).toMatchObject({ decision: "vetoed" });
      expect(a.action).not.toMatch(/restart requested/);
    }
    expect(await interrupts()).toHaveLength(0);
    expect((await ownerNotices(env)).filter((n) => n.kind === "health_escalation")).toHaveLength(0);
  });

  it("notes, restarts (confirmed frozen) at 3-4 cycles, escalates once at 5, and resets on recovery", async () => {
    env = await makeTestEnv();
    const { pair, pid, transcript } = await busySilentWorker();
    const name = pair.worker.session.name;
    const seen: string[] = [];
    for (let cycle = 1; cycle <= 6; cycle++) {
      env.clock.advance(700);
      const r = await runSteps(env, "health-scan");
      const a = sessionAction(r, name);
      seen.push(`${a.cycles}:${a.decision}`);
      if (cycle === 3) expect(a.action).toMatch(/restart requested: interrupt command/);
    }
    expect(seen).toEqual(["1:note", "2:note", "3:restart", "4:restart", "5:escalate", "6:escalated"]);
    const cmds = await interrupts();
    expect(cmds).toHaveLength(2);
    // Like every pane command it names the agent the pane must still run, so the executor checks
    // the pane before Ctrl-C reaches it.
    expect(cmds[0]!.payload).toMatchObject({ key: "C-c", pid, pid_started_at: expect.any(Number), transcript_path: transcript });
    // Its key is unique within the patrol's scope (a null scope would never collide with another).
    expect(cmds.map((c) => [c.idempotencyScope, c.idempotencyKey])).toEqual([
      ["patrol", `health-restart:${pair.worker.session_id}:3`],
      ["patrol", `health-restart:${pair.worker.session_id}:4`],
    ]);
    const esc = (await ownerNotices(env)).filter((n) => n.kind === "health_escalation");
    expect(esc).toHaveLength(1);
    expect(esc[0].subject).toContain(name);
    // It answers again (a heartbeat): reset to 0, and a later episode escalates anew.
    await env.call("POST", `/v1/sessions/${name}/heartbeat`);
    const back = await runSteps(env, "health-scan");
    expect(sessionAction(back, name)).toMatchObject({ decision: "recovered", cycles: 0 });
    const status = await env.call("GET", "/v1/patrol/status");
    expect(status.body.unhealthy.filter((h: any) => h.kind === "session")).toHaveLength(0);
  });

  it("does not restart a session Switchyard did not start", async () => {
    env = await makeTestEnv();
    const { pair } = await busySilentWorker();
    await env.services.database.client.execute("DELETE FROM spawns");
    for (let cycle = 1; cycle <= 3; cycle++) {
      env.clock.advance(700);
      const r = await runSteps(env, "health-scan");
      if (cycle === 3) expect(sessionAction(r, pair.worker.session.name).action).toBe("no restart: Switchyard did not start this process");
    }
    expect(await interrupts()).toHaveLength(0);
  });

  it("takes over a dispatcher whose process is gone, but never one whose process is alive", async () => {
    env = await makeTestEnv();
    const dead = spawn("true");
    await new Promise((r) => dead.once("exit", r));
    spawnSync("true");
    const db = env.services.database.db;
    const row = { host: "test-host", state: "running" as const, startedAt: env.clock.ms, heartbeatAt: env.clock.ms };
    await db.insert(dispatchers).values([
      { id: "d-dead", pid: dead.pid!, ...row },
      { id: "d-alive", pid: process.pid, ...row },
    ]);
    const decisions: Record<string, string[]> = { "d-dead": [], "d-alive": [] };
    for (let cycle = 1; cycle <= 5; cycle++) {
      env.clock.advance(120);
      const r = await runSteps(env, "health-scan");
      for (const a of r["health-scan"].actions.filter((x: any) => x.component.startsWith("dispatcher:")))
        decisions[a.label]!.push(`${a.decision}: ${a.action}`);
    }
    expect(decisions["d-dead"]![2]).toMatch(/^restart: process gone: marked stopped and ran a takeover pass/);
    expect(decisions["d-dead"]).toHaveLength(3);
    expect(decisions["d-alive"]![2]).toMatch(/no restart: pid \d+ is alive/);
    expect(decisions["d-alive"]![4]).toBe("escalate: escalated to the owner");
    const states = Object.fromEntries((await db.select().from(dispatchers)).map((d) => [d.id, d.state]));
    expect(states).toEqual({ "d-dead": "stopped", "d-alive": "running", "patrol-takeover:d-dead": "stopped" });
  });

  it("escalates a remote host whose runner is not claiming its commands", async () => {
    env = await makeTestEnv();
    const db = env.services.database.db;
    await db.insert(commands).values({
      id: "cmd_remote",
      type: "nudge",
      state: "pending",
      host: "far-away",
      payload: {},
      createdBy: "owner:test",
      createdAt: env.clock.ms,
      updatedAt: env.clock.ms,
    });
    const seen: string[] = [];
    for (let cycle = 1; cycle <= 5; cycle++) {
      env.clock.advance(301);
      const r = await runSteps(env, "health-scan");
      const a = r["health-scan"].actions.find((x: any) => x.component === "runner:far-away");
      seen.push(a.decision);
    }
    expect(seen).toEqual(["note", "note", "restart", "restart", "escalate"]);
    expect((await ownerNotices(env)).filter((n) => n.kind === "health_escalation")[0].body).toMatch(/runner of host far-away/);
    await db.update(commands).set({ state: "succeeded" });
    const r = await runSteps(env, "health-scan");
    expect(r["health-scan"].actions.find((x: any) => x.component === "runner:far-away")).toMatchObject({ decision: "recovered" });
  });
});
