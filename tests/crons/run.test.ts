import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CRONS } from "../../crons/index.ts";
import { claimCronSlot, runCron } from "../../crons/run.ts";
import { startScheduler } from "../../crons/scheduler.ts";
import { makeCtx, type Ctx } from "../../functions/lib/ctx.ts";
import { ApiError } from "../../functions/lib/errors.ts";
import { openDatabase } from "../../functions/lib/db.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";

let env: TestEnv;
let ctx: Ctx;
beforeEach(async () => {
  env = await makeTestEnv({ host: null });
  ctx = makeCtx(env.services, { kind: "daemon", tokenId: "tok_cron_test" });
});
afterEach(() => {
  vi.restoreAllMocks();
  env.close();
});

async function rows(sql: string) {
  return (await env.services.database.client.execute(sql)).rows.map((r) => ({ ...r }));
}

describe("claimCronSlot", () => {
  it("lets the first owner win a slot and refuses everyone after", async () => {
    expect(await claimCronSlot(ctx, "heartbeat-sweep:2026-11-21T12:00:00.000Z", "up:a:1")).toBe(true);
    expect(await claimCronSlot(ctx, "heartbeat-sweep:2026-11-21T12:00:00.000Z", "up:b:2")).toBe(false);
    expect(await claimCronSlot(ctx, "heartbeat-sweep:2026-11-21T12:00:00.000Z", "up:a:1")).toBe(false);
    expect(await claimCronSlot(ctx, "heartbeat-sweep:2026-11-21T12:00:01.000Z", "up:b:2")).toBe(true);
    expect(await rows("SELECT slot_key, owner FROM cron_slots ORDER BY slot_key")).toEqual([
      { slot_key: "heartbeat-sweep:2026-11-21T12:00:00.000Z", owner: "up:a:1" },
      { slot_key: "heartbeat-sweep:2026-11-21T12:00:01.000Z", owner: "up:b:2" },
    ]);
  });

  it("gives a slot to exactly one of several connections claiming it at once", async () => {
    // Separate clients, as separate processes would have, all racing for the same key.
    const others = await Promise.all([1, 2, 3, 4].map(() => openDatabase({ url: env.services.home.dbUrl })));
    try {
      const ctxs = [ctx, ...others.map((database) => makeCtx({ ...env.services, database }, ctx.auth))];
      const won = await Promise.all(ctxs.map((c, i) => claimCronSlot(c, "heartbeat-sweep:race", `owner-${i}`)));
      expect(won.filter(Boolean)).toHaveLength(1);
      const [slot] = await rows("SELECT owner FROM cron_slots WHERE slot_key = 'heartbeat-sweep:race'");
      expect(slot).toEqual({ owner: `owner-${won.indexOf(true)}` });
    } finally {
      for (const d of others) d.close();
    }
  });
});

describe("runCron", () => {
  it("records a succeeded tick with its report and slot", async () => {
    const res = await runCron(ctx, "heartbeat-sweep", { runner: "up:a:1", slotKey: "heartbeat-sweep:s1" });
    expect(res).toMatchObject({ name: "heartbeat-sweep", state: "succeeded", error: null, report: { stale_count: 0, stale: [] } });
    const [run] = await rows("SELECT id, name, slot_key, runner, state, error, report_json FROM cron_runs");
    expect(run).toMatchObject({ id: res.run_id, name: "heartbeat-sweep", slot_key: "heartbeat-sweep:s1", runner: "up:a:1", state: "succeeded", error: null });
    expect(JSON.parse(String(run!.report_json))).toEqual(res.report);
  });

  it("records a tick that throws as failed, with the message, and does not throw", async () => {
    vi.spyOn(CRONS["heartbeat-sweep"]!, "tick").mockRejectedValueOnce(new Error("sweep exploded"));
    const res = await runCron(ctx, "heartbeat-sweep", { runner: "up:a:1", slotKey: "heartbeat-sweep:s2" });
    expect(res).toMatchObject({ state: "failed", error: "sweep exploded", report: null });
    expect(await rows("SELECT id, slot_key, state, error, report_json, finished_at IS NOT NULL AS finished FROM cron_runs")).toEqual([
      { id: res.run_id, slot_key: "heartbeat-sweep:s2", state: "failed", error: "sweep exploded", report_json: null, finished: 1 },
    ]);
  });

  it("refuses an unknown cron with NOT_FOUND and records nothing", async () => {
    const err = await runCron(ctx, "no-such-cron", { runner: "up:a:1" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe("NOT_FOUND");
    expect(await rows("SELECT count(*) AS n FROM cron_runs")).toEqual([{ n: 0 }]);
  });
});

describe("startScheduler", () => {
  it("stop() waits for a tick in flight, so shutdown never closes the database under it", async () => {
    let entered!: () => void;
    const tickStarted = new Promise<void>((r) => (entered = r));
    let release!: () => void;
    const tickMayFinish = new Promise<void>((r) => (release = r));
    vi.spyOn(CRONS["heartbeat-sweep"]!, "tick").mockImplementation(async () => {
      entered();
      await tickMayFinish;
      return { slow: true };
    });
    const scheduler = startScheduler(() => ctx, { owner: "up:test:1", schedules: [{ name: "heartbeat-sweep", expression: "*/1 * * * * *" }] });
    await tickStarted;

    const stopping = scheduler.stop();
    // setImmediate runs after every pending microtask: a stop() that did not wait would have settled by then.
    const early = await Promise.race([stopping.then(() => "stopped"), new Promise((r) => setImmediate(() => r("waiting")))]);
    expect(early).toBe("waiting");
    release();
    await stopping;

    const runs = await rows("SELECT slot_key, runner, state, report_json FROM cron_runs");
    expect(runs).toEqual([{ slot_key: scheduler.ran[0], runner: "up:test:1", state: "succeeded", report_json: '{"slow":true}' }]);
    expect(scheduler.ran).toHaveLength(1);
    expect(scheduler.ran[0]).toMatch(/^heartbeat-sweep:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
  });
});
