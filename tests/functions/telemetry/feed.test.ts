import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { auditInsert } from "../../../functions/lib/audit.ts";
import { makeCtx, type Ctx } from "../../../functions/lib/ctx.ts";
import { catchUpTelemetry, FEED_BATCH, feedTelemetry } from "../../../functions/telemetry/feed.ts";
import { registerSession } from "../../helpers/factories.ts";
import { captureStatements } from "../../helpers/query-plans.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
let ctx: Ctx;
beforeEach(async () => {
  env = await makeTestEnv();
  ctx = makeCtx(env.services, { kind: "owner", tokenId: "tok_feed_test" });
});
afterEach(() => env.close());

const rows = async (sql: string, args: Array<string | number> = []) => (await env.services.database.client.execute({ sql, args })).rows;
const queued = async () => (await rows("SELECT event_id FROM telemetry_pending ORDER BY seq")).map((r) => String(r.event_id));
const auditRows = async () => rows("SELECT * FROM telemetry_events WHERE source = 'audit' ORDER BY id");

/** Writes `n` audit events of `kind` in one batch, as a mutation does; returns their ids. */
async function writeEvents(n: number, kind = "test_feed", payload: (i: number) => Record<string, unknown> = (i) => ({ n: i })) {
  const inserts = Array.from({ length: n }, (_, i) => auditInsert(ctx, { kind, payload: payload(i) }));
  const stmts = inserts.map((a) => a.stmt);
  await ctx.db.batch(stmts as [(typeof stmts)[number], ...typeof stmts]);
  return inserts.map((a) => a.id);
}

