import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCtx } from "../../functions/lib/ctx.ts";
import { dispatchPass } from "../../functions/queue/dispatch-pass.ts";
import { HeartbeatThrottle, SWEEP_EVERY_MS } from "../../functions/queue/dispatchers.ts";
import { DrainLease } from "../../functions/queue/drain-lease.ts";
import { DISPATCH_PLUGINS } from "../../functions/executors.ts";
import { roundTrips } from "../helpers/db-clients.ts";
import { HOT_OPERATIONS } from "../helpers/hot-routes.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";

/*
 * Issue 10's budget: each hot operation takes at most 3 database round trips (each one a network
 * hop against a remote libSQL/Turso database) and never holds an interactive transaction across
 * round trips. The tally wraps the real client (tests/helpers/db-clients.ts).
 */
const BUDGET = 3;
// Operations allowed over the budget while their path is reworked; none today (the observation
// cycle was the last: its reads now share one batch keyed by the task's name).
const NOT_YET = new Set<string>();

const tally = roundTrips();
let env: TestEnv;
beforeAll(async () => {
  env = await makeTestEnv({ roundTrips: tally });
});
afterAll(() => env.close());

describe("round trips per hot operation", () => {
  for (const op of HOT_OPERATIONS.filter((o) => !NOT_YET.has(o.name))) {
    it(`${op.name}: at most ${BUDGET} round trips, no interactive transaction`, async () => {
      const call = await op.prepare(env);
      tally.reset();
      await call();
      expect({ round_trips: tally.count, transactions: tally.transactions, log: tally.count > BUDGET ? tally.log : [] }).toEqual({
        round_trips: expect.any(Number),
        transactions: 0,
        log: [],
      });
      expect(tally.count).toBeGreaterThan(0);
      expect(tally.count).toBeLessThanOrEqual(BUDGET);
    });
  }

  it("a dispatcher claims, executes and completes a batch with one batch per command and no interactive transaction", async () => {
    const task = (await env.call("POST", "/v1/tasks", { body: { name: "rt-task", goal: "g" } })).body;
    const manager = await env.call("POST", "/v1/sessions", { body: { name: "rt-manager", role: "manager" } });
    const worker = await env.call("POST", "/v1/sessions", { body: { name: "rt-worker", role: "worker" } });
    await env.call("POST", "/v1/bindings", { body: { task: task.task.name, worker: worker.body.session.name, manager: manager.body.session.name } });
    for (let i = 0; i < 4; i++) {
      const r = await env.call("POST", `/v1/tasks/${task.task.name}/notify-manager`, { body: { message: `m${i}` } });
      expect(r.status).toBe(201);
    }
    const ctx = makeCtx(env.services, { kind: "daemon", tokenId: "rt" });
    const own = tally;
    own.reset();
    const heartbeat = new HeartbeatThrottle();
    const first = await dispatchPass(ctx, DISPATCH_PLUGINS, { dispatcherId: "rt", route: false, heartbeat });
    expect(first).toMatchObject({ claimed: 4, succeeded: 4 });
    expect(own.transactions).toBe(0);
    const perCommand = own.count / 4;
    // Sweep+claim (1), started of the first (1), then per command: its executor's reads and writes
    // plus one batch for its outcome with the next one's start, and the first heartbeat (1).
    expect(perCommand).toBeLessThanOrEqual(BUDGET);
    own.reset();
    const idle = await dispatchPass(ctx, DISPATCH_PLUGINS, { dispatcherId: "rt", route: false, heartbeat });
    expect(idle.claimed).toBe(0);
    // A pass with nothing to do: the claim batch only; the heartbeat waits for its interval, and
    // so does the lease sweep (a looping dispatcher sweeps once a second at most).
    expect(own.log).toEqual([expect.stringMatching(/^batch\[2\]/)]);
    env.clock.advance(SWEEP_EVERY_MS / 1000);
    own.reset();
    await dispatchPass(ctx, DISPATCH_PLUGINS, { dispatcherId: "rt", route: false, heartbeat });
    // Its interval over, the sweep rides in the claim's batch again.
    expect(own.log).toEqual([expect.stringMatching(/^batch\[4\]/)]);
  });

  it("under a drain lease the holder renews it in its claim write (no extra round trip) and a standby's idle pass is one read", async () => {
    const task = (await env.call("POST", "/v1/tasks", { body: { name: "rt-drain", goal: "g" } })).body;
    const manager = await env.call("POST", "/v1/sessions", { body: { name: "rt-drain-manager", role: "manager" } });
    const worker = await env.call("POST", "/v1/sessions", { body: { name: "rt-drain-worker", role: "worker" } });
    await env.call("POST", "/v1/bindings", { body: { task: task.task.name, worker: worker.body.session.name, manager: manager.body.session.name } });
    for (let i = 0; i < 4; i++) {
      const r = await env.call("POST", `/v1/tasks/${task.task.name}/notify-manager`, { body: { message: `m${i}` } });
      expect(r.status).toBe(201);
    }
    const ctx = makeCtx(env.services, { kind: "daemon", tokenId: "rt" });
    const holder = { dispatcherId: "rt-holder", route: false, heartbeat: new HeartbeatThrottle(), drain: new DrainLease() };
    const standby = { dispatcherId: "rt-standby", route: false, heartbeat: new HeartbeatThrottle(), drain: new DrainLease() };
    tally.reset();
    // First pass: nobody holds the lease yet, so a read, then the claim write that takes it.
    const first = await dispatchPass(ctx, DISPATCH_PLUGINS, holder);
    expect(first).toMatchObject({ claimed: 4, succeeded: 4, drain_lease: "held" });
    expect(tally.transactions).toBe(0);
    const standbyRead = /^SELECT \(select "holder" from "dispatch_leases"/i;
    expect(tally.log[0]).toMatch(standbyRead);
    expect(tally.log[1]).toMatch(/^batch\[5\]/);
    expect(tally.count / 4).toBeLessThanOrEqual(BUDGET);
    // Held: the next pass goes straight to its claim write, which renews the lease (sweep off).
    tally.reset();
    expect(await dispatchPass(ctx, DISPATCH_PLUGINS, holder)).toMatchObject({ claimed: 0, drain_lease: "held" });
    expect(tally.log).toEqual([expect.stringMatching(/^batch\[3\]/)]);
    // The standby reads the lease and, with nothing of its own due, writes nothing (its first
    // pass also writes its first heartbeat).
    await dispatchPass(ctx, DISPATCH_PLUGINS, standby);
    tally.reset();
    expect(await dispatchPass(ctx, DISPATCH_PLUGINS, standby)).toMatchObject({ claimed: 0, drain_lease: "standby" });
    expect(tally.log).toEqual([expect.stringMatching(standbyRead)]);
    expect(tally.transactions).toBe(0);
  });
});
