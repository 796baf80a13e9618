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
});
