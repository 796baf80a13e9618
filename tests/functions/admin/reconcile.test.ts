import { eq } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { bindings } from "../../../schema/bindings.ts";
import { managerCycles } from "../../../schema/observe.ts";
import { sessions } from "../../../schema/sessions.ts";
import { tasks } from "../../../schema/tasks.ts";
import { boundPair, registerSession, withNewEvents } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv, PINNED_EPOCH } from "../../helpers/services.ts";
import { pidHost } from "../../crons/pid-host.ts";

const LIVE = 4242;
const DEAD = 4343;

let env: TestEnv;
afterEach(() => env?.close());

const db = () => env.services.database.db;
const setPid = (id: string, pid: number, host = "test-host") => db().update(sessions).set({ pid, host }).where(eq(sessions.id, id));
const sessionState = async (id: string) => (await db().select().from(sessions).where(eq(sessions.id, id)))[0]!.state;
const bindingState = async (id: string) => (await db().select().from(bindings).where(eq(bindings.id, id)))[0]!.state;
const report = (query = "", token?: string) => env.call("GET", `/v1/admin/reconcile${query}`, { token });
const apply = (body: unknown = {}, token?: string) => env.call("POST", "/v1/admin/reconcile", { body, token });

/**
 * Three tasks: `dead` has a worker whose pid is gone, `finished` was finished without
 * unbinding, `healthy` has live pids and a recent ok cycle.
 */
async function drift() {
  env = await makeTestEnv({ host: pidHost([LIVE]), clockAt: PINNED_EPOCH });
  const dead = await boundPair(env);
  await setPid(dead.worker.session_id, DEAD);
  await setPid(dead.manager.session_id, LIVE);
  const finished = await boundPair(env);
  await db().update(tasks).set({ state: "finished" }).where(eq(tasks.id, finished.task.task_id));
  const healthy = await boundPair(env);
  await setPid(healthy.worker.session_id, LIVE);
  const remote = await registerSession(env, "worker");
  await setPid(remote.session_id, DEAD, "other-box");
  env.clock.advance(2 * 3600);
  await db()
    .insert(managerCycles)
    .values({ taskId: healthy.task.task_id, state: "ok", createdAt: env.clock.ms - 60_000 });
  return { dead, finished, healthy, remote };
}

describe("GET /v1/admin/reconcile", () => {
  it("reports dead-pid sessions with their tasks, dangling bindings and stuck tasks, and changes nothing", async () => {
    const d = await drift();
    const { result: res, events } = await withNewEvents(env, () => report());
    expect(res.status).toBe(200);
    expect(events).toHaveLength(0);
    expect(res.body).toMatchObject({ applied: false, stale_cycles_seconds: 3600, actions: [], after: null, checked_at: "2026-11-21T14:00:00.000Z" });
    const before = res.body.before;
    expect(before.dead_sessions).toEqual([
      {
        session_id: d.dead.worker.session_id,
        name: d.dead.worker.session.name,
        role: "worker",
        pid: DEAD,
        host: "test-host",
        bound_tasks: [{ task_id: d.dead.task.task_id, task: d.dead.task.task.name, binding_id: d.dead.binding.binding_id, role: "worker" }],
      },
    ]);
    expect(before.unchecked_sessions).toEqual([{ session_id: d.remote.session_id, name: d.remote.session.name, pid: DEAD, reason: "lives on host other-box" }]);
    expect(before.dangling_bindings).toEqual([
      { binding_id: d.finished.binding.binding_id, task_id: d.finished.task.task_id, task: d.finished.task.task.name, reasons: ["task_finished"] },
    ]);
    // The dead task has no cycle in 2 h; the healthy one cycled a minute ago; finished tasks are not stuck.
    expect(before.stuck_tasks).toEqual([
      { task_id: d.dead.task.task_id, task: d.dead.task.task.name, binding_id: d.dead.binding.binding_id, last_ok_cycle_at: null, silent_seconds: 7200 },
    ]);
    expect(before.counts).toEqual({ dead_sessions: 1, unchecked_sessions: 1, dangling_bindings: 1, stuck_tasks: 1 });
    expect(before.ok).toBe(false);
    expect(await sessionState(d.dead.worker.session_id)).toBe("active");
    expect(await bindingState(d.finished.binding.binding_id)).toBe("active");
  });

  it("counts only ok cycles, measures from the binding's start, and honours --stale-cycles-seconds", async () => {
    const d = await drift();
    await db()
      .insert(managerCycles)
      .values({ taskId: d.dead.task.task_id, state: "failed", createdAt: env.clock.ms - 10_000 });
    expect((await report()).body.before.stuck_tasks.map((t: any) => t.task)).toEqual([d.dead.task.task.name]);
    // 30 s: the healthy task's last ok cycle (60 s ago) is now too old as well.
    const tight = (await report("?stale_cycles_seconds=30")).body;
    expect(tight.stale_cycles_seconds).toBe(30);
    expect(tight.before.stuck_tasks.map((t: any) => [t.task, t.silent_seconds]).sort()).toEqual(
      [
        [d.dead.task.task.name, 7200],
        [d.healthy.task.task.name, 60],
      ].sort(),
    );
    // A binding made a moment ago is not stuck, however tight the threshold.
    const fresh = await boundPair(env);
    env.clock.advance(5);
    expect((await report("?stale_cycles_seconds=30")).body.before.stuck_tasks.map((t: any) => t.task)).not.toContain(fresh.task.task.name);
  });

  it("lists pid sessions as unchecked when this process has no local runner", async () => {
    env = await makeTestEnv({ host: null, clockAt: PINNED_EPOCH });
    const w = await registerSession(env, "worker");
    await setPid(w.session_id, DEAD);
    const body = (await report()).body;
    expect(body.before.dead_sessions).toEqual([]);
    expect(body.before.unchecked_sessions).toEqual([{ session_id: w.session_id, name: w.session.name, pid: DEAD, reason: "no local runner in this process" }]);
  });

  it("lets a daemon report and refuses sessions and runners", async () => {
    env = await makeTestEnv({ host: pidHost([]), clockAt: PINNED_EPOCH });
    expect((await report("", await env.mint("daemon"))).status).toBe(200);
    const s = await registerSession(env, "worker");
    expect((await report("", s.token)).status).toBe(403);
    expect((await report("", await env.mint("runner", "test-host"))).status).toBe(403);
  });

  it("rejects a stale-cycles threshold below one second", async () => {
    env = await makeTestEnv({ host: pidHost([]), clockAt: PINNED_EPOCH });
    const res = await report("?stale_cycles_seconds=0");
    expect(res.status).toBe(400);
    expect(res.body.error.fields.map((f: any) => f.field)).toEqual(["stale_cycles_seconds"]);
  });
});

