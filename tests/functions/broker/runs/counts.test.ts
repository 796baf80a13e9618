import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { observedWork, sendViolation } from "../../../../functions/broker/runs/enforce.ts";
import { adviceRequests, brokerEvents } from "../../../../schema/broker.ts";
import { registerSession } from "../../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../../helpers/services.ts";
import { daemonCtx, requestMessage, runAdvice, runRow, startedRun, tick } from "./fixtures.ts";

/**
 * A run's event and advice counts are kept by triggers (migration 0023) rather than counted at
 * read time. Each step below changes the run through the real routes and domain functions, and
 * every count the run's status, digest and tick budgets read must then equal a recount from
 * the rows themselves.
 */

let env: TestEnv;
let lily: string;
let peer: string;
beforeEach(async () => {
  env = await makeTestEnv();
  lily = (await registerSession(env, "manager")).session_id;
  peer = (await registerSession(env, "worker")).session_id;
});
afterEach(() => env.close());

/** What counting the rows themselves gives for a run: the queries the status reads used to run. */
async function recount(runId: string) {
  const c = env.services.database.client;
  const rows = async (sql: string) => (await c.execute({ sql, args: [runId] })).rows.map((r) => ({ ...r }));
  const [events] = await rows("SELECT count(*) AS n FROM broker_events WHERE run_id = ?");
  const [ticks] = await rows("SELECT count(*) AS n FROM broker_events WHERE run_id = ? AND kind = 'tick'");
  const conditions = await rows(
    "SELECT json_extract(payload_json, '$.condition') AS c, count(*) AS n FROM broker_events WHERE run_id = ? AND kind = 'stop_condition_met' GROUP BY 1",
  );
  const threads = await rows(
    `SELECT thread_id, count(*) AS requests, count(draft_text) AS drafts, sum(sent_at IS NOT NULL) AS sent,
       sum(sent_at IS NOT NULL AND approved_at IS NULL) AS unapproved_sent FROM advice_requests WHERE run_id = ? GROUP BY thread_id ORDER BY thread_id`,
  );
  const reserved = await rows(
    "SELECT json_extract(payload_json, '$.thread_id') AS thread_id, count(*) AS n FROM broker_events WHERE run_id = ? AND kind = 'send_reserved' GROUP BY 1 ORDER BY 1",
  );
  return { events: Number(events!.n), ticks: Number(ticks!.n), conditions: Object.fromEntries(conditions.map((r) => [r.c, Number(r.n)])), threads, reserved };
}

/** The kept counts, through the reads that use them and straight from the counter tables. */
async function kept(runId: string) {
  const c = env.services.database.client;
  const status = (await env.call("GET", `/v1/broker/runs/${runId}`)).body;
  const digest = (await env.call("GET", `/v1/broker/runs/${runId}/digest`)).body;
  const threads = (
    await c.execute({
      sql: "SELECT thread_id, requests, drafts, sent, unapproved_sent FROM broker_run_advice_counts WHERE run_id = ? AND thread_id <> '' AND requests > 0 ORDER BY thread_id",
      args: [runId],
    })
  ).rows.map((r) => ({ ...r }));
  const reserved = (
    await c.execute({
      sql: "SELECT subject AS thread_id, n FROM broker_run_event_counts WHERE run_id = ? AND kind = 'send_reserved' AND n > 0 ORDER BY subject",
      args: [runId],
    })
  ).rows.map((r) => ({ ...r }));
  return { status, digest, threads, reserved, observed: await observedWork(daemonCtx(env), runId) };
}

/** Every kept count of the run equals its recount. */
async function expectExact(runId: string) {
  const want = await recount(runId);
  const got = await kept(runId);
  expect(got.status.event_count).toBe(want.events);
  expect(got.status.stop_condition_totals).toEqual(want.conditions);
  expect(got.digest.ticks).toBe(want.ticks);
  expect(got.digest.conditions_met).toEqual(want.conditions);
  expect(got.threads).toEqual(want.threads);
  expect(got.reserved).toEqual(want.reserved);
  const sum = (k: "requests" | "drafts") => want.threads.reduce((n, t) => n + Number(t[k]), 0);
  expect(got.observed).toEqual({ requests: sum("requests"), drafts: sum("drafts") });
  return want;
}

