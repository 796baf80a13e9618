import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("GET /v1/messages", () => {
  it("lists by thread, session and type, oldest first, and confines a session to its own", async () => {
    const a = await registerSession(env, "worker");
    const b = await registerSession(env, "manager");
    const c = await registerSession(env, "manager");
    const q = await env.call("POST", "/v1/messages", { token: a.token, body: { to: b.session.name, body: "q1", msg_type: "request" } });
    env.clock.advance(1);
    await env.call("POST", `/v1/messages/${q.body.message_id}/reply`, { token: b.token, body: { body: "a1" } });
    env.clock.advance(1);
    await env.call("POST", "/v1/messages", { token: a.token, body: { to: c.session.name, body: "other", msg_type: "ping" } });

    const thread = await env.call("GET", `/v1/messages?thread_id=${q.body.thread_id}`);
    expect(thread.body.messages.map((m: { body: string }) => m.body)).toEqual(["q1", "a1"]);
    const ofC = await env.call("GET", `/v1/messages?session=${c.session.name}`);
    expect(ofC.body.messages.map((m: { body: string }) => m.body)).toEqual(["other"]);
    const pings = await env.call("GET", "/v1/messages?msg_type=ping");
    expect(pings.body.count).toBe(1);
    const newest = await env.call("GET", "/v1/messages?limit=2");
    expect(newest.body.messages.map((m: { body: string }) => m.body)).toEqual(["a1", "other"]);

    const asB = await env.call("GET", "/v1/messages", { token: b.token });
    expect(asB.body.messages.map((m: { body: string }) => m.body)).toEqual(["q1", "a1"]);
    const bPeeks = await env.call("GET", `/v1/messages?session=${c.session.name}`, { token: b.token });
    expect(bPeeks.body.messages).toEqual([]);
  });

  it("pages a session's sent and received messages together, each once, newest page first", async () => {
    const me = await registerSession(env, "worker");
    const peer = await registerSession(env, "manager");
    const stranger = await registerSession(env, "manager");
    const sent: string[] = [];
    // Interleaved: received, sent, to itself (one row, in both of its columns), and others' traffic.
    for (let i = 0; i < 7; i++) {
      const [from, to] = [
        [peer, me],
        [me, peer],
        [me, me],
      ][i % 3]!;
      await env.call("POST", "/v1/messages", { token: from.token, body: { to: to.session.name, body: `m${i}` } });
      sent.push(`m${i}`);
      await env.call("POST", "/v1/messages", { token: peer.token, body: { to: stranger.session.name, body: `x${i}` } });
      env.clock.advance(1);
    }
    const walk = async (query: string, token?: string) => {
      const pages: string[][] = [];
      let cursor: string | null = null;
      do {
        const res = await env.call("GET", `/v1/messages?limit=3${query}${cursor ? `&cursor=${cursor}` : ""}`, { token });
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        pages.push(res.body.messages.map((m: { body: string }) => m.body));
        cursor = res.body.next_cursor;
      } while (cursor);
      return pages;
    };
    // Newest page first, each page oldest first.
    const expected = [["m4", "m5", "m6"], ["m1", "m2", "m3"], ["m0"]];
    expect(await walk("", me.token)).toEqual(expected);
    expect(await walk(`&session=${me.session.name}`)).toEqual(expected);
    expect((await walk(`&session=${me.session.name}`, me.token)).flat().sort()).toEqual(sent);
    // Both filters at once: what the caller exchanged with the named session only.
    expect(await walk(`&session=${peer.session.name}`, me.token)).toEqual([
      ["m3", "m4", "m6"],
      ["m0", "m1"],
    ]);
  });

  it("says so when the session filter names no session", async () => {
    const res = await env.call("GET", "/v1/messages?session=ghost");
    expect(res.status).toBe(404);
  });
});