describe("POST /v1/admin/reconcile (apply)", () => {
  it("marks dead sessions gone, ends dangling bindings (theirs included), audits each fix and reports before and after", async () => {
    const d = await drift();
    const { result: res, events } = await withNewEvents(env, () => apply());
    expect(res.status).toBe(200);
    expect(res.body.applied).toBe(true);
    expect(res.body.before.counts).toEqual({ dead_sessions: 1, unchecked_sessions: 1, dangling_bindings: 1, stuck_tasks: 1 });
    expect(res.body.actions).toEqual([
      {
        action: "session_marked_gone",
        session_id: d.dead.worker.session_id,
        binding_id: null,
        task_id: null,
        reason: `pid ${DEAD} is not running`,
        event_id: expect.stringMatching(/^evt_/),
      },
      {
        action: "binding_ended",
        session_id: null,
        binding_id: d.dead.binding.binding_id,
        task_id: d.dead.task.task_id,
        reason: "worker_gone",
        event_id: expect.stringMatching(/^evt_/),
      },
      {
        action: "binding_ended",
        session_id: null,
        binding_id: d.finished.binding.binding_id,
        task_id: d.finished.task.task_id,
        reason: "task_finished",
        event_id: expect.stringMatching(/^evt_/),
      },
    ]);
    // The stuck task lost its binding, so nothing is left; the remote session still cannot be judged.
    expect(res.body.after).toMatchObject({ ok: true, counts: { dead_sessions: 0, unchecked_sessions: 1, dangling_bindings: 0, stuck_tasks: 0 } });
    expect(await sessionState(d.dead.worker.session_id)).toBe("gone");
    expect(await sessionState(d.dead.manager.session_id)).toBe("active");
    expect(await bindingState(d.dead.binding.binding_id)).toBe("ended");
    expect(await bindingState(d.finished.binding.binding_id)).toBe("ended");
    expect(await bindingState(d.healthy.binding.binding_id)).toBe("active");
    expect(events.map((e) => [e.id, e.kind, e.sessionId, e.taskId, e.payload]).sort()).toEqual(
      [
        [
          res.body.actions[0].event_id,
          "session_reconciled_gone",
          d.dead.worker.session_id,
          null,
          { name: d.dead.worker.session.name, pid: DEAD, reason: "pid_dead" },
        ],
        [
          res.body.actions[1].event_id,
          "binding_reconciled_ended",
          null,
          d.dead.task.task_id,
          { binding_id: d.dead.binding.binding_id, reasons: ["worker_gone"] },
        ],
        [
          res.body.actions[2].event_id,
          "binding_reconciled_ended",
          null,
          d.finished.task.task_id,
          { binding_id: d.finished.binding.binding_id, reasons: ["task_finished"] },
        ],
      ].sort(),
    );
  });

  it("does nothing the second time", async () => {
    await drift();
    await apply();
    const { result: res, events } = await withNewEvents(env, () => apply());
    expect(res.body.actions).toEqual([]);
    expect(events).toHaveLength(0);
  });

  it("is owner only: a daemon may report but not apply", async () => {
    const d = await drift();
    const res = await apply({}, await env.mint("daemon"));
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("FORBIDDEN");
    expect(await sessionState(d.dead.worker.session_id)).toBe("active");
  });
});
