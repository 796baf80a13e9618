import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { adviceRequests, approvalTokens, brokerEvents, brokerRuns } from "../../../schema/broker.ts";
import { messages } from "../../../schema/messages.ts";
import { consumeApprovalToken } from "../../../functions/broker/approval-tokens.ts";
import { approveAdvice } from "../../../functions/broker/approve.ts";
import { sendWithApprovalToken } from "../../../functions/broker/scoped-send.ts";
import { makeCtx } from "../../../functions/lib/ctx.ts";
import { ApiError } from "../../../functions/lib/errors.ts";
import { sha256Hex } from "../../../functions/lib/ids.ts";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { adviceRow, draftedAdvice, ingest, insertMessage, insertRun, watch } from "./fixtures.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const db = () => env.services.database.db;
const daemonCtx = () => makeCtx(env.services, { kind: "daemon", tokenId: "tok_daemon" });

/** A drafted advice request attributed to a running scoped_auto_send run, and a token for it. */
async function scopedSetup(opts: { maxUses?: number; expiresMinutes?: number } = {}) {
  const drafted = await draftedAdvice(env);
  const runId = await insertRun(env, "scoped_auto_send");
  await db().update(adviceRequests).set({ runId }).where(eq(adviceRequests.id, drafted.adviceId));
  const res = await env.call("POST", "/v1/broker/tokens", {
    body: {
      run_id: runId,
      to_session: drafted.requester.session.name,
      thread_id: drafted.msg.threadId,
      max_uses: opts.maxUses ?? 1,
      expires_minutes: opts.expiresMinutes ?? 30,
    },
  });
  if (res.status !== 201) throw new Error(`token-create failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { ...drafted, runId, tokenId: res.body.token_id as string, secret: res.body.secret as string };
}

describe("POST /v1/broker/tokens (token-create)", () => {
  it("mints a token for a scoped_auto_send run: secret shown once, only its hash stored", async () => {
    const s = await scopedSetup({ maxUses: 2 });
    const [row] = await db().select().from(approvalTokens).where(eq(approvalTokens.id, s.tokenId));
    expect(row).toMatchObject({ runId: s.runId, toSession: s.requester.session_id, threadId: s.msg.threadId, maxUses: 2, uses: 0, revokedAt: null });
    expect(row!.secretHash).toBe(await sha256Hex(s.secret));
    expect(JSON.stringify(row)).not.toContain(s.secret);
    expect(row!.expiresAt).toBe(env.clock.ms + 30 * 60_000);
  });

  it("refuses runs of any other mode, stopped runs, unknown runs, recipients and threads", async () => {
    const { requester, msg } = await draftedAdvice(env);
    const body = (run_id: string, over: Record<string, unknown> = {}) => ({
      run_id,
      to_session: requester.session.name,
      thread_id: msg.threadId,
      max_uses: 1,
      expires_minutes: 5,
      ...over,
    });
    for (const mode of ["supervised", "overnight_dry_run"] as const) {
      const res = await env.call("POST", "/v1/broker/tokens", { body: body(await insertRun(env, mode)) });
      expect(res.status).toBe(409);
      expect(res.body.error.message).toContain("only for scoped_auto_send runs");
    }
    expect((await env.call("POST", "/v1/broker/tokens", { body: body(await insertRun(env, "scoped_auto_send", "stopped")) })).status).toBe(409);
    expect((await env.call("POST", "/v1/broker/tokens", { body: body("run_nope") })).status).toBe(404);
    const run = await insertRun(env, "scoped_auto_send");
    expect((await env.call("POST", "/v1/broker/tokens", { body: body(run, { to_session: "nobody" }) })).status).toBe(404);
    expect((await env.call("POST", "/v1/broker/tokens", { body: body(run, { thread_id: "thr_nope" }) })).status).toBe(404);
    expect(await db().select().from(approvalTokens)).toHaveLength(0);
  });

  it("is owner only", async () => {
    const { requester, msg } = await draftedAdvice(env);
    const run = await insertRun(env, "scoped_auto_send");
    const s = await registerSession(env, "worker");
    for (const token of [await env.mint("daemon"), s.token, await env.mint("runner", "test-host")]) {
      const res = await env.call("POST", "/v1/broker/tokens", {
        token,
        body: { run_id: run, to_session: requester.session.name, thread_id: msg.threadId, max_uses: 1, expires_minutes: 5 },
      });
      expect(res.status).toBe(403);
      expect((await env.call("POST", "/v1/broker/tokens/apt_x/revoke", { token, body: { reason: "x" } })).status).toBe(403);
    }
    expect(await db().select().from(approvalTokens)).toHaveLength(0);
  });
});

describe("token-check and token-revoke", () => {
  it("reports valid for the exact scope, by recipient name or id, and each mismatch by name", async () => {
    const s = await scopedSetup();
    const check = (q: Record<string, string>, id = s.tokenId) =>
      env.call(
        "GET",
        `/v1/broker/tokens/${id}/check?${new URLSearchParams({ run_id: s.runId, to_session: s.requester.session.name, thread_id: s.msg.threadId, ...q })}`,
        { token: env.owner },
      );
    expect((await check({})).body).toMatchObject({ valid: true, reason: null, token: { id: s.tokenId, uses: 0 } });
    expect((await check({ to_session: s.requester.session_id })).body.valid).toBe(true);
    expect((await check({ run_id: "run_other" })).body).toMatchObject({ valid: false, reason: "run_mismatch" });
    expect((await check({ to_session: s.advisor.session.name })).body).toMatchObject({ valid: false, reason: "session_mismatch" });
    expect((await check({ thread_id: "thr_other" })).body).toMatchObject({ valid: false, reason: "thread_mismatch" });
    expect((await check({}, "apt_nope")).body).toEqual({ valid: false, reason: "missing", token: null });
    // The daemon may check (it uses nothing) but never mint or revoke.
    const daemon = await env.mint("daemon");
    expect(
      (
        await env.call("GET", `/v1/broker/tokens/${s.tokenId}/check?run_id=${s.runId}&to_session=${s.requester.session_id}&thread_id=${s.msg.threadId}`, {
          token: daemon,
        })
      ).body.valid,
    ).toBe(true);
  });

  it("revokes once; the first reason stands and every later check says revoked", async () => {
    const s = await scopedSetup();
    const res = await env.call("POST", `/v1/broker/tokens/${s.tokenId}/revoke`, { body: { reason: "owner revoked" } });
    expect(res.status).toBe(200);
    expect(res.body.token).toMatchObject({ revoke_reason: "owner revoked", revoked_at: expect.any(String) });
    const again = await env.call("POST", `/v1/broker/tokens/${s.tokenId}/revoke`, { body: { reason: "second" } });
    expect(again.body).toMatchObject({ event_id: null, token: { revoke_reason: "owner revoked" } });
    const check = await env.call(
      "GET",
      `/v1/broker/tokens/${s.tokenId}/check?run_id=${s.runId}&to_session=${s.requester.session_id}&thread_id=${s.msg.threadId}`,
    );
    expect(check.body).toMatchObject({ valid: false, reason: "revoked" });
    expect((await env.call("POST", "/v1/broker/tokens/apt_nope/revoke", { body: { reason: "x" } })).status).toBe(404);
  });
});

describe("consumeApprovalToken fails closed", () => {
  it("consumes exactly one use per call and refuses once max_uses is reached", async () => {
    const s = await scopedSetup({ maxUses: 2 });
    const scope = { secret: s.secret, runId: s.runId, toSession: s.requester.session_id, threadId: s.msg.threadId };
    // Sequential on purpose: one process's write transactions queue behind each other anyway;
    // the conditional UPDATE (uses < max_uses) is what holds across processes.
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await consumeApprovalToken(daemonCtx(), scope));
    expect(results.filter((r) => r.ok)).toHaveLength(2);
    expect(results.filter((r) => !r.ok).map((r) => (r.ok ? null : r.reason))).toEqual(["overused", "overused", "overused"]);
    const [row] = await db().select().from(approvalTokens).where(eq(approvalTokens.id, s.tokenId));
    expect(row!.uses).toBe(2);
    const kinds = (await db().select().from(brokerEvents).where(eq(brokerEvents.runId, s.runId))).map((e) => e.kind).filter((k) => k.startsWith("token_"));
    expect(kinds.filter((k) => k === "token_consumed")).toHaveLength(2);
    expect(kinds.filter((k) => k === "token_refused")).toHaveLength(3);
  });

  it("names a distinct reason for every way a token can be wrong, and consumes nothing", async () => {
    const s = await scopedSetup({ maxUses: 1, expiresMinutes: 10 });
    const good = { secret: s.secret, runId: s.runId, toSession: s.requester.session_id, threadId: s.msg.threadId };
    const reason = async (scope: typeof good) => {
      const r = await consumeApprovalToken(daemonCtx(), scope);
      return r.ok ? "ok" : r.reason;
    };
    expect(await reason({ ...good, secret: "sy_approval_wrong" })).toBe("missing");
    expect(await reason({ ...good, runId: "run_other" })).toBe("run_mismatch");
    expect(await reason({ ...good, toSession: s.advisor.session_id })).toBe("session_mismatch");
    expect(await reason({ ...good, threadId: "thr_other" })).toBe("thread_mismatch");
    // The run's mode changes under the token: refused as wrong_run_mode; a stopped run as run_not_running.
    await db().update(brokerRuns).set({ mode: "overnight_dry_run" }).where(eq(brokerRuns.id, s.runId));
    expect(await reason(good)).toBe("wrong_run_mode");
    await db().update(brokerRuns).set({ mode: "scoped_auto_send", state: "stopped" }).where(eq(brokerRuns.id, s.runId));
    expect(await reason(good)).toBe("run_not_running");
    await db().update(brokerRuns).set({ state: "running" }).where(eq(brokerRuns.id, s.runId));
    env.clock.advance(10 * 60);
    expect(await reason(good)).toBe("expired");
    env.clock.advance(-60);
    expect((await db().select().from(approvalTokens))[0]!.uses).toBe(0);
    expect(await reason(good)).toBe("ok");
    expect(await reason(good)).toBe("overused");
    await env.call("POST", `/v1/broker/tokens/${s.tokenId}/revoke`, { body: { reason: "done" } });
    expect(await reason(good)).toBe("revoked");
  });
});

describe("sendWithApprovalToken (scoped send)", () => {
  it("sends a drafted request into the scoped thread with one token use, exactly once", async () => {
    const s = await scopedSetup({ maxUses: 3 });
    const out = await sendWithApprovalToken(daemonCtx(), { adviceId: s.adviceId, runId: s.runId, secret: s.secret });
    expect(out).toMatchObject({ already_sent: false, token_id: s.tokenId, advice: { state: "sent", approved_by: `approval_token:${s.tokenId}` } });
    const [reply] = await db().select().from(messages).where(eq(messages.id, out.message_id));
    expect(reply).toMatchObject({ msgType: "reply", threadId: s.msg.threadId, toSessionId: s.requester.session_id, inReplyTo: s.msg.id });
    expect(reply!.body).toBe((await adviceRow(env, s.adviceId)).draftText);
    const again = await sendWithApprovalToken(daemonCtx(), { adviceId: s.adviceId, runId: s.runId, secret: s.secret });
    expect(again).toMatchObject({ already_sent: true, message_id: out.message_id, token_id: null });
    expect((await db().select().from(approvalTokens))[0]!.uses).toBe(1);
    expect(await db().select().from(messages).where(eq(messages.msgType, "reply"))).toHaveLength(1);
  });

  it("fails closed on a bad token: APPROVAL_TOKEN_INVALID with the reason, nothing sent, advice unchanged", async () => {
    const s = await scopedSetup();
    await env.call("POST", `/v1/broker/tokens/${s.tokenId}/revoke`, { body: { reason: "no" } });
    const err = await sendWithApprovalToken(daemonCtx(), { adviceId: s.adviceId, runId: s.runId, secret: s.secret }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: "APPROVAL_TOKEN_INVALID", message: "approval token refused: revoked" });
    expect(await adviceRow(env, s.adviceId)).toMatchObject({ state: "draft_ready", approvedBy: null });
    expect(await db().select().from(messages).where(eq(messages.msgType, "reply"))).toHaveLength(0);
  });

  it("never sends the draft over an owner's edit that was approved while the send was under way", async () => {
    const owner = makeCtx(env.services, { kind: "owner", tokenId: "tok_owner" });
    for (let i = 0; i < 5; i++) {
      const s = await scopedSetup();
      const edit = `OWNER EDIT ${i}: do not split`;
      // The send reads the advice as drafted, then the approval commits before its transaction.
      const [sent, approved] = await Promise.allSettled([
        sendWithApprovalToken(daemonCtx(), { adviceId: s.adviceId, runId: s.runId, secret: s.secret }),
        approveAdvice(owner, s.adviceId, { edit }),
      ]);
      expect(approved.status).toBe("fulfilled");
      expect((await adviceRow(env, s.adviceId)).approvedText).toBe(edit);
      const replies = await db()
        .select()
        .from(messages)
        .where(eq(messages.id, `msg_${s.adviceId}`));
      if (sent.status === "fulfilled") expect(replies.map((m) => m.body)).toEqual([edit]);
      else {
        // Refused as changed under it: nothing sent, and the token's use given back.
        expect(sent.reason).toMatchObject({ code: "CONFLICT" });
        expect(replies).toEqual([]);
        const [token] = await db().select().from(approvalTokens).where(eq(approvalTokens.id, s.tokenId));
        expect(token!.uses).toBe(0);
      }
    }
  });

  it("refuses advice of another run without touching the token", async () => {
    const s = await scopedSetup();
    const err = await sendWithApprovalToken(daemonCtx(), { adviceId: s.adviceId, runId: "run_other", secret: s.secret }).catch((e) => e);
    expect(err).toMatchObject({ code: "CONFLICT" });
    expect((await db().select().from(approvalTokens))[0]!.uses).toBe(0);
  });
});

describe("POST /v1/broker/advice/{id}/send-with-token (scoped send over HTTP)", () => {
  /** Another request in the token's thread, from the same requester to the same advisor, drafted and attributed to the run. */
  async function anotherRequest(s: Awaited<ReturnType<typeof scopedSetup>>, body: string, threadId: string = s.msg.threadId) {
    const msg = await insertMessage(env, { from: s.requester.session_id, to: s.advisor.session_id, body, threadId });
    const adviceId = (await ingest(env, msg.id)).advice_id as string;
    await watch(env);
    await db().update(adviceRequests).set({ runId: s.runId }).where(eq(adviceRequests.id, adviceId));
    return adviceId;
  }
  const send = (adviceId: string, body: Record<string, unknown>, token?: string) =>
    env.call("POST", `/v1/broker/advice/${adviceId}/send-with-token`, { body, token });
  const replies = () => db().select().from(messages).where(eq(messages.msgType, "reply"));

  it("each send takes one use; the send after max_uses is refused as overused end to end, and nothing more is sent", async () => {
    const s = await scopedSetup({ maxUses: 2 });
    const second = await anotherRequest(s, "And where should the retry loop live?");
    const third = await anotherRequest(s, "One more: how do I name the new files?");
    const daemon = await env.mint("daemon");
    const body = { run_id: s.runId, approval_token: s.secret };

    const first = await send(s.adviceId, body, daemon);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ already_sent: false, token_id: s.tokenId, token: { id: s.tokenId, uses: 1, max_uses: 2 }, advice: { state: "sent" } });
    const again = await send(second, body, daemon);
    expect(again.body).toMatchObject({ already_sent: false, token: { uses: 2, max_uses: 2 } });

    const over = await send(third, body, daemon);
    expect(over.status).toBe(422);
    expect(over.body.error).toMatchObject({
      code: "APPROVAL_TOKEN_INVALID",
      message: "approval token refused: overused",
      fields: [{ field: "approval_token", message: "overused" }],
      hint: expect.stringContaining("token-check"),
    });
    expect(await adviceRow(env, third)).toMatchObject({ state: "draft_ready", approvedBy: null });
    expect(await replies()).toHaveLength(2);
    expect((await db().select().from(approvalTokens))[0]!.uses).toBe(2);
    // Re-sending advice that went out already answers as such and uses nothing.
    expect((await send(s.adviceId, body, daemon)).body).toMatchObject({ already_sent: true, token_id: null, token: null });
    const refused = await db().select().from(brokerEvents).where(eq(brokerEvents.kind, "token_refused"));
    expect(refused.map((e) => e.payload.reason)).toEqual(["overused"]);
  });

  it("a send the run's budget refuses takes no token use and leaves the advice drafted", async () => {
    const s = await scopedSetup({ maxUses: 2 });
    await db()
      .update(brokerRuns)
      .set({ limits: { max_sends_total: 1 }, sendsTotal: 1 })
      .where(eq(brokerRuns.id, s.runId));
    const daemon = await env.mint("daemon");
    const refused = await send(s.adviceId, { run_id: s.runId, approval_token: s.secret }, daemon);
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain("at most 1 send");
    expect((await db().select().from(approvalTokens))[0]!.uses).toBe(0);
    expect(await adviceRow(env, s.adviceId)).toMatchObject({ state: "draft_ready", approvedBy: null });
    expect(await replies()).toHaveLength(0);
    // Once the budget allows it, the same token still has both its uses.
    await db()
      .update(brokerRuns)
      .set({ limits: { max_sends_total: 5 } })
      .where(eq(brokerRuns.id, s.runId));
    const sent = await send(s.adviceId, { run_id: s.runId, approval_token: s.secret }, daemon);
    expect(sent.body).toMatchObject({ already_sent: false, token: { uses: 1, max_uses: 2 } });
  });

  it("refuses an expired, revoked or out-of-scope token with its reason and sends nothing", async () => {
    const expired = await scopedSetup({ expiresMinutes: 1 });
    env.clock.advance(61);
    const e = await send(expired.adviceId, { run_id: expired.runId, approval_token: expired.secret });
    expect([e.status, e.body.error.fields]).toEqual([422, [{ field: "approval_token", message: "expired" }]]);

    const revoked = await scopedSetup();
    await env.call("POST", `/v1/broker/tokens/${revoked.tokenId}/revoke`, { body: { reason: "changed my mind" } });
    const r = await send(revoked.adviceId, { run_id: revoked.runId, approval_token: revoked.secret });
    expect([r.status, r.body.error.fields]).toEqual([422, [{ field: "approval_token", message: "revoked" }]]);

    // The run's own advice, but in another thread or to another requester, is outside the token's scope.
    const scoped = await scopedSetup();
    const otherThread = await anotherRequest(scoped, "A new question in a new thread.", "thr_elsewhere");
    const other = await draftedAdvice(env, "A request from someone else entirely.");
    await db().update(adviceRequests).set({ runId: scoped.runId }).where(eq(adviceRequests.id, other.adviceId));
    const wrongThread = await send(otherThread, { run_id: scoped.runId, approval_token: scoped.secret });
    expect([wrongThread.status, wrongThread.body.error.fields]).toEqual([422, [{ field: "approval_token", message: "thread_mismatch" }]]);
    const wrongRecipient = await send(other.adviceId, { run_id: scoped.runId, approval_token: scoped.secret });
    expect([wrongRecipient.status, wrongRecipient.body.error.fields]).toEqual([422, [{ field: "approval_token", message: "session_mismatch" }]]);
    // Nor advice of another run, nor a made-up secret.
    const wrongRun = await send(scoped.adviceId, { run_id: expired.runId, approval_token: scoped.secret });
    expect([wrongRun.status, wrongRun.body.error.code]).toEqual([409, "CONFLICT"]);
    const missing = await send(scoped.adviceId, { run_id: scoped.runId, approval_token: "sy_approval_not-a-real-secret" });
    expect([missing.status, missing.body.error.fields]).toEqual([422, [{ field: "approval_token", message: "missing" }]]);

    expect(await replies()).toHaveLength(0);
    expect((await db().select().from(approvalTokens)).map((t) => t.uses)).toEqual([0, 0, 0]);
    for (const id of [expired.adviceId, revoked.adviceId, scoped.adviceId, otherThread, other.adviceId])
      expect((await adviceRow(env, id)).state).toBe("draft_ready");
  });

  it("is for the owner and daemons only: sessions (even the requester) and runners get 403 and use nothing", async () => {
    const s = await scopedSetup();
    const body = { run_id: s.runId, approval_token: s.secret };
    for (const token of [s.requester.token, s.advisor.token, await env.mint("runner", "test-host")]) {
      const res = await send(s.adviceId, body, token);
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe("FORBIDDEN");
    }
    expect((await db().select().from(approvalTokens))[0]!.uses).toBe(0);
    expect(await replies()).toHaveLength(0);
    // The owner may use the path too (it could approve and send anyway).
    expect((await send(s.adviceId, body)).body).toMatchObject({ already_sent: false, token: { uses: 1 } });
  });

  it("validates its body", async () => {
    const s = await scopedSetup();
    const res = await send(s.adviceId, { run_id: s.runId });
    expect(res.status).toBe(400);
    expect(res.body.error.fields).toEqual([expect.objectContaining({ field: "approval_token" })]);
    expect((await send("adv_nope", { run_id: s.runId, approval_token: s.secret })).status).toBe(404);
  });
});
