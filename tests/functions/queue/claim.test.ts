import { describe, expect, it } from "vitest";
import { claimNext, expireLeases } from "../../../functions/queue/claim.ts";
import { createCommand, finishCommand, markSideEffectStarted, RETRY_BASE_MS } from "../../../functions/queue/store.ts";
import { DISPATCH_PLUGINS } from "../../../functions/executors.ts";
import { dispatchPass } from "../../../functions/queue/dispatch-pass.ts";
import { attemptRows, commandRow, ownerCtx, recordingQueue } from "./helpers.ts";

const q = recordingQueue({ hostName: "host-a" });

const scope = { types: ["notify_manager", "nudge"] as const, host: "host-a" };
const claim = (limit = 10, leaseMs = 60_000, dispatcherId = "d1") =>
  claimNext(ownerCtx(q.env), { ...scope, types: [...scope.types], dispatcherId, leaseMs, limit });
const enqueue = (over: Partial<Parameters<typeof createCommand>[1]> = {}) =>
  createCommand(ownerCtx(q.env), { type: "notify_manager", payload: { n: 1 }, maxAttempts: 3, ...over });

describe("claimNext", () => {
  it("claims due commands oldest first in one statement, incrementing the fencing generation and attempts", async () => {
    const a = await enqueue();
    q.env.clock.advance(1);
    const b = await enqueue();
    const claims = await claim(1);
    expect(claims.map((c) => c.command.id)).toEqual([a.id]);
    expect(claims[0]).toMatchObject({ generation: 1, dispatcherId: "d1" });
    expect(await commandRow(q.env, a.id)).toMatchObject({
      state: "running",
      claimed_by: "d1",
      claim_generation: 1,
      attempts: 1,
      lease_expires_at: q.env.clock.ms + 60_000,
    });
    expect(await commandRow(q.env, b.id)).toMatchObject({ state: "pending", claim_generation: 0 });
    // A second claimer gets only what is left; nobody gets a row twice.
    const again = await claim(10, 60_000, "d2");
    expect(again.map((c) => c.command.id)).toEqual([b.id]);
    expect(await claim()).toEqual([]);
    expect((await attemptRows(q.env, a.id)).map((r) => [r.dispatcher_id, r.claim_generation, r.side_effect_started])).toEqual([["d1", 1, 0]]);
  });

  it("takes host commands only for its own host and nothing whose retry time has not come", async () => {
    const mine = await enqueue({ type: "nudge", host: "host-a" });
    const theirs = await enqueue({ type: "nudge", host: "host-b" });
    const later = await enqueue();
    await q.env.services.database.client.execute({ sql: "UPDATE commands SET next_attempt_at = ? WHERE id = ?", args: [q.env.clock.ms + 5000, later.id] });
    expect((await claim()).map((c) => c.command.id)).toEqual([mine.id]);
    // Without a host, a claimer (e.g. an edge dispatcher) takes no host commands at all.
    expect(await claimNext(ownerCtx(q.env), { types: ["nudge", "notify_manager"], host: null, dispatcherId: "edge", leaseMs: 1000, limit: 10 })).toEqual([]);
    q.env.clock.advance(5);
    expect((await claim()).map((c) => c.command.id)).toEqual([later.id]);
    expect((await commandRow(q.env, theirs.id)).state).toBe("pending");
  });

  it("leaves a command held for inline execution to the request that created it, then to the queue", async () => {
    const held = await enqueue({ holdMs: 60_000 });
    expect(await claim()).toEqual([]);
    q.env.clock.advance(60);
    expect((await claim()).map((c) => c.command.id)).toEqual([held.id]);
  });
});

