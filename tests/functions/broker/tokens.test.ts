import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { adviceRequests, approvalTokens, brokerEvents, brokerRuns } from "../../../schema/broker.ts";
import { messages } from "../../../schema/messages.ts";
import { consumeApprovalToken } from "../../../functions/broker/approval-tokens.ts";
import { sendWithApprovalToken } from "../../../functions/broker/scoped-send.ts";
import { makeCtx } from "../../../functions/lib/ctx.ts";
import { ApiError } from "../../../functions/lib/errors.ts";
import { sha256Hex } from "../../../functions/lib/ids.ts";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { adviceRow, draftedAdvice, insertRun } from "./fixtures.ts";

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

  it("refuses advice of another run without touching the token", async () => {
    const s = await scopedSetup();
    const err = await sendWithApprovalToken(daemonCtx(), { adviceId: s.adviceId, runId: "run_other", secret: s.secret }).catch((e) => e);
    expect(err).toMatchObject({ code: "CONFLICT" });
    expect((await db().select().from(approvalTokens))[0]!.uses).toBe(0);
  });
});
