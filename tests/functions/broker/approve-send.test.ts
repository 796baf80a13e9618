import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { brokerEvents } from "../../../schema/broker.ts";
import { inboxItems, messages } from "../../../schema/messages.ts";
import { approveAdvice } from "../../../functions/broker/approve.ts";
import { rejectAdvice } from "../../../functions/broker/reject.ts";
import { deliverAdvice, sendApproved } from "../../../functions/broker/send.ts";
import { makeCtx } from "../../../functions/lib/ctx.ts";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { adviceRow, draftedAdvice, ingest, insertMessage, requesterAndAdvisor, watch } from "./fixtures.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const db = () => env.services.database.db;

/** Tokens of every principal except the owner. */
async function nonOwners() {
  const s = await registerSession(env, "worker");
  return { daemon: await env.mint("daemon"), session: s.token, runner: await env.mint("runner", "test-host") };
}

describe("queue and review", () => {
  it("lists open advice by default and filters by state", async () => {
    const { adviceId } = await draftedAdvice(env);
    const open = await env.call("GET", "/v1/broker/advice");
    expect(open.body.advice.map((a: any) => [a.id, a.state, a.job_state])).toEqual([[adviceId, "draft_ready", "draft_ready"]]);
    expect((await env.call("GET", "/v1/broker/advice?state=sent")).body.count).toBe(0);
    expect((await env.call("GET", "/v1/broker/advice?state=draft_ready", { token: await env.mint("daemon") })).body.count).toBe(1);
  });

  it("shows the advice and its events; with_context adds the packet exactly as stored", async () => {
    const { adviceId } = await draftedAdvice(env);
    const plain = await env.call("GET", `/v1/broker/advice/${adviceId}`);
    expect(plain.status).toBe(200);
    expect(plain.body).not.toHaveProperty("context_packet");
    expect(plain.body.events.map((e: any) => e.kind)).toEqual(["advice_ingested", "job_queued", "job_claimed", "draft_ready"]);
    const full = await env.call("GET", `/v1/broker/advice/${adviceId}?with_context=true`);
    expect(full.body.context_packet).toEqual((await adviceRow(env, adviceId)).contextPacket);
    expect((await env.call("GET", "/v1/broker/advice/adv_nope")).status).toBe(404);
  });
});