describe("executing claims", () => {
  it("fails an invalid payload permanently before any side effect", async () => {
    const bad = await enqueue({ payload: { n: "not a number" } });
    const report = await dispatchPass(ownerCtx(q.env), DISPATCH_PLUGINS, { dispatcherId: "d1" });
    expect(report).toMatchObject({ claimed: 1, dead: 1, succeeded: 0 });
    expect(report.results[0]!.error).toMatch(/^invalid payload: n:/);
    expect(q.runs).toEqual([]);
    expect(await commandRow(q.env, bad.id)).toMatchObject({ state: "dead", attempts: 1 });
    expect((await attemptRows(q.env, bad.id))[0]).toMatchObject({ side_effect_started: 0, side_effect_completed: 0 });
  });

  it("runs a batch in order, never marking an invalid payload started even when it follows a valid one", async () => {
    const first = await enqueue({ payload: { n: 1 } });
    const bad = await enqueue({ payload: { n: "x" } });
    const last = await enqueue({ payload: { n: 3 } });
    const report = await dispatchPass(ownerCtx(q.env), DISPATCH_PLUGINS, { dispatcherId: "d1" });
    expect(report.results.map((r) => [r.command_id, r.state, r.side_effect_started])).toEqual([
      [first.id, "succeeded", true],
      [bad.id, "dead", false],
      [last.id, "succeeded", true],
    ]);
    expect(q.runs.map((r) => r.id)).toEqual([first.id, last.id]);
    expect((await attemptRows(q.env, bad.id))[0]!.side_effect_started).toBe(0);
    expect((await attemptRows(q.env, last.id))[0]).toMatchObject({ side_effect_started: 1, side_effect_completed: 1 });
  });

  it("retries a failure with exponential backoff, then dead-letters it after max_attempts", async () => {
    const c = await enqueue({ payload: { n: 7, fail: true }, maxAttempts: 3 });
    const ctx = ownerCtx(q.env);
    expect(await dispatchPass(ctx, DISPATCH_PLUGINS, { dispatcherId: "d1" })).toMatchObject({ claimed: 1, retrying: 1 });
    expect(await commandRow(q.env, c.id)).toMatchObject({
      state: "pending",
      attempts: 1,
      next_attempt_at: q.env.clock.ms + RETRY_BASE_MS,
      error: "told to fail",
    });
    // Not due yet: nothing is claimed.
    expect(await dispatchPass(ctx, DISPATCH_PLUGINS, { dispatcherId: "d1" })).toMatchObject({ claimed: 0 });
    q.env.clock.advance(RETRY_BASE_MS / 1000);
    expect(await dispatchPass(ctx, DISPATCH_PLUGINS, { dispatcherId: "d1" })).toMatchObject({ claimed: 1, retrying: 1 });
    expect((await commandRow(q.env, c.id)).next_attempt_at).toBe(q.env.clock.ms + 2 * RETRY_BASE_MS);
    q.env.clock.advance((2 * RETRY_BASE_MS) / 1000);
    expect(await dispatchPass(ctx, DISPATCH_PLUGINS, { dispatcherId: "d1" })).toMatchObject({ claimed: 1, dead: 1 });
    expect(await commandRow(q.env, c.id)).toMatchObject({ state: "dead", attempts: 3, next_attempt_at: null });
    expect(q.runs.map((r) => r.generation)).toEqual([1, 2, 3]);
    expect((await attemptRows(q.env, c.id)).map((a) => [a.side_effect_started, a.error])).toEqual([
      [1, "told to fail"],
      [1, "told to fail"],
      [1, "told to fail"],
    ]);
  });

  it("records a thrown executor as a failed attempt", async () => {
    const c = await enqueue({ payload: { n: 1, throw: true }, maxAttempts: 1 });
    const report = await dispatchPass(ownerCtx(q.env), DISPATCH_PLUGINS, { dispatcherId: "d1" });
    expect(report.results[0]).toMatchObject({ state: "dead", error: "executor threw for 1", side_effect_started: true });
    expect((await commandRow(q.env, c.id)).error).toBe("executor threw for 1");
  });
});

describe("leases and fencing", () => {
  it("expireLeases: started side effect -> ambiguous; not started -> pending with the attempt given back, even on the last attempt", async () => {
    const ctx = ownerCtx(q.env);
    const started = await enqueue();
    const unstarted = await enqueue();
    const last = await enqueue({ maxAttempts: 1 });
    const claims = await claim(10, 30_000);
    await markSideEffectStarted(ctx, claims.find((c) => c.command.id === started.id)!);
    expect(await expireLeases(ctx)).toEqual({ ambiguous: [], pending: [], dead: [] });
    q.env.clock.advance(30);
    const report = await expireLeases(ctx);
    expect(report).toEqual({ ambiguous: [started.id], pending: [unstarted.id, last.id], dead: [] });
    expect(await commandRow(q.env, started.id)).toMatchObject({ state: "ambiguous", lease_expires_at: null, attempts: 1 });
    // Never started, so nothing happened: the claim does not use up an attempt.
    expect(await commandRow(q.env, unstarted.id)).toMatchObject({ state: "pending", attempts: 0 });
    expect(await commandRow(q.env, last.id)).toMatchObject({ state: "pending", attempts: 0 });
    expect((await attemptRows(q.env, started.id))[0]).toMatchObject({ side_effect_started: 1, error: "lease expired before the attempt finished" });
    // An ambiguous command is never picked up again on its own.
    expect((await claim()).map((c) => c.command.id).sort()).toEqual([unstarted.id, last.id].sort());
  });

  it("refuses to start a side effect or record an outcome under a stale generation", async () => {
    const ctx = ownerCtx(q.env);
    const c = await enqueue();
    const [first] = await claim(1, 10_000, "slow");
    q.env.clock.advance(10);
    await expireLeases(ctx);
    const [second] = await claim(1, 10_000, "fast");
    expect(second!.generation).toBe(2);
    expect(await markSideEffectStarted(ctx, first!)).toBe(false);
    await expect(finishCommand(ctx, first!, { ok: true, result: { by: "slow" } }, { queue: {} })).rejects.toMatchObject({ code: "CONFLICT" });
    expect(await markSideEffectStarted(ctx, second!)).toBe(true);
    await finishCommand(ctx, second!, { ok: true, result: { by: "fast" } }, { queue: {} });
    expect(await commandRow(q.env, c.id)).toMatchObject({ state: "succeeded", claim_generation: 2, result_json: JSON.stringify({ by: "fast" }) });
  });

  it("does not start a side effect once the lease has run out, even before a sweep", async () => {
    await enqueue();
    const [c] = await claim(1, 5_000);
    q.env.clock.advance(5);
    expect(await markSideEffectStarted(ownerCtx(q.env), c!)).toBe(false);
  });
});
