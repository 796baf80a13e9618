import { z } from "@hono/zod-openapi";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCron } from "../../crons/run.ts";
import type { ExecutorTable } from "../../functions/lib/ctx.ts";
import { createCommand } from "../../functions/queue/store.ts";
import { makeCtx, type Ctx } from "../../functions/lib/ctx.ts";
import { makeTestEnv, type TestEnv, PINNED_EPOCH } from "../helpers/services.ts";

let env: TestEnv;
let ctx: Ctx;
let ran: string[];
beforeEach(async () => {
  env = await makeTestEnv({ host: null, clockAt: PINNED_EPOCH });
  ran = [];
  // A database-side command type whose side effect the test can see.
  env.services.executors = {
    notify_manager: {
      payload: z.object({ n: z.number() }),
      run: async (_ctx: unknown, cmd: { id: string }) => {
        ran.push(cmd.id);
        return { ok: true, result: {} };
      },
    },
  } as unknown as ExecutorTable;
  ctx = makeCtx(env.services, { kind: "daemon", tokenId: "tok_dispatch_cron" });
});
afterEach(() => env.close());

const commandState = async (id: string) =>
  (await env.services.database.client.execute({ sql: "SELECT state FROM commands WHERE id = ?", args: [id] })).rows[0]!.state;
/** Puts a command in the state a dispatcher that died mid-claim leaves behind. */
const claimedUntil = (id: string, leaseExpiresAt: number) =>
  env.services.database.client.execute({
    sql: "UPDATE commands SET state = 'running', claim_generation = 1, attempts = 1, lease_expires_at = ? WHERE id = ?",
    args: [leaseExpiresAt, id],
  });

describe("dispatch-pass cron", () => {
  it("runs due commands as dispatcher dispatch-local, whose heartbeat the app loop then sees as fresh until it goes stale", async () => {
    const cmd = await createCommand(ctx, { type: "notify_manager", payload: { n: 1 } });
    const run = await runCron(ctx, "dispatch-pass", { runner: "up:test:1", slotKey: "dispatch-pass:s1" });
    expect(run).toMatchObject({ state: "succeeded", report: { dispatcher_id: "dispatch-local", claimed: 1, succeeded: 1 } });
    expect(ran).toEqual([cmd.id]);
    expect(await commandState(cmd.id)).toBe("succeeded");

    const tasks = await env.call("POST", "/v1/tasks", { body: { name: "loop-task" } });
    expect(tasks.status).toBe(201);
    const fresh = await env.call("GET", "/v1/tasks/loop-task/app-loop/status");
    expect(fresh.body.dispatch).toMatchObject({ dispatcher_id: "dispatch-local", state: "fresh", heartbeat_at: "2026-11-21T12:00:00.000Z" });
    env.clock.advance(181);
    expect((await env.call("GET", "/v1/tasks/loop-task/app-loop/status")).body.dispatch).toMatchObject({ state: "stale", age_seconds: 181 });
    await runCron(ctx, "dispatch-pass", { runner: "up:test:1", slotKey: "dispatch-pass:s2" });
    expect((await env.call("GET", "/v1/tasks/loop-task/app-loop/status")).body.dispatch).toMatchObject({ state: "fresh", age_seconds: 0 });
  });
});

describe("lease-expiry cron", () => {
  it("leaves a live lease alone and recovers it once the injected clock passes its expiry", async () => {
    const cmd = await createCommand(ctx, { type: "notify_manager", payload: { n: 1 }, maxAttempts: 3 });
    await claimedUntil(cmd.id, env.clock.ms + 30_000);
    const early = await runCron(ctx, "lease-expiry", { runner: "up:test:1", slotKey: "lease-expiry:s1" });
    expect(early.report).toEqual({ ambiguous: [], pending: [], dead: [], recovered: 0 });
    expect(await commandState(cmd.id)).toBe("running");

    env.clock.advance(30);
    const due = await runCron(ctx, "lease-expiry", { runner: "up:test:1", slotKey: "lease-expiry:s2" });
    expect(due).toMatchObject({ state: "succeeded", report: { ambiguous: [], pending: [cmd.id], dead: [], recovered: 1 } });
    expect(await commandState(cmd.id)).toBe("pending");
    expect(ran).toEqual([]);
  });
});