describe("approve, reject, retry", () => {
  it("approves the draft as is, or the owner's edit instead", async () => {
    const first = await draftedAdvice(env);
    const res = await env.call("POST", `/v1/broker/advice/${first.adviceId}/approve`, { body: {} });
    expect(res.status).toBe(200);
    const row = await adviceRow(env, first.adviceId);
    expect(row).toMatchObject({ state: "approved", approvedText: row.draftText, approvedBy: expect.stringMatching(/^owner:tok_/) });

    const second = await draftedAdvice(env);
    await env.call("POST", `/v1/broker/advice/${second.adviceId}/approve`, { body: { edit: "Split by route; keep shared types in one file." } });
    expect(await adviceRow(env, second.adviceId)).toMatchObject({ state: "approved", approvedText: "Split by route; keep shared types in one file." });
  });

  it("refuses to approve queued, sent or rejected advice, and held advice without an edit", async () => {
    const { requester, advisor } = await requesterAndAdvisor(env);
    const msg = await insertMessage(env, { from: requester.session_id, to: advisor.session_id, body: "What is the latest version of node?" });
    const { advice_id } = await ingest(env, msg.id);
    const queued = await env.call("POST", `/v1/broker/advice/${advice_id}/approve`, { body: {} });
    expect(queued.status).toBe(409);
    await watch(env);
    expect((await adviceRow(env, advice_id)).state).toBe("owner_input_required");
    const noText = await env.call("POST", `/v1/broker/advice/${advice_id}/approve`, { body: {} });
    expect(noText.status).toBe(400);
    expect(noText.body.error.fields).toEqual([{ field: "edit", message: "required when there is no draft" }]);
    const withText = await env.call("POST", `/v1/broker/advice/${advice_id}/approve`, { body: { edit: "Check nodejs.org yourself; I will not guess." } });
    expect(withText.status).toBe(200);
    await env.call("POST", `/v1/broker/advice/${advice_id}/reject`, { body: { reason: "changed my mind" } });
    expect((await env.call("POST", `/v1/broker/advice/${advice_id}/approve`, { body: { edit: "x" } })).status).toBe(409);
  });

  it("rejects with a reason; rejected advice can never be sent", async () => {
    const { adviceId } = await draftedAdvice(env);
    const res = await env.call("POST", `/v1/broker/advice/${adviceId}/reject`, { body: { reason: "off topic" } });
    expect(res.status).toBe(200);
    expect(await adviceRow(env, adviceId)).toMatchObject({ state: "rejected", rejectedReason: "off topic" });
    expect((await env.call("POST", `/v1/broker/advice/${adviceId}/send-approved`)).status).toBe(409);
    expect((await env.call("POST", `/v1/broker/advice/${adviceId}/reject`, { body: { reason: "again" } })).status).toBe(409);
  });

  it("retry re-queues held advice with a new research policy, and it is drafted", async () => {
    const { requester, advisor } = await requesterAndAdvisor(env);
    const msg = await insertMessage(env, {
      from: requester.session_id,
      to: advisor.session_id,
      body: "What is the latest release of drizzle, and should I upgrade?",
    });
    const { advice_id, job_id } = await ingest(env, msg.id);
    await watch(env);
    expect((await adviceRow(env, advice_id)).state).toBe("owner_input_required");
    const res = await env.call("POST", `/v1/broker/advice/${advice_id}/retry`, { body: { research_policy: "allow" } });
    expect(res.status).toBe(200);
    expect(res.body.advice).toMatchObject({ state: "queued", research_policy: "allow", policy_reason: null, job_id, job_state: "queued" });
    const out = await watch(env);
    expect(out.processed[0]).toMatchObject({ job_id, state: "draft_ready", attempt: 1 });
    expect((await env.call("POST", `/v1/broker/advice/${advice_id}/retry`, { body: {} })).status).toBe(409);
  });
});

