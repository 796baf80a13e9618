import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { boundPair, deregister, registerSession, withNewEvents } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const rows = async (sql: string, args: Array<string | number> = []) => (await env.services.database.client.execute({ sql, args })).rows;

describe("POST /v1/messages", () => {
  it("stores the message, puts one pull_required item in the recipient's inbox and writes one audit event", async () => {
    const a = await registerSession(env, "worker");
    const b = await registerSession(env, "manager");
    const { result: res, events } = await withNewEvents(env, () =>
      env.call("POST", "/v1/messages", {
        token: a.token,
        body: { to: b.session.name, body: "tests are green", msg_type: "request", subject: "status", project: "auth" },
      }),
    );
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      message_id: expect.stringMatching(/^msg_/),
      thread_id: expect.stringMatching(/^thr_/),
      correlation_id: expect.stringMatching(/^cor_/),
      inbox_item_id: expect.stringMatching(/^inb_/),
      delivery_mode: "pull_required",
      delivery_command_id: null,
      message: {
        msg_type: "request",
        from_session: a.session.name,
        from_session_id: a.session_id,
        from_actor: `session:${a.session_id}`,
        to_session: b.session.name,
        subject: "status",
        project: "auth",
        body: "tests are green",
        in_reply_to: null,
      },
    });
    expect(events.map((e) => e.kind)).toEqual(["message_sent"]);
    expect(events[0]!.payload).toMatchObject({
      message_id: res.body.message_id,
      inbox_item_id: res.body.inbox_item_id,
      to: b.session.name,
      delivery: "pull_required",
    });
    const items = await rows("SELECT target_session_id, source_session_id, signal_type, message_id, correlation_id, consumed_at FROM inbox_items");
    expect(items).toEqual([
      expect.objectContaining({
        target_session_id: b.session_id,
        source_session_id: a.session_id,
        signal_type: "message",
        message_id: res.body.message_id,
        correlation_id: res.body.correlation_id,
        consumed_at: null,
      }),
    ]);
  });

  it("continues a thread, and the owner sends in its own name or as a session with `from`", async () => {
    const a = await registerSession(env, "worker");
    const b = await registerSession(env, "manager");
    const first = await env.call("POST", "/v1/messages", { body: { to: b.session.name, body: "one" } });
    expect(first.body.message).toMatchObject({ msg_type: "notify", from_session: null, from_actor: expect.stringMatching(/^owner:tok_/) });
    const second = await env.call("POST", "/v1/messages", {
      body: { to: b.session.name, body: "two", thread_id: first.body.thread_id, from: a.session.name, correlation_id: "c-42" },
    });
    expect(second.status).toBe(201);
    expect(second.body).toMatchObject({ thread_id: first.body.thread_id, correlation_id: "c-42", message: { from_session: a.session.name } });
  });

  it("queues a deliver command when the recipient has a tmux pane", async () => {
    const b = await registerSession(env, "manager", { host: "elsewhere", tmux_session: "mgr-pane" });
    const res = await env.call("POST", "/v1/messages", { body: { to: b.session.name, body: "hello\nthere", subject: "hi" } });
    expect(res.body.delivery_command_id).toMatch(/^cmd_/);
    const [cmd] = await rows("SELECT type, state, session_id, payload_json FROM commands WHERE id = ?", [res.body.delivery_command_id]);
    expect(cmd).toMatchObject({ type: "deliver", state: "pending", session_id: b.session_id });
    const payload = JSON.parse(String(cmd!.payload_json));
    expect(payload).toMatchObject({ inbox_item_id: res.body.inbox_item_id, tmux_session: "mgr-pane" });
    // One line: a newline typed into a TUI would submit early.
    expect(payload.text).toBe(`[switchyard notify from owner, thread ${res.body.thread_id}, message ${res.body.message_id}] hi: hello there`);
  });

  it("refuses an unknown recipient with near-miss names, an ambiguous thread title, and a deregistered one", async () => {
    await registerSession(env, "worker", { name: "auth-worker", thread_title: "Refactor" });
    await registerSession(env, "worker", { name: "auth-helper", thread_title: "Refactor" });
    const missing = await env.call("POST", "/v1/messages", { body: { to: "auth", body: "x" } });
    expect(missing.status).toBe(404);
    expect(missing.body.error.hint).toBe("Did you mean: auth-helper, auth-worker?");
    const none = await env.call("POST", "/v1/messages", { body: { to: "zzz", body: "x" } });
    expect(none.body.error.hint).toMatch(/switchyard sessions/);
    const ambiguous = await env.call("POST", "/v1/messages", { body: { to: "Refactor", body: "x" } });
    expect(ambiguous.status).toBe(409);
    expect(ambiguous.body.error.message).toMatch(/ambiguous/);
    expect(ambiguous.body.error.hint).toContain("auth-worker");
    const gone = await registerSession(env, "worker");
    await deregister(env, gone.session.name);
    const inactive = await env.call("POST", "/v1/messages", { body: { to: gone.session.name, body: "x" } });
    expect(inactive.body.error.code).toBe("SESSION_INACTIVE");
    expect(await rows("SELECT id FROM messages")).toEqual([]);
    expect(await rows("SELECT id FROM inbox_items")).toEqual([]);
  });

  it("addresses an app session by a unique thread title", async () => {
    const app = await registerSession(env, "manager", { thread_title: "Codex app manager" });
    const res = await env.call("POST", "/v1/messages", { body: { to: "Codex app manager", body: "x" } });
    expect(res.body.message.to_session_id).toBe(app.session_id);
  });

  it("keeps a session to itself: no sending as another, no posting into others' threads", async () => {
    const { worker, manager } = await boundPair(env);
    const outsider = await registerSession(env, "worker");
    const spoof = await env.call("POST", "/v1/messages", { token: outsider.token, body: { to: manager.session.name, body: "x", from: worker.session.name } });
    expect(spoof.status).toBe(403);
    const thread = await env.call("POST", "/v1/messages", { token: worker.token, body: { to: manager.session.name, body: "private" } });
    const intrude = await env.call("POST", "/v1/messages", {
      token: outsider.token,
      body: { to: manager.session.name, body: "x", thread_id: thread.body.thread_id },
    });
    expect(intrude.status).toBe(403);
    const unknownThread = await env.call("POST", "/v1/messages", { body: { to: manager.session.name, body: "x", thread_id: "thr_nope" } });
    expect(unknownThread.status).toBe(404);
    const daemon = await env.mint("daemon");
    const daemonAs = await env.call("POST", "/v1/messages", { token: daemon, body: { to: manager.session.name, body: "x", from: worker.session.name } });
    expect(daemonAs.status).toBe(403);
    const runner = await env.call("POST", "/v1/messages", { token: await env.mint("runner", "test-host"), body: { to: manager.session.name, body: "x" } });
    expect(runner.status).toBe(403);
    expect((await rows("SELECT count(*) AS n FROM messages"))[0]!.n).toBe(1);
  });

  it("validates the body: reply is not a send type, and the body is required", async () => {
    const b = await registerSession(env, "manager");
    const bad = await env.call("POST", "/v1/messages", { body: { to: b.session.name, body: "", msg_type: "reply" } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields.map((f: { field: string }) => f.field).sort()).toEqual(["body", "msg_type"]);
  });
});
