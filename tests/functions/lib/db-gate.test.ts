import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tasks } from "../../../schema/tasks.ts";
import { withWriteTransaction } from "../../../functions/lib/db.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const row = (name: string) => ({ id: `tsk_${name}`, name, state: "active" as const, createdAt: 1, updatedAt: 1 });

describe("one process, an open transaction and another write", () => {
  it("queues the write behind the transaction instead of blocking on SQLite's lock", async () => {
    const db = env.services.database.db;
    const before = env.services.database.busyRetries();
    let releaseTx!: () => void;
    const txHeld = new Promise<void>((r) => (releaseTx = r));
    const order: string[] = [];
    const tx = withWriteTransaction(db, async (t) => {
      await t.insert(tasks).values(row("in-tx"));
      await txHeld;
      order.push("tx-commit");
    });
    // Give the transaction time to take the write lock, then write outside it.
    await new Promise((r) => setTimeout(r, 50));
    const outside = db
      .insert(tasks)
      .values(row("outside"))
      .then(() => order.push("outside-done"));
    // A read does not wait for the writer.
    const names = await db.select({ name: tasks.name }).from(tasks);
    expect(names).toEqual([]);
    releaseTx();
    await Promise.all([tx, outside]);
    expect(order).toEqual(["tx-commit", "outside-done"]);
    expect((await db.select({ name: tasks.name }).from(tasks)).map((r) => r.name).sort()).toEqual(["in-tx", "outside"]);
    // Before the gate this stalled for the busy timeout and then reconnected under the transaction.
    expect(env.services.database.busyRetries()).toBe(before);
  });
});
