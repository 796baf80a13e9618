import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tasks } from "../../../schema/tasks.ts";
import { openDatabase } from "../../../functions/lib/db.ts";
import { isUniqueViolation } from "../../../functions/lib/sql.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const row = (name: string) => ({ id: `tsk_${name}`, name, state: "active" as const, createdAt: 1, updatedAt: 1 });

describe("group commit of concurrent write batches (database files)", () => {
  it("commits the batches of one turn together, and a failing batch fails alone", async () => {
    const database = env.services.database;
    const db = database.db;
    await db.insert(tasks).values(row("taken"));
    const batch = (name: string, second: string) => db.batch([db.insert(tasks).values(row(name)), db.insert(tasks).values(row(second))]);
    const before = database.groupCommits();
    const outcomes = await Promise.allSettled([
      batch("a1", "a2"),
      // Its second insert collides: its first must be rolled back with it, the others kept.
      batch("b1", "taken"),
      batch("c1", "c2"),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const failure = (outcomes[1] as PromiseRejectedResult).reason;
    expect(isUniqueViolation(failure)).toBe(true);
    expect((failure as { statementIndex?: number }).statementIndex).toBe(1);
    // One commit carried the three batches.
    const after = database.groupCommits();
    expect({ commits: after.commits - before.commits, batches: after.batches - before.batches }).toEqual({ commits: 1, batches: 3 });
    const other = await openDatabase({ url: database.url });
    try {
      const names = (await other.db.select({ name: tasks.name }).from(tasks)).map((r) => r.name).sort();
      expect(names).toEqual(["a1", "a2", "c1", "c2", "taken"]);
    } finally {
      other.close();
    }
  });

  it("answers a batch only once its commit is visible to another connection", async () => {
    const db = env.services.database.db;
    const other = await openDatabase({ url: env.services.database.url });
    try {
      const names = ["x1", "x2", "x3", "x4"];
      await Promise.all(
        names.map(async (name) => {
          await db.batch([db.insert(tasks).values(row(name))]);
          // Read through a different client: the row must already be committed.
          const seen = await other.db.select({ name: tasks.name }).from(tasks);
          expect(seen.map((r) => r.name)).toContain(name);
        }),
      );
    } finally {
      other.close();
    }
  });
});
