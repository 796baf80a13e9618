import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MAX_THREAD_MESSAGES } from "../../../functions/broker/context.ts";
import { insertEvent } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { adviceRow, ingest, insertMessage, requesterAndAdvisor, watch } from "./fixtures.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("context packet", () => {
  it("holds the request, its whole thread, the requester with task and binding, and redacted recent activity", async () => {
    const { requester, advisor, manager, task } = await requesterAndAdvisor(env);
    const first = await insertMessage(env, { from: requester.session_id, to: advisor.session_id, body: "Earlier question?", subject: "retries" });
    const reply = await insertMessage(env, {
      from: advisor.session_id,
      to: requester.session_id,
      body: "Earlier answer.",
      msgType: "reply",
      threadId: first.threadId,
      inReplyTo: first.id,
    });
    const ask = await insertMessage(env, {
      from: requester.session_id,
      to: advisor.session_id,
      body: "Follow-up: backoff or jitter?",
      threadId: first.threadId,
      subject: "retries",
    });
    await insertEvent(env, { kind: "command_failed", sessionId: requester.session_id, payload: { text: "secret pane output", exit: 1 } });
    const { advice_id } = await ingest(env, ask.id);
    await watch(env);
    const packet = (await adviceRow(env, advice_id)).contextPacket as any;
    expect(packet).toMatchObject({
      version: 1,
      advice_id,
      policy: { research: "deny" },
      request: {
        message_id: ask.id,
        thread_id: first.threadId,
        from_session: requester.session.name,
        to_session: advisor.session.name,
        body: "Follow-up: backoff or jitter?",
        subject: "retries",
      },
      thread: { total_messages: 3 },
      requester: {
        session: { id: requester.session_id, name: requester.session.name, role: "worker", state: "active" },
        binding: { requester_role: "worker", worker: requester.session.name, manager: manager.session.name, worker_state: "active", manager_state: "active" },
        task: { id: task.task_id, name: task.task.name, goal: "a goal", state: "active" },
      },
    });
    expect(packet.thread.messages.map((m: any) => [m.id, m.msg_type, m.body])).toEqual([
      [first.id, "request", "Earlier question?"],
      [reply.id, "reply", "Earlier answer."],
      [ask.id, "request", "Follow-up: backoff or jitter?"],
    ]);
    const failed = packet.recent_activity.find((e: any) => e.kind === "command_failed");
    expect(failed.payload).toEqual({ text: "[redacted 18 chars]", exit: 1 });
    expect(packet.recent_activity.map((e: any) => e.kind)).toEqual(expect.arrayContaining(["advice_ingested", "command_failed", "task_bound"]));
  });

  it("copies the newest messages of a long thread, in order, and counts the rest", async () => {
    const { requester, advisor } = await requesterAndAdvisor(env);
    const first = await insertMessage(env, { from: requester.session_id, to: advisor.session_id, body: "m0" });
    for (let i = 1; i < MAX_THREAD_MESSAGES + 9; i++) {
      env.clock.advance(1);
      await insertMessage(env, { from: requester.session_id, to: advisor.session_id, body: `m${i}`, threadId: first.threadId });
    }
    env.clock.advance(1);
    const ask = await insertMessage(env, { from: requester.session_id, to: advisor.session_id, body: "last?", threadId: first.threadId });
    const { advice_id } = await ingest(env, ask.id);
    await watch(env);
    const packet = (await adviceRow(env, advice_id)).contextPacket as any;
    expect(packet.thread.total_messages).toBe(MAX_THREAD_MESSAGES + 10);
    const bodies = packet.thread.messages.map((m: any) => m.body);
    expect(bodies).toHaveLength(MAX_THREAD_MESSAGES);
    expect(bodies.at(0)).toBe("m10");
    expect(bodies.at(-2)).toBe(`m${MAX_THREAD_MESSAGES + 8}`);
    expect(bodies.at(-1)).toBe("last?");
  });

  it("review --with-context returns the stored packet byte for byte, even after the thread grows", async () => {
    const { requester, advisor } = await requesterAndAdvisor(env);
    const ask = await insertMessage(env, { from: requester.session_id, to: advisor.session_id, body: "How?" });
    const { advice_id } = await ingest(env, ask.id);
    await watch(env);
    await insertMessage(env, { from: requester.session_id, to: advisor.session_id, body: "Later message", threadId: ask.threadId });
    const res = await env.call("GET", `/v1/broker/advice/${advice_id}?with_context=true`);
    const stored = (await adviceRow(env, advice_id)).contextPacket;
    expect(JSON.stringify(res.body.context_packet)).toBe(JSON.stringify(stored));
    expect(res.body.context_packet.thread.total_messages).toBe(1);
  });
});
