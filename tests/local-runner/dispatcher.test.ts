import { describe, expect, it } from "vitest";
import { createCommand } from "../../functions/queue/store.ts";
import { runDispatchLoop } from "../../local-runner/dispatcher.ts";
import { ownerCtx, recordingQueue } from "../functions/queue/helpers.ts";

const q = recordingQueue();

const dispatcher = async (id: string) => (await q.env.services.database.client.execute({ sql: "SELECT * FROM dispatchers WHERE id = ?", args: [id] })).rows[0];

describe("runDispatchLoop", () => {
  it("runs the bounded number of passes, draining full batches without waiting, then marks itself stopped", async () => {
    for (let i = 0; i < 5; i++) await createCommand(ownerCtx(q.env), { type: "notify_manager", payload: { n: i } });
    const passes: number[] = [];
    const result = await runDispatchLoop(q.env.services, { dispatcherId: "w1", iterations: 3, limit: 2, intervalMs: 0, onPass: (r) => passes.push(r.claimed) });
    expect(result).toEqual({ passes: 3, processed: 5, failed_passes: 0, stopped_by: "iterations" });
    expect(passes).toEqual([2, 2, 1]);
    expect(q.runs).toHaveLength(5);
    expect(await dispatcher("w1")).toMatchObject({ state: "stopped", iteration: 3, processed: 5, pid: process.pid });
  });

  it("stops between passes when its signal is aborted (SIGINT/SIGTERM in the CLI)", async () => {
    const ac = new AbortController();
    const result = await runDispatchLoop(q.env.services, {
      dispatcherId: "w2",
      intervalMs: 60_000,
      signal: ac.signal,
      onPass: () => ac.abort(),
    });
    expect(result).toMatchObject({ passes: 1, stopped_by: "signal" });
    expect(await dispatcher("w2")).toMatchObject({ state: "stopped", iteration: 1 });
  });

  it("claims the next full batch in the write of a batch's outcomes, and runs what it holds before it stops", async () => {
    // Database-only effects (a plan) let a batch's outcomes and the next claim share one write.
    const planned = { ...q.env.services.executors!.notify_manager!, plan: async () => ({ stmts: [], result: {} }) };
    q.env.services.executors = { notify_manager: planned };
    for (let i = 0; i < 6; i++) await createCommand(ownerCtx(q.env), { type: "notify_manager", payload: { n: i } });
    const ac = new AbortController();
    const passes: number[] = [];
    const client = q.env.services.database.client;
    const writes: string[][] = [];
    const batch = client.batch.bind(client);
    client.batch = (stmts, mode) => {
      writes.push(stmts.map((x) => (typeof x === "string" ? x : Array.isArray(x) ? x[0] : x.sql)));
      return batch(stmts, mode);
    };
    const result = await runDispatchLoop(q.env.services, {
      dispatcherId: "w3",
      limit: 2,
      intervalMs: 0,
      signal: ac.signal,
      onPass: (r) => {
        passes.push(r.claimed);
        // Stopped right after the first pass, while the second batch is already claimed.
        ac.abort();
      },
    });
    // The first pass claimed 2 and, with their outcomes, the next 2; stopping ran those too.
    expect(passes).toEqual([2, 2]);
    expect(result).toMatchObject({ passes: 2, processed: 4, stopped_by: "signal" });
    const states = (await client.execute("SELECT state, count(*) AS n FROM commands GROUP BY state ORDER BY state")).rows.map((r) => [r.state, r.n]);
    expect(states).toEqual([
      ["pending", 2],
      ["succeeded", 4],
    ]);
    const outcomes = (w: string[]) => w.some((q) => q.includes('"result_json" = v.result'));
    const claim = (w: string[]) => w.some((q) => /^update "commands" set "state" = \?, "attempts"/.test(q));
    // One write carried the first batch's outcomes and the second batch's claim; the last
    // batch's outcomes claimed nothing ahead.
    expect(writes.filter((w) => outcomes(w) || claim(w)).map((w) => [outcomes(w), claim(w)])).toEqual([
      [false, true],
      [true, true],
      [true, false],
    ]);
  });
});
