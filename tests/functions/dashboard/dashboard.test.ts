import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { boundPair, createTask, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { adviceRequests } from "../../../schema/broker.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

/**
 * Reads server-sent events from a streaming response: each `until(pred)` reads on until `pred`
 * holds or the stream ends, and answers every event read so far.
 */
function eventReader(res: Response) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const events: Array<{ event: string; data: any }> = [];
  let buf = "";
  let ended = false;
  return {
    get ended() {
      return ended;
    },
    async until(pred: (events: Array<{ event: string; data: any }>) => boolean) {
      const deadline = Date.now() + 10_000;
      while (!ended && !pred(events)) {
        if (Date.now() > deadline) throw new Error(`no matching event in time: ${JSON.stringify(events)}`);
        const { value, done } = await reader.read();
        if (done) {
          ended = true;
          break;
        }
        buf += decoder.decode(value, { stream: true });
        for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
          const chunk = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: ?(.*)$/m.exec(chunk)?.[1];
          const data = /^data: ?(.*)$/m.exec(chunk)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
        }
      }
      return events;
    },
    cancel: () => reader.cancel(),
  };
}

/** Reads server-sent events from a streaming response until `until` says stop. */
async function readEvents(res: Response, until: (events: Array<{ event: string; data: any }>) => boolean) {
  const r = eventReader(res);
  const events = await r.until(until);
  await r.cancel();
  return events;
}

describe("GET /v1/dashboard/overview", () => {
  it("shows tasks newest first with bindings, liveness, last cycle and inbox counts, paged by cursor", async () => {
    const first = await boundPair(env);
    await createTask(env);
    await createTask(env);
    const page1 = await env.call("GET", "/v1/dashboard/overview?limit=2");
    expect(page1.status).toBe(200);
    expect(page1.body.tasks).toHaveLength(2);
    expect(page1.body.next_cursor).toEqual(expect.any(String));
    const page2 = await env.call("GET", `/v1/dashboard/overview?limit=2&cursor=${page1.body.next_cursor}`);
    expect(page2.body.tasks.map((t: any) => t.name)).toEqual([first.task.task.name]);
    expect(page2.body.next_cursor).toBeNull();
    expect(page2.body.tasks[0]).toMatchObject({
      worker: { name: first.worker.session.name, state: "active" },
      manager: { name: first.manager.session.name },
      last_cycle: null,
      inbox: { pending: 0, consumed: 0 },
    });
    expect(page1.body).toMatchObject({
      queue: { pending: 0, dead: 0 },
      dispatch: [],
      broker: [],
      patrol: { running: false, gates: [], convoys: [], gates_open: 0, convoys_open: 0 },
    });
    expect((await env.call("GET", "/v1/dashboard/overview?state=finished")).body.tasks).toEqual([]);
    expect((await env.call("GET", "/v1/dashboard/overview?cursor=zzz")).status).toBe(400);
  });

  it("says how many gates and convoys are open in all, so a flood past the list's cap cannot hide the rest", async () => {
    expect((await env.call("POST", "/v1/gates", { body: { type: "human", title: "owner's own" } })).status).toBe(201);
    const s = await registerSession(env, "manager");
    for (let i = 0; i < 52; i++) {
      expect((await env.call("POST", "/v1/gates", { token: s.token, body: { type: "human", title: `flood ${i}`, waiters: [s.session.name] } })).status).toBe(
        201,
      );
    }
    const patrol = (await env.call("GET", "/v1/dashboard/overview")).body.patrol;
    expect(patrol.gates).toHaveLength(50);
    expect(patrol.gates.map((g: any) => g.title)).not.toContain("owner's own");
    expect(patrol).toMatchObject({ gates_open: 53, convoys_open: 0 });
  });

  it("counts all open advice beside the first 50 it shows", async () => {
    const at = env.clock.ms;
    const row = (i: number, state: "draft_ready" | "sent") => ({
      id: `adv_dash_${state}_${i}`,
      sourceMessageId: `msg_dash_${state}_${i}`,
      threadId: "thr_dash",
      toSessionId: "ses_dash",
      state,
      requestText: "q",
      createdAt: at + i,
      updatedAt: at + i,
    });
    await env.services.database.db
      .insert(adviceRequests)
      .values([...Array.from({ length: 55 }, (_, i) => row(i, "draft_ready")), ...Array.from({ length: 5 }, (_, i) => row(i, "sent"))]);
    const o = (await env.call("GET", "/v1/dashboard/overview")).body;
    expect(o.broker).toHaveLength(50);
    expect(o.broker[0].id).toBe("adv_dash_draft_ready_0");
    expect(o.broker_open).toBe(55);
  });

  it("is the owner's only", async () => {
    const s = await registerSession(env, "manager");
    expect((await env.call("GET", "/v1/dashboard/overview", { token: await env.mint("daemon") })).status).toBe(403);
    expect((await env.call("GET", "/v1/dashboard/overview", { token: s.token })).status).toBe(403);
    expect((await env.call("GET", "/v1/dashboard/overview", { token: null })).status).toBe(401);
  });
});

