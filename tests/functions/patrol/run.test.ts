import { afterEach, describe, expect, it } from "vitest";
import { eq } from "drizzle-orm";
import { makeCtx } from "../../../functions/lib/ctx.ts";
import { patrolState } from "../../../schema/patrol.ts";
import { STEP_IDS } from "../../../functions/patrol/dag.ts";
import { prunePatrolHistory } from "../../../functions/patrol/prune.ts";
import { runPatrol } from "../../../functions/patrol/run.ts";
import { takeLease } from "../../../functions/patrol/state.ts";
import { watchPatrol } from "../../../functions/patrol/watch.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
afterEach(() => env?.close());

const daemonCtx = (e: TestEnv) => makeCtx(e.services, { kind: "daemon", tokenId: "tok_test" });

/** A run that holds the lease without beating (stuck inside a step). */
async function holdLease(e: TestEnv, holder: string) {
  await e.services.database.db
    .update(patrolState)
    .set({ leaseHolder: holder, leaseExpiresAt: e.clock.ms + 5 * 60_000 })
    .where(eq(patrolState.id, "patrol"));
}

describe("patrol run", () => {
  it("runs every step of the DAG in order, records the run, each step and the heartbeat", async () => {
    env = await makeTestEnv();
    const res = await env.call("POST", "/v1/patrol/runs", { body: {} });
    expect(res.status).toBe(201);
    expect(res.body.run).toMatchObject({ state: "succeeded", trigger: "api", steps_succeeded: STEP_IDS.length, steps_failed: 0, steps_skipped: 0 });
    expect(res.body.steps.map((s: any) => s.step)).toEqual([...STEP_IDS]);
    const shown = await env.call("GET", `/v1/patrol/runs/${res.body.run_id}`);
    expect(shown.body.steps).toHaveLength(STEP_IDS.length);
    expect(shown.body.steps.every((s: any) => s.state === "succeeded")).toBe(true);
    const status = await env.call("GET", "/v1/patrol/status");
    expect(status.body).toMatchObject({ running: true, heartbeat_age_seconds: 0, current_run_id: null, problem: null });
    expect(status.body.last_run.id).toBe(res.body.run_id);
  });

  it("a failing step does not stop independent steps; its dependants are skipped with the reason", async () => {
    env = await makeTestEnv();
    const run = await runPatrol(daemonCtx(env), {
      trigger: "cli",
      impls: {
        "gate-evaluation": async () => {
          throw new Error("gates table unreadable");
        },
      },
    });
    const by = Object.fromEntries(run.steps.map((s) => [s.step, s]));
    expect(run.run.state).toBe("failed");
    expect(by["gate-evaluation"]).toMatchObject({ state: "failed", reason: "gates table unreadable" });
    // Independent of gate-evaluation: still ran.
    for (const s of ["inbox-check", "trigger-pending-spawns", "check-convoy-completion", "resolve-external-deps", "fire-notifications"]) {
      expect(by[s]!.state, s).toBe("succeeded");
    }
    expect(by["health-scan"]).toMatchObject({ state: "skipped", reason: "needs gate-evaluation, which failed" });
    expect(by["plugin-run"]).toMatchObject({ state: "skipped", reason: "needs health-scan, which was skipped" });
    expect(by["orphan-check"]).toMatchObject({ state: "skipped", reason: "needs health-scan, which was skipped" });
    expect(by["session-gc"]).toMatchObject({ state: "skipped", reason: "needs orphan-check, which was skipped" });
    expect(run.run).toMatchObject({ steps_failed: 1, steps_skipped: 4, steps_succeeded: 5 });
  });

  it("--step runs only that step", async () => {
    env = await makeTestEnv();
    const res = await env.call("POST", "/v1/patrol/runs", { body: { step: "orphan-check" } });
    expect(res.body.steps.map((s: any) => s.step)).toEqual(["orphan-check"]);
    expect(res.body.run.only_step).toBe("orphan-check");
    const bad = await env.call("POST", "/v1/patrol/runs", { body: { step: "no-such-step" } });
    expect(bad.status).toBe(400);
  });

  it("refuses a second run while one holds the lease, and takes over an expired lease", async () => {
    env = await makeTestEnv();
    const ctx = daemonCtx(env);
    expect(await takeLease(ctx, "prn_other")).toBe(true);
    const busy = await env.call("POST", "/v1/patrol/runs", { body: {} });
    expect(busy.status).toBe(409);
    expect(busy.body.error.message).toMatch(/prn_other/);
    env.clock.advance(5 * 60 + 1);
    expect((await env.call("POST", "/v1/patrol/runs", { body: {} })).status).toBe(201);
  });

  it("lists runs newest first with a cursor, and only the owner may apply", async () => {
    env = await makeTestEnv();
    for (let i = 0; i < 3; i++) {
      await env.call("POST", "/v1/patrol/runs", { body: { step: "inbox-check" } });
      env.clock.advance(1);
    }
    const first = await env.call("GET", "/v1/patrol/runs?limit=2");
    expect(first.body.count).toBe(2);
    const second = await env.call("GET", `/v1/patrol/runs?limit=2&cursor=${first.body.next_cursor}`);
    expect(second.body.count).toBe(1);
    expect(second.body.next_cursor).toBeNull();
    const all = [...first.body.runs, ...second.body.runs].map((r: any) => r.started_at);
    expect(all).toEqual([...all].sort().reverse());
    const daemon = await env.mint("daemon");
    const refused = await env.call("POST", "/v1/patrol/runs", { token: daemon, body: { apply: true } });
    expect(refused.status).toBe(403);
    expect((await env.call("GET", "/v1/patrol/runs/prn_nope")).status).toBe(404);
  });
});

