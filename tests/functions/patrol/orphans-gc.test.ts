import { mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runPatrol } from "../../../functions/patrol/run.ts";
import { recordSpawn } from "../../../functions/patrol/spawns.ts";
import { boundPair, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { codexRollout, holdOpen, type Holder } from "../../helpers/transcripts.ts";
import { daemonCtx, inboxOf, ownerCtx, ownerNotices, runSteps } from "./helpers.ts";

let env: TestEnv;
const tmuxes: string[] = [];
const holders: Holder[] = [];
afterEach(async () => {
  for (const t of tmuxes.splice(0)) await env.services.host!.tmuxKillSession(t).catch(() => {});
  for (const h of holders.splice(0)) await h.stop();
  env?.close();
});

/**
 * An agent for registration: a live process holding its own rollout under the test host's Codex
 * root (registration by pid requires both). `fields` are what to register it with; `die` kills
 * it afterwards, leaving a session whose pid is certainly dead.
 */
async function agent(extra: Record<string, unknown> = {}) {
  const rollout = codexRollout(env, `orphan-${Math.random().toString(36).slice(2)}`);
  const holder = await holdOpen(rollout);
  holders.push(holder);
  return { fields: { pid: holder.pid, codex_session: rollout, ...extra }, die: () => holder.stop() };
}

/** Registers a worker whose process then exits. */
async function deadWorker(extra: Record<string, unknown> = {}) {
  const a = await agent(extra);
  const s = await registerSession(env, "worker", a.fields);
  await a.die();
  return s;
}

/** A worktree whose newest file was written `ageSeconds` ago (real file times: the clock starts at the real now). */
function worktree(name: string, ageSeconds: number): string {
  const dir = join(env.dir, name);
  mkdirSync(dir, { recursive: true });
  const f = join(dir, "main.ts");
  writeFileSync(f, "export {};\n");
  const t = (Date.now() - ageSeconds * 1000) / 1000;
  utimesSync(f, t, t);
  utimesSync(dir, t, t);
  return dir;
}

describe("orphan-check", () => {
  it("reports a task whose worker process is dead (and its files stale), tells the owner once, and releases it with apply", async () => {
    env = await makeTestEnv();
    const dead = await agent({ cwd: worktree("wt-dead", 3600) });
    const pair = await boundPair(env, { worker: dead.fields });
    const gone = await agent({ cwd: worktree("wt-fresh", 5) });
    const fresh = await boundPair(env, { worker: gone.fields });
    await dead.die();
    await gone.die();
    await env.call("POST", "/v1/claims", { body: { path: "src/**", session: pair.worker.session.name, ttl_seconds: 3600, exclusive: true } });
    const r1 = (await runSteps(env, "orphan-check"))["orphan-check"];
    expect(r1.items.map((o: any) => [o.task, o.reason])).toEqual([[pair.task.task.name, "worker_dead"]]);
    expect(r1.suspects.map((s: any) => s.task)).toEqual([fresh.task.task.name]);
    expect(r1.applied).toBe(false);
    await runSteps(env, "orphan-check");
    expect((await ownerNotices(env)).filter((n) => n.kind === "orphan_detected")).toHaveLength(1);
    // Report only: the binding still stands.
    expect((await env.call("GET", `/v1/tasks/${pair.task.task.name}`)).body.binding).not.toBeNull();

    await env.call("POST", "/v1/patrol/config", { body: { orphan_policy: "release" } });
    const applied = await runPatrol(ownerCtx(env), { trigger: "cli", step: "orphan-check", apply: true });
    const report = applied.steps[0]!.report as any;
    expect(report.handled).toEqual([{ task: pair.task.task.name, action: "binding ended, manager told", claims_released: 1 }]);
    expect((await env.call("GET", `/v1/tasks/${pair.task.task.name}`)).body.binding).toBeNull();
    expect((await env.call("GET", "/v1/claims")).body.count).toBe(0);
    await runSteps(env, "fire-notifications");
    const told = await inboxOf(env, pair.manager.session.name);
    expect(told[0].payload.subject).toMatch(/^Orphaned: /);
    expect(told[0].payload.body).toMatch(/harvest .* --orphaned/);
  });

  it("a gone worker is an orphan too; a live one is not", async () => {
    env = await makeTestEnv();
    const pair = await boundPair(env);
    const live = await boundPair(env, { worker: (await agent()).fields });
    await env.services.database.client.execute({ sql: "UPDATE sessions SET state = 'gone' WHERE id = ?", args: [pair.worker.session_id] });
    const r = (await runSteps(env, "orphan-check"))["orphan-check"];
    expect(r.items.map((o: any) => [o.worker, o.reason])).toEqual([[pair.worker.session.name, "worker_gone"]]);
    expect(r.items.find((o: any) => o.worker === live.worker.session.name)).toBeUndefined();
  });
});

describe("session-gc", () => {
  it("marks dead-pid sessions gone a window at a time, but not one that heartbeats or runs", async () => {
    env = await makeTestEnv();
    await env.call("POST", "/v1/patrol/config", { body: { gc_batch: 2 } });
    const dead = [];
    for (let i = 0; i < 3; i++) dead.push(await deadWorker());
    const beating = await deadWorker();
    const alive = await registerSession(env, "worker", (await agent()).fields);
    env.clock.advance(700);
    await env.call("POST", `/v1/sessions/${beating.session.name}/heartbeat`);
    const gone: string[] = [];
    for (let i = 0; i < 4; i++) gone.push(...(await runSteps(env, "session-gc"))["session-gc"].gone);
    expect(gone.sort()).toEqual(dead.map((d) => d.session.name).sort());
    const states = (await env.call("GET", "/v1/sessions?state=all")).body.sessions;
    const stateOf = (n: string) => states.find((s: any) => s.name === n).state;
    expect(stateOf(beating.session.name)).toBe("active");
    expect(stateOf(alive.session.name)).toBe("active");
  });

  it("kills only tmux sessions it started whose session is gone, by recorded name and pane pid", async () => {
    env = await makeTestEnv();
    const host = env.services.host!;
    const mk = async (suffix: string) => {
      const name = `patrol-gc-${process.pid}-${suffix}`;
      await host.tmuxNewSession({ name, cwd: env.dir, command: ["sleep", "600"] });
      tmuxes.push(name);
      return { name, pid: (await host.tmuxPanePid(name))! };
    };
    const ours = await mk("ours");
    const reused = await mk("reused");
    const stranger = await mk("stranger");
    const ctx = daemonCtx(env);
    for (const t of [ours, reused]) {
      const s = await registerSession(env, "worker", { tmux_session: t.name });
      await recordSpawn(ctx, {
        sessionId: s.session_id,
        sessionName: s.session.name,
        agent: "codex",
        host: "test-host",
        tmuxSession: t.name,
        panePid: t === reused ? t.pid + 100000 : t.pid,
      });
      await env.call("POST", `/v1/sessions/${s.session.name}/deregister`);
    }
    const r = (await runSteps(env, "session-gc"))["session-gc"];
    expect(r.killed).toEqual([ours.name]);
    expect(r.left.map((l: any) => l.tmux)).toEqual([reused.name]);
    expect(await host.tmuxHasSession(ours.name)).toBe(false);
    expect(await host.tmuxHasSession(reused.name)).toBe(true);
    expect(await host.tmuxHasSession(stranger.name)).toBe(true);
    // Reaped rows are not looked at again.
    expect((await runSteps(env, "session-gc"))["session-gc"]).toMatchObject({ tmux_killed: 0, left: [] });
  });
});
