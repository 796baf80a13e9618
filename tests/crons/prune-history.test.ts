import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { claimCronSlot, runCron } from "../../crons/run.ts";
import { makeCtx, type Ctx } from "../../functions/lib/ctx.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";

let env: TestEnv;
let ctx: Ctx;
beforeEach(async () => {
  env = await makeTestEnv();
  ctx = makeCtx(env.services, { kind: "daemon", tokenId: "tok_cron" });
});
afterEach(() => env.close());

const count = async (table: string) => Number((await env.services.database.client.execute(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);

describe("prune-history cron", () => {
  it("clears secret-bearing responses an older version stored; new ones never hold a secret", async () => {
    const reg = await env.call("POST", "/v1/sessions", { body: { name: "w", role: "worker" }, headers: { "Idempotency-Key": "k1" } });
    expect(reg.status).toBe(201);
    const stored = async (key: string) =>
      String(
        (await env.services.database.client.execute({ sql: "SELECT response_body FROM idempotency_keys WHERE key = ?", args: [key] })).rows[0]!.response_body,
      );
    expect(await stored("k1")).not.toContain(reg.body.token);
    const legacy = `{"token":"sy_session_${"ab".repeat(24)}"}`;
    await env.services.database.client.execute({
      sql: "INSERT INTO idempotency_keys (principal, key, method, path, request_hash, state, status_code, response_body, created_at) VALUES ('session:x', 'old', 'POST', '/v1/sessions', 'h', 'done', 201, ?, ?)",
      args: [legacy, env.clock.ms],
    });
    const run = await runCron(ctx, "prune-history", { runner: "p1" });
    expect(run.report).toMatchObject({ secret_bodies_cleared: 1 });
    expect(await stored("old")).toBe("null");
  });

  it("looks again only at keys stored since the last prune that scrubbed (less six hours), off the created_at index", async () => {
    const c = env.services.database.client;
    const legacy = (key: string, at: number, body = `{"token":"sy_session_${"cd".repeat(24)}"}`) =>
      c.execute({
        sql: "INSERT INTO idempotency_keys (principal, key, method, path, request_hash, state, status_code, response_body, created_at) VALUES ('session:x', ?, 'POST', '/v1/sessions', 'h', 'done', 201, ?, ?)",
        args: [key, body, at],
      });
    const prune = (id: string, at: number, report: string | null) =>
      c.execute({
        sql: "INSERT INTO cron_runs (id, name, runner, state, report_json, started_at, finished_at) VALUES (?, 'prune-history', 'other', 'succeeded', ?, ?, ?)",
        args: [id, report, at, at],
      });
    const bodies = async () =>
      (await c.execute("SELECT key, response_body IS NULL AS cleared FROM idempotency_keys ORDER BY key")).rows.map((r) => [r.key, r.cleared]);
    expect((await runCron(ctx, "prune-history", { runner: "p1" })).state).toBe("succeeded");
    const lastPrune = env.clock.ms;
    env.clock.advance(8 * 3600);
    // Stored long before the last scrub: it would have cleared it; not read again.
    await legacy("before", lastPrune - 7 * 3_600_000);
    // Stored within six hours before it (a machine whose clock is behind) and after it: both read.
    await legacy("overlap", lastPrune - 5 * 3_600_000);
    await legacy("after", lastPrune + 60_000);
    // Not a minted secret: `_` is itself, not any character, and case counts.
    await legacy("lookalike", lastPrune + 60_000, '{"token":"syx_2","secret":"SY_3"}');
    // Prunes that did not scrub (an older version's, which records success all the same) and one
    // stamped a month ahead (a clock running fast) do not move where the scrub starts.
    await prune("crn_old_version", lastPrune + 3_600_000, '{"slots_deleted":0}');
    await prune("crn_future", env.clock.ms + 30 * 86_400_000, '{"secret_bodies_cleared":0}');
    const run = await runCron(ctx, "prune-history", { runner: "p1" });
    expect(run.report).toMatchObject({ secret_bodies_cleared: 2 });
    expect(await bodies()).toEqual([
      ["after", 1],
      ["before", 0],
      ["lookalike", 0],
      ["overlap", 1],
    ]);
  });

  it("deletes slots and runs older than 7 days and keeps recent ones", async () => {
    expect(await claimCronSlot(ctx, "heartbeat-sweep:old", "p1")).toBe(true);
    await runCron(ctx, "heartbeat-sweep", { runner: "p1", slotKey: "heartbeat-sweep:old" });
    env.clock.advance(8 * 86_400);
    expect(await claimCronSlot(ctx, "heartbeat-sweep:new", "p1")).toBe(true);
    const run = await runCron(ctx, "prune-history", { runner: "p1" });
    expect(run.state).toBe("succeeded");
    expect(run.report).toMatchObject({ slots_deleted: 1, runs_deleted: 1, retention_days: 7 });
    expect(await count("cron_slots")).toBe(1);
    // The prune run itself is recent and stays.
    expect(await count("cron_runs")).toBe(1);
  });
});
