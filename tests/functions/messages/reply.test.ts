import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { deregister, registerSession, withNewEvents } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

async function request() {
  const asker = await registerSession(env, "worker");
  const answerer = await registerSession(env, "manager");
  const sent = await env.call("POST", "/v1/messages", {
    token: asker.token,
    body: { to: answerer.session.name, body: "may I refactor?", msg_type: "request", subject: "scope" },
  });
  return { asker, answerer, sent: sent.body };
}

describe("POST /v1/messages/{id}/reply", () => {
  it("lands in the original sender's inbox on the same thread and correlation, with one audit event", async () => {
    const { asker, answerer, sent } = await request();
    const { result: res, events } = await withNewEvents(env, () =>
      env.call("POST", `/v1/messages/${sent.message_id}/reply`, { token: answerer.token, body: { body: "yes, keep it small" } }),
    );
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      thread_id: sent.thread_id,
      correlation_id: sent.correlation_id,
      message: { msg_type: "reply", in_reply_to: sent.message_id, from_session: answerer.session.name, to_session: asker.session.name, subject: "Re: scope" },
    });
    expect(events.map((e) => e.kind)).toEqual(["message_sent"]);
    const inbox = await env.call("GET", `/v1/sessions/${asker.session.name}/inbox`, { token: asker.token });
    expect(inbox.body.items).toEqual([
      expect.objectContaining({ id: res.body.inbox_item_id, signal_type: "message", message_id: res.body.message_id, source_session: answerer.session.name }),
    ]);
  });

  it("lets the owner reply on the recipient's behalf, recording who really did", async () => {
    const { answerer, sent } = await request();
    const res = await env.call("POST", `/v1/messages/${sent.message_id}/reply`, { body: { body: "owner says yes", subject: "decision" } });
    expect(res.body.message).toMatchObject({ from_session: answerer.session.name, from_actor: expect.stringMatching(/^owner:/), subject: "decision" });
  });

  it("refuses a session the message was not addressed to, an unknown id, an owner-sent original and a gone sender", async () => {
    const { asker, sent } = await request();
    const other = await registerSession(env, "manager");
    expect((await env.call("POST", `/v1/messages/${sent.message_id}/reply`, { token: asker.token, body: { body: "x" } })).status).toBe(403);
    expect((await env.call("POST", `/v1/messages/${sent.message_id}/reply`, { token: other.token, body: { body: "x" } })).status).toBe(403);
    const missing = await env.call("POST", "/v1/messages/msg_nope/reply", { body: { body: "x" } });
    expect(missing.status).toBe(404);
    const fromOwner = await env.call("POST", "/v1/messages", { body: { to: other.session.name, body: "hi" } });
    const noInbox = await env.call("POST", `/v1/messages/${fromOwner.body.message_id}/reply`, { token: other.token, body: { body: "x" } });
    expect(noInbox.status).toBe(409);
    await deregister(env, asker.session.name);
    const gone = await env.call("POST", `/v1/messages/${sent.message_id}/reply`, { body: { body: "x" } });
    expect(gone.body.error.code).toBe("SESSION_INACTIVE");
    const replies = await env.services.database.client.execute("SELECT count(*) AS n FROM messages WHERE msg_type = 'reply'");
    expect(replies.rows[0]!.n).toBe(0);
  });
});
