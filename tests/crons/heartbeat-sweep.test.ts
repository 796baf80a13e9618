import { eq } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { heartbeatSweep } from "../../crons/heartbeat-sweep.ts";
import { runCron } from "../../crons/run.ts";
import { makeCtx, type Ctx } from "../../functions/lib/ctx.ts";
import { sessions } from "../../schema/sessions.ts";
import { boundPair, registerSession } from "../helpers/factories.ts";
import { makeTestEnv, type TestEnv, PINNED_EPOCH } from "../helpers/services.ts";
import { codexRollout, holdOpen } from "../helpers/transcripts.ts";
import { pidHost } from "./pid-host.ts";

const LIVE = 5151;
const DEAD = 5252;

let env: TestEnv;
let ctx: Ctx;
afterEach(() => env.close());

/** A test env whose host is the fake pid table, or the real NodeHost with "real". */
async function setup(host: ReturnType<typeof pidHost> | "real" = pidHost([LIVE])) {
  env = await makeTestEnv(host === "real" ? { clockAt: PINNED_EPOCH } : { host, clockAt: PINNED_EPOCH });
  ctx = makeCtx(env.services, { kind: "daemon", tokenId: "tok_sweep" });
}
const setPid = (id: string, pid: number, host = "test-host") => env.services.database.db.update(sessions).set({ pid, host }).where(eq(sessions.id, id));
const pidDeadEvents = async () =>
  (await env.services.database.client.execute("SELECT id, session_id, actor, payload_json FROM events WHERE kind = 'session_pid_dead'")).rows;

describe("heartbeat-sweep", () => {
  it("reports sessions whose heartbeat is older than 10 minutes, by the injected clock", async () => {
    await setup();
    const old = await registerSession(env, "worker");
    env.clock.advance(601);
    const recent = await registerSession(env, "manager");
    const report = await heartbeatSweep(ctx);
    expect(report).toMatchObject({ stale_after_seconds: 600, checked_at: "2026-11-21T12:10:01.000Z", stale_count: 1 });
    expect(report.stale).toEqual([
      { session_id: old.session_id, name: old.session.name, role: "worker", last_heartbeat_at: "2026-11-21T12:00:00.000Z", age_seconds: 601 },
    ]);
    expect(report.stale.map((s) => s.session_id)).not.toContain(recent.session_id);
  });

  it("flags a dead-pid session once with a session_pid_dead event, naming the tasks it is bound to, and leaves it active", async () => {
    await setup();
    const p = await boundPair(env);
    await setPid(p.worker.session_id, DEAD);
    await setPid(p.manager.session_id, LIVE);
    const first = await heartbeatSweep(ctx);
    const boundTask = { task_id: p.task.task_id, task: p.task.task.name, binding_id: p.binding.binding_id, role: "worker" };
    expect(first.dead).toEqual([
      {
        session_id: p.worker.session_id,
        name: p.worker.session.name,
        role: "worker",
        pid: DEAD,
        host: "test-host",
        bound_tasks: [boundTask],
        event_id: expect.stringMatching(/^evt_/),
        flagged_at: "2026-11-21T12:00:00.000Z",
        newly_flagged: true,
      },
    ]);
    expect(first.affected_tasks).toEqual([{ ...boundTask, session_id: p.worker.session_id }]);
    expect(first.dead_count).toBe(1);
    const rows = await pidDeadEvents();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: first.dead[0]!.event_id, session_id: p.worker.session_id, actor: "daemon:tok_sweep" });
    expect(JSON.parse(String(rows[0]!.payload_json))).toEqual({
      name: p.worker.session.name,
      role: "worker",
      pid: DEAD,
      host: "test-host",
      bound_tasks: [boundTask],
    });

    env.clock.advance(60);
    const second = await heartbeatSweep(ctx);
    expect(second.dead).toEqual([
      expect.objectContaining({
        session_id: p.worker.session_id,
        event_id: first.dead[0]!.event_id,
        flagged_at: "2026-11-21T12:00:00.000Z",
        newly_flagged: false,
      }),
    ]);
    expect(await pidDeadEvents()).toHaveLength(1);
    const [row] = await env.services.database.db.select().from(sessions).where(eq(sessions.id, p.worker.session_id));
    expect(row!.state).toBe("active");
  });

  it("does not judge sessions on another host or without a pid, and counts the ones it cannot probe", async () => {
    await setup();
    const remote = await registerSession(env, "worker");
    await setPid(remote.session_id, DEAD, "other-box");
    await registerSession(env, "manager");
    const report = await heartbeatSweep(ctx);
    expect(report).toMatchObject({ dead: [], dead_count: 0, affected_tasks: [], unchecked_pid_count: 1 });
    expect(await pidDeadEvents()).toHaveLength(0);
  });

  it("runs as a cron tick and stores the pid findings in its report", async () => {
    await setup(pidHost([]));
    const w = await registerSession(env, "worker");
    await setPid(w.session_id, DEAD);
    const run = await runCron(ctx, "heartbeat-sweep", { runner: "up:test:1" });
    expect(run).toMatchObject({
      state: "succeeded",
      report: { dead_count: 1, dead: [expect.objectContaining({ session_id: w.session_id, bound_tasks: [] })] },
    });
  });

  it("tells a live process from an exited one through the real host (pid and start time)", async () => {
    await setup("real");
    // Each agent is a live process holding its rollout, as registration by pid requires.
    const manager = await holdOpen(codexRollout(env, "manager"));
    const worker = await holdOpen(codexRollout(env, "worker"));
    try {
      const alive = await registerSession(env, "manager", { pid: manager.pid, codex_session: codexRollout(env, "manager", null) });
      const exited = await registerSession(env, "worker", { pid: worker.pid, codex_session: codexRollout(env, "worker", null) });
      await worker.stop();
      const report = await heartbeatSweep(ctx);
      expect(report.dead.map((d) => d.session_id)).toEqual([exited.session_id]);
      expect(report.dead.map((d) => d.session_id)).not.toContain(alive.session_id);
    } finally {
      await manager.stop();
      await worker.stop();
    }
  });
});