describe("send-approved", () => {
  it("delivers the approved text as a reply in the requester's thread and inbox, and records it", async () => {
    const { adviceId, msg, requester, advisor } = await draftedAdvice(env);
    await env.call("POST", `/v1/broker/advice/${adviceId}/approve`, { body: { edit: "Split by route." } });
    env.clock.advance(5);
    const res = await env.call("POST", `/v1/broker/advice/${adviceId}/send-approved`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      already_sent: false,
      advice: { state: "sent", sent_message_id: res.body.message_id, sent_at: new Date(env.clock.ms).toISOString() },
    });
    const [reply] = await db().select().from(messages).where(eq(messages.id, res.body.message_id));
    expect(reply).toMatchObject({
      msgType: "reply",
      threadId: msg.threadId,
      inReplyTo: msg.id,
      fromSessionId: advisor.session_id,
      toSessionId: requester.session_id,
      body: "Split by route.",
      subject: "Re: module split",
      fromActor: expect.stringMatching(/^owner:tok_/),
    });
    const [item] = await db().select().from(inboxItems).where(eq(inboxItems.id, res.body.inbox_item_id));
    expect(item).toMatchObject({ targetSessionId: requester.session_id, messageId: reply!.id, signalType: "message", consumedAt: null });
    const inbox = await env.call("GET", `/v1/sessions/${requester.session.name}/inbox`, { token: requester.token });
    expect(inbox.status).toBe(200);
    expect(JSON.stringify(inbox.body)).toContain("Split by route.");
    const sentEvents = await db().select().from(brokerEvents).where(eq(brokerEvents.kind, "advice_sent"));
    expect(sentEvents).toHaveLength(1);
    expect(sentEvents[0]!.payload).toMatchObject({ message_id: reply!.id, thread_id: msg.threadId });
  });

  it("sends exactly once: a second send returns the same delivery and adds no message", async () => {
    const { adviceId } = await draftedAdvice(env);
    await env.call("POST", `/v1/broker/advice/${adviceId}/approve`, { body: {} });
    const first = await env.call("POST", `/v1/broker/advice/${adviceId}/send-approved`);
    const again = await env.call("POST", `/v1/broker/advice/${adviceId}/send-approved`);
    expect(first.body.already_sent).toBe(false);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ already_sent: true, message_id: first.body.message_id, inbox_item_id: first.body.inbox_item_id });
    expect(await db().select().from(messages).where(eq(messages.msgType, "reply"))).toHaveLength(1);
    expect(await db().select().from(inboxItems).where(eq(inboxItems.messageId, first.body.message_id))).toHaveLength(1);
    expect(await db().select().from(brokerEvents).where(eq(brokerEvents.kind, "advice_sent"))).toHaveLength(1);
  });

  it("after a crash between delivering and recording, the retry records the first delivery instead of sending again", async () => {
    const { adviceId } = await draftedAdvice(env);
    await env.call("POST", `/v1/broker/advice/${adviceId}/approve`, { body: { edit: "Do the small thing first." } });
    const ctx = makeCtx(env.services, { kind: "owner", tokenId: "tok_owner" });
    // The process delivered the reply and died before marking the advice sent.
    const delivered = await deliverAdvice(ctx, await adviceRow(env, adviceId), "Do the small thing first.");
    expect((await adviceRow(env, adviceId)).state).toBe("approved");
    // The reply is out, so the owner can no longer call this advice rejected ("never sent").
    const reject = await env.call("POST", `/v1/broker/advice/${adviceId}/reject`, { body: { reason: "changed my mind" } });
    expect(reject.status).toBe(409);
    expect(reject.body.error.message).toContain("already delivered");
    const retry = await env.call("POST", `/v1/broker/advice/${adviceId}/send-approved`);
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ already_sent: true, message_id: delivered.messageId, advice: { state: "sent", sent_message_id: delivered.messageId } });
    expect(await db().select().from(messages).where(eq(messages.msgType, "reply"))).toHaveLength(1);
  });

  it("refuses to send before approval and writes nothing", async () => {
    const { adviceId } = await draftedAdvice(env);
    const res = await env.call("POST", `/v1/broker/advice/${adviceId}/send-approved`);
    expect(res.status).toBe(409);
    expect(res.body.error.message).toContain("only approved advice can be sent");
    expect(await db().select().from(messages).where(eq(messages.msgType, "reply"))).toHaveLength(0);
    expect((await adviceRow(env, adviceId)).state).toBe("draft_ready");
  });

  it("refuses when the requester has been deregistered, leaving the advice approved", async () => {
    const { adviceId, requester } = await draftedAdvice(env);
    await env.call("POST", `/v1/broker/advice/${adviceId}/approve`, { body: {} });
    await env.call("POST", "/v1/bindings/unbind", { body: { task: (await db().query.tasks.findFirst())!.name } });
    await env.call("POST", `/v1/sessions/${requester.session.name}/deregister`);
    const res = await env.call("POST", `/v1/broker/advice/${adviceId}/send-approved`);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("SESSION_INACTIVE");
    expect((await adviceRow(env, adviceId)).state).toBe("approved");
  });
});

