import { describe, expect, it } from "vitest";
import { DISPATCH_PLUGINS } from "../../../functions/executors.ts";
import type { ExecutorTable } from "../../../functions/lib/ctx.ts";
import { BatchGrowth, FULL_SCOPE_EVERY_MS, GROWN_MS_PER_COMMAND, MAX_GROWN_BATCH } from "../../../functions/queue/batch-growth.ts";
import { dispatchPass } from "../../../functions/queue/dispatch-pass.ts";
import { HeartbeatThrottle } from "../../../functions/queue/dispatchers.ts";
import { createCommand } from "../../../functions/queue/store.ts";
import { commandRow, ownerCtx, recordingQueue } from "./helpers.ts";

const ALL = ["notify_manager", "nudge"] as const;
const PLANNED = ["notify_manager"] as const;
const LEASE = 120_000;

describe("BatchGrowth", () => {
  it("doubles after each full claim up to the cap, and a short claim resets it to the base", () => {
    const g = new BatchGrowth(20, { leaseMs: LEASE });
    expect(g.cap).toBe(MAX_GROWN_BATCH);
    const sizes: number[] = [];
    let now = 1_000_000;
    for (let i = 0; i < 6; i++) {
      const ask = g.ask(now++, ALL, PLANNED);
      sizes.push(ask.limit);
      g.claimed(ask.limit, ask.limit);
    }
    expect(sizes).toEqual([20, 40, 80, 160, 200, 200]);
    const ask = g.ask(now++, ALL, PLANNED);
    g.claimed(ask.limit, ask.limit - 1);
    expect(g.ask(now++, ALL, PLANNED)).toEqual({ limit: 20, types: ALL });
    // A claim that asked for nothing is not "full".
    g.claimed(0, 0);
    expect(g.size).toBe(20);
  });

  it("grows only over database-only types, and claims over every type at the base size at least once a second", () => {
    const g = new BatchGrowth(10, { leaseMs: LEASE });
    const t0 = 5_000_000;
    expect(g.ask(t0, ALL, PLANNED)).toEqual({ limit: 10, types: ALL });
    g.claimed(10, 10);
    expect(g.ask(t0 + 1, ALL, PLANNED)).toEqual({ limit: 20, types: PLANNED });
    g.claimed(20, 20);
    expect(g.ask(t0 + FULL_SCOPE_EVERY_MS - 1, ALL, PLANNED)).toEqual({ limit: 40, types: PLANNED });
    g.claimed(40, 40);
    // A second after the last claim over every type: one at the base size, and the growth stays.
    expect(g.ask(t0 + FULL_SCOPE_EVERY_MS, ALL, PLANNED)).toEqual({ limit: 10, types: ALL });
    g.claimed(10, 10);
    expect(g.ask(t0 + FULL_SCOPE_EVERY_MS + 1, ALL, PLANNED)).toEqual({ limit: 80, types: PLANNED });
    // With no database-only type there is nothing to grow over.
    const none = new BatchGrowth(10, { leaseMs: LEASE });
    none.claimed(10, 10);
    expect(none.ask(t0, ALL, [])).toEqual({ limit: 10, types: ALL });
    expect(none.ask(t0 + 1, ALL, [])).toEqual({ limit: 10, types: ALL });
  });

  it("bounds the cap by the lease and never below the base", () => {
    expect(new BatchGrowth(2, { leaseMs: 40 * GROWN_MS_PER_COMMAND }).cap).toBe(40);
    expect(new BatchGrowth(20, { leaseMs: 5 * GROWN_MS_PER_COMMAND }).cap).toBe(20);
    expect(new BatchGrowth(20, { leaseMs: LEASE, cap: 50 }).cap).toBe(50);
    const g = new BatchGrowth(3, { leaseMs: LEASE, cap: 10 });
    for (let i = 0; i < 5; i++) g.claimed(g.size, g.size);
    expect(g.size).toBe(10);
  });
});