describe("GET /v1/dashboard/stream", () => {
  it("streams the watermark at once and a change with the new rows' summaries when a write lands", async () => {
    const res = await env.app.request("/v1/dashboard/stream?interval_ms=100", {
      headers: { Authorization: `Bearer ${env.owner}`, Accept: "text/event-stream" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const created = createTask(env, { name: "streamed" });
    const events = await readEvents(res, (evs) => evs.some((e) => e.data.recent.some((r: any) => r.summary.includes("task streamed"))));
    await created;
    expect(events[0]!.event).toBe("change");
    const marks = events.map((e) => e.data.watermark);
    expect(new Set(marks).size).toBe(marks.length);
    expect(events.at(-1)!.data.recent[0]).toMatchObject({ source: "audit", kind: "task_created" });
  });

  it("ends a stream once its token is revoked, with no change event after the revocation", async () => {
    const minted = await env.call("POST", "/v1/tokens", { body: { scope: "owner", label: "second device" } });
    expect(minted.status).toBe(201);
    const res = await env.app.request("/v1/dashboard/stream?interval_ms=100", {
      headers: { Authorization: `Bearer ${minted.body.token}`, Accept: "text/event-stream" },
    });
    expect(res.status).toBe(200);
    const stream = eventReader(res);
    const [opening] = await stream.until((evs) => evs.length >= 1);
    expect(opening!.event).toBe("change");
    expect((await env.call("POST", `/v1/tokens/${minted.body.token_id}/revoke`)).status).toBe(200);
    await createTask(env, { name: "after-revoke" });
    const events = await stream.until((evs) => evs.some((e) => e.event === "error"));
    // Nothing was written between opening and revoking: a change with another watermark came after.
    expect(events.filter((e) => e.event === "change").every((e) => e.data.watermark === opening!.data.watermark)).toBe(true);
    // The HTTP error envelope, hint included.
    expect(events.at(-1)!.data).toEqual({
      error: { code: "UNAUTHENTICATED", message: "this token is no longer live", hint: expect.stringContaining("live owner token") },
    });
    expect(events.flatMap((e) => (e.event === "change" ? e.data.recent : [])).some((r: any) => /after-revoke|token_revoked/.test(r.summary + r.kind))).toBe(
      false,
    );
    expect((await stream.until(() => false)).length).toBe(events.length);
    expect(stream.ended).toBe(true);
  });

  it("answers one JSON snapshot to a client that does not ask for a stream, and refuses non-owners", async () => {
    await createTask(env);
    const snap = await env.call("GET", "/v1/dashboard/stream");
    expect(snap.status).toBe(200);
    expect(snap.body).toMatchObject({ watermark: "1.0", recent: [expect.objectContaining({ kind: "task_created" })] });
    const s = await registerSession(env, "worker");
    const refused = await env.app.request("/v1/dashboard/stream", { headers: { Authorization: `Bearer ${s.token}`, Accept: "text/event-stream" } });
    expect(refused.status).toBe(403);
    expect((await env.call("GET", "/v1/dashboard/stream?interval_ms=5")).status).toBe(400);
  });
});

describe("the page", () => {
  it("serves /dashboard, its script and styles with no data and a same-origin CSP; / leads there", async () => {
    const page = await env.app.request("/dashboard");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(page.headers.get("content-security-policy")).toContain("connect-src 'self'");
    const html = await page.text();
    expect(html).toContain('<script src="/dashboard/app.js"></script>');
    expect(html).not.toMatch(/https?:\/\//);
    const js = await (await env.app.request("/dashboard/app.js")).text();
    expect(js).not.toMatch(/https?:\/\//);
    expect(js).not.toContain("innerHTML");
    expect(js).toContain("sessionStorage");
    expect((await env.app.request("/dashboard/app.css")).headers.get("content-type")).toContain("text/css");
    const root = await env.app.request("/");
    expect(root.status).toBe(302);
    expect(root.headers.get("location")).toBe("/dashboard");
  });
});