describe("a run's kept counts", () => {
  it("stay exact through ingests, drafts, a held request, approvals, sends, a rejection, the owner's stop and deletes", async () => {
    const id = await startedRun(env, { mode: "supervised", limits: { max_sends_total: 5, max_sends_per_thread: 2 }, stop_conditions: ["owner_kill_switch"] });
    expect((await expectExact(id)).events).toBeGreaterThan(0);
    // Three requests on two threads, and one the policy holds for the owner (a condition met).
    await requestMessage(env, { from: peer, to: lily, threadId: "thr_a" });
    await requestMessage(env, { from: peer, to: lily, threadId: "thr_a" });
    await requestMessage(env, { from: peer, to: lily, threadId: "thr_b" });
    await requestMessage(env, { from: peer, to: lily, threadId: "thr_c", body: "What is the latest release of Node today?" });
    expect((await tick(env, id)).stopped).toBeNull();
    env.clock.advance(60);
    expect((await tick(env, id)).stopped).toBeNull();
    let want = await expectExact(id);
    expect(want.ticks).toBe(2);
    expect(want.conditions).toEqual({ owner_input_required: 1 });
    expect(want.threads.map((t) => [t.thread_id, t.requests, t.drafts])).toEqual([
      ["thr_a", 2, 2],
      ["thr_b", 1, 1],
      ["thr_c", 1, 0],
    ]);

    // The owner approves and sends both of thread a's drafts, and rejects thread b's.
    const advice = await runAdvice(env, id);
    const onA = advice.filter((a) => a.threadId === "thr_a").map((a) => a.id);
    for (const a of onA) {
      expect((await env.call("POST", `/v1/broker/advice/${a}/approve`, { body: {} })).status).toBe(200);
      expect((await env.call("POST", `/v1/broker/advice/${a}/send-approved`)).status).toBe(200);
    }
    const onB = advice.find((a) => a.threadId === "thr_b")!.id;
    expect((await env.call("POST", `/v1/broker/advice/${onB}/reject`, { body: { reason: "not needed" } })).status).toBe(200);
    want = await expectExact(id);
    expect(want.threads.map((t) => [t.thread_id, t.sent, t.unapproved_sent])).toEqual([
      ["thr_a", 2, 0],
      ["thr_b", 0, 0],
      ["thr_c", 0, 0],
    ]);
    expect(want.reserved).toEqual([{ thread_id: "thr_a", n: 2 }]);
    // Thread a is at its limit of 2, not past it: no tripwire.
    expect(await sendViolation(daemonCtx(env), await runRow(env, id))).toBeNull();

    // Something sends on thread a once more, without an approval: the tripwires see it from the counts.
    const extra = await requestMessage(env, { from: peer, to: lily, threadId: "thr_a" });
    env.clock.advance(60);
    expect((await tick(env, id)).stopped).toBeNull();
    const late = (await runAdvice(env, id)).find((a) => a.sourceMessageId === extra)!;
    await env.services.database.db.update(adviceRequests).set({ state: "sent", sentAt: env.clock.ms }).where(eq(adviceRequests.id, late.id));
    want = await expectExact(id);
    expect(want.threads[0]).toMatchObject({ thread_id: "thr_a", requests: 3, sent: 3, unapproved_sent: 1 });
    expect(await sendViolation(daemonCtx(env), await runRow(env, id))).toEqual({
      reason: "missing_approval",
      detail: `advice ${late.id} was sent without an owner approval`,
    });
    // Approved after the fact, the same send is still one too many on its thread.
    await env.services.database.db.update(adviceRequests).set({ approvedAt: env.clock.ms }).where(eq(adviceRequests.id, late.id));
    expect(await sendViolation(daemonCtx(env), await runRow(env, id))).toEqual({
      reason: "max_sends_per_thread",
      detail: "3 sent on thread thr_a of at most 2",
    });

    // The owner's stop writes its condition and stop events.
    expect((await env.call("POST", `/v1/broker/runs/${id}/stop`, { body: { reason: "enough" } })).status).toBe(200);
    want = await expectExact(id);
    expect(want.conditions).toEqual({ owner_input_required: 1, owner_kill_switch: 1 });

    // Nothing in Switchyard deletes a run's events or advice today; if something ever does, the counts follow.
    const c = env.services.database.client;
    await c.execute({ sql: "DELETE FROM broker_events WHERE run_id = ? AND kind IN ('tick', 'send_reserved')", args: [id] });
    await c.execute({ sql: "DELETE FROM advice_requests WHERE id = ?", args: [late.id] });
    want = await expectExact(id);
    expect(want.ticks).toBe(0);
    expect(want.reserved).toEqual([]);
    expect(want.threads[0]).toMatchObject({ thread_id: "thr_a", requests: 2, sent: 2, unapproved_sent: 0 });
    // An event moved to another run leaves this run's counts and joins that one's.
    const other = await startedRun(env, { mode: "supervised" });
    const [moved] = await env.services.database.db.select().from(brokerEvents).where(eq(brokerEvents.runId, id)).limit(1);
    await env.services.database.db.update(brokerEvents).set({ runId: other }).where(eq(brokerEvents.id, moved!.id));
    await expectExact(id);
    await expectExact(other);
  });
});