describe("dispatchPass with BatchGrowth", () => {
  const q = recordingQueue({ hostName: "host-a" });

  /** notify_manager as a database-only effect (a plan), nudge as an external one (run only). */
  const plannedTable = () => {
    const table = q.env.services.executors!;
    const notify = { ...table.notify_manager!, plan: async () => ({ stmts: [], result: {} }) };
    q.env.services.executors = { ...table, notify_manager: notify } as ExecutorTable;
  };

  it("claims ever bigger batches of database-only commands while they come back full; a one-shot pass keeps its limit", async () => {
    plannedTable();
    const ctx = ownerCtx(q.env);
    for (let i = 0; i < 20; i++) await createCommand(ctx, { type: "notify_manager", payload: { n: i } });
    // A one-shot pass (cron, --once): exactly its limit, however deep the backlog.
    expect((await dispatchPass(ctx, DISPATCH_PLUGINS, { dispatcherId: "once", limit: 2, route: false })).claimed).toBe(2);
    const heartbeat = new HeartbeatThrottle();
    const growth = new BatchGrowth(2, { leaseMs: LEASE, cap: 8 });
    const opts = { dispatcherId: "loop", limit: 2, route: false, heartbeat, prefetch: true, growth };
    const claimed: number[] = [];
    for (;;) {
      const r = await dispatchPass(ctx, DISPATCH_PLUGINS, opts);
      claimed.push(r.claimed);
      if (r.claimed === 0) break;
    }
    // 18 left: 2, 4, 8 (the cap), then the last 4 (asked for 8: short, so back to 2), then none.
    expect(claimed).toEqual([2, 4, 8, 4, 0]);
    expect(growth.size).toBe(2);
    const left = await q.env.services.database.client.execute("SELECT count(*) AS n FROM commands WHERE state <> 'succeeded'");
    expect(left.rows[0]!.n).toBe(0);
  });

  it("keeps a batch that holds external effects at the configured limit", async () => {
    plannedTable();
    const ctx = ownerCtx(q.env);
    const nudges = [];
    for (let i = 0; i < 4; i++) {
      await createCommand(ctx, { type: "notify_manager", payload: { n: i } });
      q.env.clock.advance(1);
    }
    for (let i = 0; i < 6; i++) {
      nudges.push(await createCommand(ctx, { type: "nudge", host: "host-a", payload: { n: 10 + i } }));
      q.env.clock.advance(1);
    }
    const opts = {
      dispatcherId: "loop",
      limit: 2,
      route: false,
      heartbeat: new HeartbeatThrottle(),
      prefetch: true,
      growth: new BatchGrowth(2, { leaseMs: LEASE }),
    };
    const first = await dispatchPass(ctx, DISPATCH_PLUGINS, opts);
    // The two oldest notify commands, then (full) the grown claim: database-only types only, so
    // the two notify commands left and none of the nudges.
    expect(first.results.map((r) => r.type)).toEqual(["notify_manager", "notify_manager"]);
    const second = await dispatchPass(ctx, DISPATCH_PLUGINS, opts);
    expect(second.results.map((r) => r.type)).toEqual(["notify_manager", "notify_manager"]);
    // That grown claim (4) came back short (2), so the nudges go back to batches of the limit.
    const third = await dispatchPass(ctx, DISPATCH_PLUGINS, opts);
    expect(third.results.map((r) => r.type)).toEqual(["nudge", "nudge"]);
    expect(opts.growth.size).toBe(4);
    // The nudges' full batch grew the next claim, which takes database-only types only: none
    // are left, so it claims nothing (and comes back short) though a nudge is still pending.
    const fourth = await dispatchPass(ctx, DISPATCH_PLUGINS, opts);
    expect(fourth.claimed).toBe(0);
    expect((await commandRow(q.env, nudges[5]!.id)).state).toBe("pending");
    expect(opts.growth.size).toBe(2);
    // So a looping dispatcher claims again at once rather than pausing with a nudge due.
    expect(opts.growth.narrowedShort).toBe(true);
    const fifth = await dispatchPass(ctx, DISPATCH_PLUGINS, opts);
    expect(fifth.results.map((r) => r.type)).toEqual(["nudge", "nudge"]);
    expect(opts.growth.narrowedShort).toBe(false);
  });
});