describe("patrol heartbeat and the second-order watcher", () => {
  it("status, doctor and the watcher report a patrol that is not running", async () => {
    env = await makeTestEnv();
    const never = await env.call("GET", "/v1/patrol/status");
    expect(never.body).toMatchObject({ running: false, heartbeat_at: null });
    expect(never.body.problem).toMatch(/never run/);
    await env.call("POST", "/v1/patrol/runs", { body: {} });
    expect((await env.call("GET", "/v1/admin/doctor")).body.patrol.running).toBe(true);
    env.clock.advance(181);
    const stale = await env.call("GET", "/v1/patrol/status");
    expect(stale.body.running).toBe(false);
    expect(stale.body.problem).toMatch(/181s old/);
    const doctor = await env.call("GET", "/v1/admin/doctor");
    expect(doctor.body.patrol).toMatchObject({ running: false, heartbeat_age_seconds: 181 });
    expect(doctor.body.problems.find((p: any) => p.check === "patrol").hint).toMatch(/patrol run/);
  });

  it("notes a stale patrol, restarts it at the threshold, and escalates to the owner once", async () => {
    env = await makeTestEnv();
    const ctx = daemonCtx(env);
    await env.call("POST", "/v1/patrol/runs", { body: {} });
    // Thresholds low enough to walk the ladder: restart at 2 cycles, escalate at 4.
    await env.call("POST", "/v1/patrol/config", { body: { restart_after_cycles: 2, escalate_after_cycles: 4 } });
    expect((await watchPatrol(ctx)).decision).toBe("healthy");
    env.clock.advance(600);
    expect(await watchPatrol(ctx)).toMatchObject({ decision: "note", unresponsive_cycles: 1 });
    env.clock.advance(60);
    // A run in progress (lease held) is never doubled: the restart waits.
    await holdLease(env, "prn_slow");
    expect(await watchPatrol(ctx)).toMatchObject({ decision: "restart", unresponsive_cycles: 2, restart: { deferred: true } });
    env.clock.advance(5 * 60 + 1);
    const restarted = await watchPatrol(ctx);
    expect(restarted).toMatchObject({ decision: "restart", unresponsive_cycles: 3, restart: { deferred: false, state: "succeeded" } });
    const runs = await env.call("GET", "/v1/patrol/runs");
    expect(runs.body.runs[0].trigger).toBe("watch");
    expect((await watchPatrol(ctx)).decision).toBe("recovered");
    // Now it stays dead: a run is wedged holding the lease, so every restart is refused.
    for (let i = 0; i < 6; i++) {
      env.clock.advance(200);
      await holdLease(env, "prn_stuck");
      await watchPatrol(ctx);
    }
    const notices = await env.call("GET", "/v1/notices");
    const mine = notices.body.notices.filter((n: any) => n.kind === "patrol_not_running");
    expect(mine).toHaveLength(1);
    expect(mine[0].body).toMatch(/Unresponsive for 4 watcher cycles/);
    const status = await env.call("GET", "/v1/patrol/status");
    expect(status.body.unhealthy[0]).toMatchObject({ component: "patrol", unresponsive_cycles: 6 });
  });
});

describe("patrol history", () => {
  it("patrol-prune deletes runs and their steps older than a week, and keeps newer ones", async () => {
    env = await makeTestEnv();
    await env.call("POST", "/v1/patrol/runs", { body: {} });
    env.clock.advance(8 * 86_400);
    const fresh = await env.call("POST", "/v1/patrol/runs", { body: { step: "inbox-check" } });
    const r = await prunePatrolHistory(daemonCtx(env));
    expect(r).toMatchObject({ runs_deleted: 1, steps_deleted: STEP_IDS.length });
    const left = await env.call("GET", "/v1/patrol/runs");
    expect(left.body.runs.map((x: any) => x.id)).toEqual([fresh.body.run_id]);
    expect((await env.call("GET", `/v1/patrol/runs/${fresh.body.run_id}`)).body.steps).toHaveLength(1);
  });
});