describe("a rejection racing a send", () => {
  it("a reject that answers 200 means nothing was delivered, however the two interleave", async () => {
    const owner = makeCtx(env.services, { kind: "owner", tokenId: "tok_owner" });
    for (let i = 0; i < 8; i++) {
      const d = await draftedAdvice(env);
      await approveAdvice(owner, d.adviceId, {});
      const [sent, rejected] = await Promise.allSettled([sendApproved(owner, d.adviceId), rejectAdvice(owner, d.adviceId, { reason: "not this" })]);
      const row = await adviceRow(env, d.adviceId);
      const delivered = await env.services.database.db
        .select()
        .from(messages)
        .where(eq(messages.id, `msg_${d.adviceId}`));
      const items = await env.services.database.db
        .select()
        .from(inboxItems)
        .where(eq(inboxItems.messageId, `msg_${d.adviceId}`));
      // Exactly one of them wins, and the row, the reply and the answers agree.
      expect([sent.status, rejected.status].sort()).toEqual(["fulfilled", "rejected"]);
      if (rejected.status === "fulfilled") {
        expect(row.state).toBe("rejected");
        expect([delivered, items]).toEqual([[], []]);
        expect((sent as PromiseRejectedResult).reason).toMatchObject({ code: "CONFLICT" });
      } else {
        expect(row.state).toBe("sent");
        expect(delivered).toHaveLength(1);
        expect(items).toHaveLength(1);
      }
    }
  });
});

describe("two sends of one advice", () => {
  it("the one that finds the other's reply already delivered answers already_sent, not a conflict", async () => {
    const owner = makeCtx(env.services, { kind: "owner", tokenId: "tok_owner" });
    const d = await draftedAdvice(env);
    await approveAdvice(owner, d.adviceId, {});
    // B has read the advice as approved and found no reply yet; A's whole send lands before B's
    // delivery batch.
    const b = makeCtx(env.services, { kind: "owner", tokenId: "tok_owner" });
    const db = b.db;
    let first = true;
    b.db = new Proxy(db, {
      get(target, key, receiver) {
        if (key !== "batch") return Reflect.get(target, key, receiver);
        return async (...args: Parameters<typeof db.batch>) => {
          if (first) {
            first = false;
            expect((await sendApproved(owner, d.adviceId)).already_sent).toBe(false);
          }
          return target.batch(...args);
        };
      },
    });
    const late = await sendApproved(b, d.adviceId);
    expect(late).toMatchObject({ already_sent: true, message_id: `msg_${d.adviceId}`, advice: { state: "sent" } });
    expect(
      await env.services.database.db
        .select()
        .from(messages)
        .where(eq(messages.id, `msg_${d.adviceId}`)),
    ).toHaveLength(1);
  });
});

describe("only the owner approves, rejects, edits, retries or sends", () => {
  it("refuses daemon, session and runner tokens on every owner action and changes nothing", async () => {
    const { adviceId } = await draftedAdvice(env);
    const tokens = await nonOwners();
    const actions: Array<[string, unknown]> = [
      [`/v1/broker/advice/${adviceId}/approve`, {}],
      [`/v1/broker/advice/${adviceId}/approve`, { edit: "edited by someone else" }],
      [`/v1/broker/advice/${adviceId}/reject`, { reason: "no" }],
      [`/v1/broker/advice/${adviceId}/retry`, {}],
      [`/v1/broker/advice/${adviceId}/send-approved`, undefined],
    ];
    for (const [who, token] of Object.entries(tokens)) {
      for (const [path, body] of actions) {
        const res = await env.call("POST", path, { token, body });
        expect(res.status, `${who} ${path}`).toBe(403);
        expect(res.body.error.code).toBe("FORBIDDEN");
      }
    }
    expect(await adviceRow(env, adviceId)).toMatchObject({ state: "draft_ready", approvedText: null, rejectedReason: null });
    // Even approved advice cannot be sent by the daemon.
    await env.call("POST", `/v1/broker/advice/${adviceId}/approve`, { body: {} });
    expect((await env.call("POST", `/v1/broker/advice/${adviceId}/send-approved`, { token: tokens.daemon })).status).toBe(403);
    expect(await db().select().from(messages).where(eq(messages.msgType, "reply"))).toHaveLength(0);
  });
});
