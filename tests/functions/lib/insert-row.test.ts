import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeCtx, type Ctx } from "../../../functions/lib/ctx.ts";
import { insertRow } from "../../../functions/lib/sql.ts";
import { newCommandRow } from "../../../functions/queue/store.ts";
import { bindings } from "../../../schema/bindings.ts";
import { commands } from "../../../schema/commands.ts";
import { events, type EventRow } from "../../../schema/events.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
let ctx: Ctx;
beforeEach(async () => {
  env = await makeTestEnv();
  ctx = makeCtx(env.services, { kind: "owner", tokenId: "tok_insert_row" });
});
afterEach(() => env.close());

/** The statement a batch would send for an item, as drizzle's batch asks for it. */
const queryOf = (item: unknown) => (item as { _prepare(): { getQuery(): { sql: string; params: unknown[] } } })._prepare().getQuery();

const eventRow = (id: string, payload: Record<string, unknown>): EventRow => ({
  id,
  kind: "test_insert",
  taskId: null,
  sessionId: "ses_1",
  actor: "owner",
  payload,
  createdAt: env.clock.ms,
});

describe("insertRow", () => {
  it("sends the statement and parameters drizzle's own insert sends", () => {
    const rows = [
      [events, eventRow("evt_a", { nested: { a: [1, "two"] }, text: 'it\'s "quoted"' })],
      [commands, newCommandRow(ctx, { type: "nudge", sessionId: "ses_1", host: "h", payload: { text: "hi" } })],
    ] as const;
    for (const [table, row] of rows) {
      const item = insertRow(ctx.db, table as never, row as never);
      // The prebuilt statement, not drizzle's builder (which has toSQL).
      expect(item).not.toHaveProperty("toSQL");
      const ours = queryOf(item);
      const theirs = ctx.db
        .insert(table as never)
        .values(row as never)
        .toSQL();
      expect(ours).toEqual({ sql: theirs.sql, params: theirs.params });
    }
  });

  it("stores the same row as drizzle's insert, in a batch and awaited on its own", async () => {
    const payload = { n: 1, list: [1, 2], deep: { x: null } };
    await ctx.db.batch([insertRow(ctx.db, events, eventRow("evt_batched", payload)) as never, ctx.db.insert(events).values(eventRow("evt_drizzle", payload))]);
    await insertRow(ctx.db, events, eventRow("evt_alone", payload));
    const stored = await ctx.db.select().from(events).where(eq(events.kind, "test_insert"));
    expect(stored.map((r) => r.id).sort()).toEqual(["evt_alone", "evt_batched", "evt_drizzle"]);
    for (const r of stored) expect({ ...r, id: "" }).toEqual({ ...eventRow("", payload) });
  });

  it("leaves a row that leaves a column out to drizzle: it fills the default or writes null", async () => {
    const { taskId: _left, ...partial } = eventRow("evt_partial", {});
    const item = insertRow(ctx.db, events, partial as EventRow);
    expect(item).toHaveProperty("toSQL");
    const { sql: text, params } = queryOf(item);
    expect({ sql: text, params }).toEqual(
      ctx.db
        .insert(events)
        .values(partial as EventRow)
        .toSQL(),
    );
    await item;
    expect((await ctx.db.select().from(events).where(eq(events.id, "evt_partial")))[0]!.taskId).toBeNull();
    const row = { id: "bnd_1", taskId: "tsk_1", workerSessionId: "ses_w", managerSessionId: "ses_m", createdAt: env.clock.ms, updatedAt: env.clock.ms };
    const defaulted = insertRow(ctx.db, bindings, row as never);
    // drizzle's builder, not the prebuilt statement: it writes the defaults ('active', 0).
    expect(queryOf(defaulted).sql).toBe(
      ctx.db
        .insert(bindings)
        .values(row as never)
        .toSQL().sql,
    );
    expect(defaulted).toHaveProperty("toSQL");
  });

  it("refuses nothing drizzle accepts: a failing insert fails the batch it is in", async () => {
    await insertRow(ctx.db, events, eventRow("evt_dup", {}));
    await expect(
      ctx.db.batch([insertRow(ctx.db, events, eventRow("evt_new", {})) as never, insertRow(ctx.db, events, eventRow("evt_dup", {})) as never]),
    ).rejects.toThrow(/UNIQUE/);
    expect(await ctx.db.select().from(events).where(eq(events.id, "evt_new"))).toEqual([]);
  });
});