describe("audit events reach telemetry through the queue", () => {
  it("a mutation queues its audit event; the telemetry routes catch up before they read", async () => {
    await registerSession(env, "worker");
    const [event] = await rows("SELECT id FROM events WHERE kind = 'session_registered'");
    expect(await queued()).toContain(String(event!.id));
    expect(await rows("SELECT id FROM telemetry_events WHERE ref_id = ?", [String(event!.id)])).toEqual([]);

    const res = await env.call("GET", "/v1/telemetry?search=session_registered");
    expect(res.status).toBe(200);
    expect(res.body.events.map((e: { ref_id: string }) => e.ref_id)).toContain(event!.id);
    expect(await queued()).toEqual([]);
  });

  it("writes the summary the per-event trigger wrote: ids, states and scalars, never bodies or nested objects", async () => {
    const long = "x".repeat(300);
    const [id] = await writeEvents(1, "delivery_failed", () => ({
      run_id: "run_7",
      inbox_item_id: "inb_1",
      state: "dead",
      attempts: 3,
      urgent: true,
      body: "secret text",
      nested: { task_id: "tsk_hidden" },
      error: long,
    }));
    const report = await feedTelemetry(ctx);
    expect(report).toEqual({ fed: 1, drained: 1, more: false });
    const [row] = await auditRows();
    const [event] = await rows("SELECT created_at FROM events WHERE id = ?", [id!]);
    expect(row).toMatchObject({
      kind: "delivery_failed",
      run_id: "run_7",
      actor: "owner:tok_feed_test",
      ref_id: id,
      outcome: "failed",
      created_at: event!.created_at,
    });
    expect(row!.summary).toBe(
      `audit delivery_failed owner:tok_feed_test run_id=run_7 inbox_item_id=inb_1 state=dead attempts=3 urgent=1 error=${"x".repeat(200)}`,
    );
    expect(String(row!.summary)).not.toContain("secret text");
    expect(String(row!.summary)).not.toContain("tsk_hidden");
  });

  it("gives every row the columns the per-event trigger of migration 0010 gave it", async () => {
    // The old trigger, put back beside the queue: each event then gets its row both ways.
    const old = readFileSync(new URL("../../../schema/migrations/0010_telemetry_fts.sql", import.meta.url), "utf8")
      .split("--> statement-breakpoint")
      .map((stmt) => stmt.trim())
      .find((stmt) => stmt.startsWith("CREATE TRIGGER `telemetry_from_events`"));
    await env.services.database.client.execute(old!);
    const { session_id } = await registerSession(env, "worker");
    const shapes: Array<[string, Record<string, unknown>]> = [
      ["session_note", { session_id, name: "n1", text: "a body", count: 2.5, ok: false }],
      ["loop_error", { loop_run_id: "lr_1", reason: "r".repeat(250), list: [1, 2], key: "k" }],
      ["dispatch_dead", { dispatcher_id: "d1", patrol_run_id: "p1", command_type: "nudge", null_field: null }],
      ["plain", {}],
    ];
    for (const [kind, payload] of shapes) await writeEvents(1, kind, () => payload);
    await feedTelemetry(ctx);
    const both = await rows(
      "SELECT ref_id, count(*) AS n, count(DISTINCT source || kind || ifnull(task_id, '') || ifnull(session_id, '') || ifnull(run_id, '') || actor || outcome || summary || created_at) AS shapes FROM telemetry_events WHERE source = 'audit' GROUP BY ref_id",
    );
    expect(both.length).toBeGreaterThanOrEqual(shapes.length);
    for (const r of both) expect({ ref: r.ref_id, n: Number(r.n), shapes: Number(r.shapes) }).toEqual({ ref: r.ref_id, n: 2, shapes: 1 });
  });

  it(`feeds ${FEED_BATCH} events per transaction, oldest first, each once`, async () => {
    const ids = [...(await writeEvents(1500)), ...(await writeEvents(1000))];
    const first = await feedTelemetry(ctx, { maxBatches: 1 });
    expect(first).toEqual({ fed: FEED_BATCH, drained: FEED_BATCH, more: true });
    expect((await auditRows()).map((r) => r.ref_id)).toEqual(ids.slice(0, FEED_BATCH));
    const rest = await feedTelemetry(ctx);
    expect(rest).toEqual({ fed: 1500, drained: 1500, more: false });
    expect((await auditRows()).map((r) => r.ref_id)).toEqual(ids);
    expect(await queued()).toEqual([]);
    expect(await feedTelemetry(ctx)).toEqual({ fed: 0, drained: 0, more: false });
  });

  it("lets timers and other requests run between the batches of a long catch-up", async () => {
    await writeEvents(2500);
    const order: string[] = [];
    setTimeout(() => order.push("timer"), 0);
    await catchUpTelemetry(ctx);
    order.push("caught up");
    // Without a turn for the event loop between batches, the timer would fire only after.
    expect(order).toEqual(["timer", "caught up"]);
    expect(await queued()).toEqual([]);
  });

  it("drops a queued event that is gone by the time of the feed, and feeds the rest", async () => {
    const [gone, kept] = await writeEvents(2);
    await rows("DELETE FROM events WHERE id = ?", [gone!]);
    expect(await feedTelemetry(ctx)).toEqual({ fed: 1, drained: 2, more: false });
    expect((await auditRows()).map((r) => r.ref_id)).toEqual([kept]);
  });

  it("feeds an event whose payload SQLite's JSON functions refuse, without its fields, and the events behind it", async () => {
    // Nested 1000 deep: json_each and json_extract throw "malformed JSON" on it.
    let deep: unknown = "bottom";
    for (let i = 0; i < 1000; i++) deep = [deep];
    const [poison] = await writeEvents(1, "deep_payload", () => ({ state: "x", evidence: deep }));
    const [after] = await writeEvents(1, "after_it", () => ({ state: "fine" }));
    expect(await feedTelemetry(ctx)).toEqual({ fed: 2, drained: 2, more: false });
    expect((await auditRows()).map((r) => [r.ref_id, r.summary])).toEqual([
      [poison, "audit deep_payload owner:tok_feed_test"],
      [after, "audit after_it owner:tok_feed_test state=fine"],
    ]);
    expect(await queued()).toEqual([]);
  });

  it("a refused telemetry read or export leaves the queue as it was", async () => {
    await env.call("POST", "/v1/tasks", { body: { name: "feed-task", goal: "g" } });
    const before = await queued();
    expect(before.length).toBeGreaterThan(0);
    expect((await env.call("GET", "/v1/telemetry/tasks/no-such-task")).status).toBe(404);
    expect((await env.call("GET", "/v1/telemetry?task=no-such-task")).status).toBe(404);
    expect((await env.call("GET", "/v1/telemetry?cursor=garbage")).status).toBe(400);
    expect((await env.call("GET", "/v1/dashboard/overview?cursor=garbage")).status).toBe(400);
    const missing = await env.call("POST", "/v1/tasks/feed-task/export", { body: { dir: `${env.dir}/not-there` } });
    expect(missing.status).toBe(422);
    expect((await env.call("POST", "/v1/tasks/feed-task/export", { body: { dir: "relative/dir" } })).body.error.code).toBe("PATH_NOT_ALLOWED");
    expect(await queued()).toEqual(before);
    expect(await auditRows()).toEqual([]);
  });

  it("catching up with nothing queued is one read and no write", async () => {
    await writeEvents(3);
    await feedTelemetry(ctx);
    const seen = captureStatements(env);
    await catchUpTelemetry(ctx);
    expect(seen.map((s) => s.sql)).toEqual(["SELECT min(seq) AS oldest FROM telemetry_pending"]);
  });

  it("the telemetry-feed cron feeds the queue and reports what it wrote", async () => {
    await writeEvents(4);
    const res = await env.call("POST", "/v1/crons/telemetry-feed");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: "telemetry-feed", state: "succeeded", report: { fed: 4, drained: 4, more: false } });
    expect(await queued()).toEqual([]);
  });

  it("the migration replaced the per-event trigger with the queueing one", async () => {
    const triggers = (await rows("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'")).map((r) => r.name);
    expect(triggers).toEqual(["telemetry_pending_from_events"]);
  });
});
