import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createApp } from "../../../functions/app.ts";
import { makeCtx, type Services } from "../../../functions/lib/ctx.ts";
import { sha256Hex } from "../../../functions/lib/ids.ts";
import { STALE_PENDING_MS } from "../../../functions/lib/idempotency.ts";
import { InboxNotifier } from "../../../functions/lib/notifier.ts";
import { consumeNext } from "../../../functions/messages/inbox-consume.ts";
import { sendMessage } from "../../../functions/messages/send.ts";
import { boundPair, registerSession, withNewEvents } from "../../helpers/factories.ts";
import { startUp } from "../../../local-runner/up.ts";
import { makeTestEnv, type TestEnv, PINNED_EPOCH } from "../../helpers/services.ts";
import { firstPollDone, observeNotifier } from "./waiting.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv({ clockAt: PINNED_EPOCH });
});
afterEach(() => env.close());

const send = (to: string, body: string, token?: string) => env.call("POST", "/v1/messages", { token, body: { to, body } });

describe("POST /v1/sessions/{name}/inbox/consume", () => {
  it("takes the oldest item, records consumed_by/at and one dispatch_inbox_consumed event", async () => {
    const s = await registerSession(env, "manager");
    const first = await send(s.session.name, "first");
    await send(s.session.name, "second");
    const { result: res, events } = await withNewEvents(env, () =>
      env.call("POST", `/v1/sessions/${s.session.name}/inbox/consume`, { token: s.token, body: {} }),
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      session: s.session.name,
      role: "manager",
      task: null,
      timed_out: false,
      has_more: true,
      poll_count: 1,
      woken_by: null,
      item: {
        id: first.body.inbox_item_id,
        signal_type: "message",
        consumed_by: `session:${s.session_id}`,
        consumed_at: "2026-11-21T12:00:00.000Z",
        payload: { body: "first" },
      },
    });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      id: res.body.event_id,
      kind: "dispatch_inbox_consumed",
      sessionId: s.session_id,
      payload: { notification_id: first.body.inbox_item_id, signal_type: "message", delivery_mode: "pull_required", target_role: "manager", poll_count: 1 },
    });
    const second = await env.call("POST", `/v1/sessions/${s.session.name}/inbox/consume`, { token: s.token, body: {} });
    expect(second.body).toMatchObject({ item: { payload: { body: "second" } }, has_more: false });
  });

  it("answers item=null at once when empty, and HTTP 200 with timed_out=true after a wait", async () => {
    const s = await registerSession(env, "worker");
    const now = await env.call("POST", `/v1/sessions/${s.session.name}/inbox/consume`, { body: {} });
    expect(now.status).toBe(200);
    expect(now.body).toMatchObject({ item: null, timed_out: false, event_id: null });
    const waited = await env.call("POST", `/v1/sessions/${s.session.name}/inbox/consume`, { body: { wait: true, timeout: 0.2, interval: 0.1 } });
    expect(waited.status).toBe(200);
    expect(waited.body).toMatchObject({ item: null, timed_out: true, has_more: false, event_id: null });
    expect(waited.body.poll_count).toBeGreaterThan(1);
  });

  it("wakes a waiting consumer through the notifier when this process writes an item", async () => {
    const s = await registerSession(env, "manager");
    const notifier = observeNotifier(env);
    const listening = notifier.listening(s.session_id);
    // The re-check interval is far beyond the test, so only the notifier can end this wait.
    const waiting = env.call("POST", `/v1/sessions/${s.session.name}/inbox/consume`, { body: { wait: true, timeout: 240, interval: 60 } });
    await listening;
    await firstPollDone();
    const sent = await send(s.session.name, "wake up");
    const res = await waiting;
    expect(res.body).toMatchObject({ item: { id: sent.body.inbox_item_id }, timed_out: false, woken_by: "notifier", poll_count: 2 });
    expect(notifier.signalled).toEqual([s.session_id]);
  });

  it("finds an item the notifier never announced by the periodic re-check", async () => {
    const s = await registerSession(env, "manager");
    const mine = observeNotifier(env);
    const listening = mine.listening(s.session_id);
    // Its own notifier stands for another process writing the same database.
    const other = makeCtx({ ...env.services, notifier: new InboxNotifier() }, { kind: "owner", tokenId: "tok_other" });
    const waiting = consumeNext(
      makeCtx(env.services, { kind: "owner", tokenId: "tok_me" }),
      { session: s.session.name },
      { wait: true, timeout: 30, interval: 0.1 },
    );
    await listening;
    await firstPollDone();
    const sent = await sendMessage(other, { to: s.session.name, body: "from elsewhere", msg_type: "notify" });
    const res = await waiting;
    expect(res).toMatchObject({ item: { id: sent.inbox_item_id }, woken_by: "interval" });
    expect(mine.signalled).toEqual([]);
  });

  it("a consumer that becomes head after the one ahead drained the inbox re-checks on its interval", async () => {
    const s = await registerSession(env, "manager");
    // A notifier the file watcher does not feed: as on a remote database, where only re-checks
    // find what another server wrote.
    observeNotifier(env);
    const me = makeCtx(env.services, { kind: "owner", tokenId: "tok_me" });
    const other = makeCtx({ ...env.services, notifier: new InboxNotifier() }, { kind: "owner", tokenId: "tok_other" });
    const wait = { wait: true, timeout: 30, interval: 0.1 };
    const first = consumeNext(me, { session: s.session.name }, wait);
    const second = consumeNext(me, { session: s.session.name }, wait);
    await firstPollDone();
    // An item from this process: the head takes it and leaves with nothing more pending.
    const local = await sendMessage(me, { to: s.session.name, body: "here", msg_type: "notify" });
    expect((await first).item?.id).toBe(local.inbox_item_id);
    // Then one written elsewhere (no signal here): only the second's interval re-check finds it.
    const started = performance.now();
    const far = await sendMessage(other, { to: s.session.name, body: "from elsewhere", msg_type: "notify" });
    const res = await second;
    expect(res.item?.id).toBe(far.inbox_item_id);
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it("gives each of 8 concurrent consumers distinct items: every item consumed exactly once", async () => {
    const s = await registerSession(env, "manager");
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push((await send(s.session.name, `m${i}`)).body.inbox_item_id);
    const consumer = async () => {
      const got: string[] = [];
      for (;;) {
        const r = await env.call("POST", `/v1/sessions/${s.session.name}/inbox/consume`, { body: {} });
        if (!r.body.item) return got;
        got.push(r.body.item.id);
      }
    };
    const results = await Promise.all(Array.from({ length: 8 }, consumer));
    const all = results.flat();
    expect(all.sort()).toEqual([...ids].sort());
    const audited = await env.services.database.client.execute("SELECT count(*) AS n FROM events WHERE kind = 'dispatch_inbox_consumed'");
    expect(audited.rows[0]!.n).toBe(40);
  });

  it("reaches a task's bound manager and worker through manager-inbox / worker-inbox", async () => {
    const { task, worker, manager } = await boundPair(env);
    await send(manager.session.name, "for the manager");
    await send(worker.session.name, "for the worker");
    const m = await env.call("POST", `/v1/tasks/${task.task.name}/manager-inbox/consume`, { token: manager.token, body: {} });
    expect(m.body).toMatchObject({ session: manager.session.name, task: task.task.name, item: { payload: { body: "for the manager" } } });
    const w = await env.call("POST", `/v1/tasks/${task.task.name}/worker-inbox/consume`, { token: worker.token, body: {} });
    expect(w.body).toMatchObject({ session: worker.session.name, role: "worker", item: { payload: { body: "for the worker" } } });
    const [ev] = (await env.services.database.client.execute({ sql: "SELECT payload_json FROM events WHERE id = ?", args: [w.body.event_id] })).rows;
    expect(JSON.parse(String(ev!.payload_json))).toMatchObject({ target_role: "worker", via_task: task.task.name });
  });

  it("lets a session consume only its own inbox, and refuses runners", async () => {
    const { task, worker, manager } = await boundPair(env);
    await send(manager.session.name, "secret");
    const bySession = await env.call("POST", `/v1/sessions/${manager.session.name}/inbox/consume`, { token: worker.token, body: {} });
    expect(bySession.status).toBe(403);
    const byTask = await env.call("POST", `/v1/tasks/${task.task.name}/manager-inbox/consume`, { token: worker.token, body: {} });
    expect(byTask.status).toBe(403);
    const runner = await env.call("POST", `/v1/sessions/${manager.session.name}/inbox/consume`, { token: await env.mint("runner", "test-host"), body: {} });
    expect(runner.status).toBe(403);
    const left = await env.call("GET", `/v1/sessions/${manager.session.name}/inbox`);
    expect(left.body.pending).toBe(1);
  });

  it("refuses an unbound task, an unknown session and a timeout beyond the cap", async () => {
    const s = await registerSession(env, "worker");
    const task = await env.call("POST", "/v1/tasks", { body: { name: "lonely", goal: "g" } });
    expect(task.status).toBe(201);
    expect((await env.call("POST", "/v1/tasks/lonely/manager-inbox/consume", { body: {} })).body.error.hint).toMatch(/switchyard bind/);
    expect((await env.call("POST", "/v1/sessions/ghost/inbox/consume", { body: {} })).status).toBe(404);
    const tooLong = await env.call("POST", `/v1/sessions/${s.session.name}/inbox/consume`, { body: { wait: true, timeout: 241 } });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.fields[0].field).toBe("timeout");
  });

  it("hands nothing to a caller that hung up while waiting (real HTTP server)", async () => {
    const s = await registerSession(env, "manager");
    const notifier = observeNotifier(env);
    const listening = notifier.listening(s.session_id);
    const stopped = notifier.stopped(s.session_id);
    const up = await startUp(env.services, { port: 0, hostname: "127.0.0.1", schedules: [] });
    try {
      const hangUp = new AbortController();
      const poll = fetch(`${up.url}/v1/sessions/${s.session.name}/inbox/consume`, {
        method: "POST",
        headers: { Authorization: `Bearer ${env.owner}`, "Content-Type": "application/json" },
        body: JSON.stringify({ wait: true, timeout: 240, interval: 60 }),
        signal: hangUp.signal,
      }).catch((e: Error) => e.name);
      await listening;
      hangUp.abort();
      expect(await poll).toBe("AbortError");
      await stopped;
      await send(s.session.name, "nobody is listening");
      const left = await env.call("GET", `/v1/sessions/${s.session.name}/inbox`);
      expect(left.body).toMatchObject({ pending: 1, items: [{ consumed_at: null }] });
    } finally {
      await up.stop();
    }
  });
});

describe("consume with an Idempotency-Key", () => {
  const path = (name: string) => `/v1/sessions/${name}/inbox/consume`;
  const count = async (q: string) => Number((await env.services.database.client.execute(q)).rows[0]!.n);

  /** The app over the env's services with test hooks, and a keyed consume through it. */
  function keyedApp(hooks: NonNullable<Services["hooks"]>) {
    const app = createApp({ ...env.services, hooks });
    return async (name: string, key: string, body: unknown = {}) => {
      const res = await app.request(path(name), {
        method: "POST",
        headers: { Authorization: `Bearer ${env.owner}`, "Idempotency-Key": key, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: res.status, replayed: res.headers.get("Idempotent-Replayed"), body: await res.json() };
    };
  }

  it("stores the answer with the consume: a retry replays the item it took, a new key takes the next", async () => {
    const s = await registerSession(env, "manager");
    const ids = [(await send(s.session.name, "first")).body.inbox_item_id, (await send(s.session.name, "second")).body.inbox_item_id];
    const keyed = { headers: { "Idempotency-Key": "take-1" }, body: {} };
    const first = await env.call("POST", path(s.session.name), keyed);
    expect(first.status).toBe(200);
    expect(first.headers.get("Idempotent-Replayed")).toBeNull();
    expect(first.body).toMatchObject({ item: { id: ids[0], state: "consumed" }, has_more: true });
    // The stored answer is the live one, has_more included (filled in by the commit).
    const stored = (await env.services.database.client.execute("SELECT response_body FROM idempotency_keys WHERE key = 'take-1'")).rows;
    expect(stored).toHaveLength(1);
    expect(JSON.parse(String(stored[0]!.response_body))).toEqual(first.body);
    const retry = await env.call("POST", path(s.session.name), keyed);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    expect(retry.body).toEqual(first.body);
    const next = await env.call("POST", path(s.session.name), { headers: { "Idempotency-Key": "take-2" }, body: {} });
    expect(next.body).toMatchObject({ item: { id: ids[1] }, has_more: false });
    expect(await count("SELECT count(*) AS n FROM events WHERE kind = 'dispatch_inbox_consumed'")).toBe(2);
  });

  it("two duplicates in flight with one key take one item, and both answer with it", async () => {
    const s = await registerSession(env, "manager");
    const ids = [(await send(s.session.name, "first")).body.inbox_item_id, (await send(s.session.name, "second")).body.inbox_item_id];
    // Both requests read the same oldest item and are held at the batch until both got there.
    let arrived = 0;
    let release!: () => void;
    const bothThere = new Promise<void>((r) => {
      release = r;
    });
    const consume = keyedApp({
      beforeKeyCommit: async () => {
        if (++arrived === 2) release();
        await bothThere;
      },
    });
    const [a, b] = await Promise.all([consume(s.session.name, "dup"), consume(s.session.name, "dup")]);
    expect(arrived).toBe(2);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect([a.replayed, b.replayed].sort()).toEqual([null, "true"]);
    expect(a.body).toEqual(b.body);
    expect(a.body.item.id).toBe(ids[0]);
    // The loser did not go on to take the second item.
    expect(await count("SELECT count(*) AS n FROM inbox_items WHERE consumed_at IS NOT NULL")).toBe(1);
    expect(await count("SELECT count(*) AS n FROM events WHERE kind = 'dispatch_inbox_consumed'")).toBe(1);
  });

  it("a duplicate that waited on an empty inbox while its twin took the item answers with that item", async () => {
    const s = await registerSession(env, "manager");
    const consume = keyedApp({});
    const wait = { wait: true, timeout: 20, interval: 0.1 };
    const started = performance.now();
    const both = Promise.all([consume(s.session.name, "twin", wait), consume(s.session.name, "twin", wait)]);
    await new Promise((r) => setTimeout(r, 150));
    const sent = (await send(s.session.name, "only one")).body.inbox_item_id;
    const [a, b] = await both;
    // The twin answers when it is handed the turn, not at the end of its 20 s wait.
    expect(performance.now() - started).toBeLessThan(10_000);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.body).toEqual(b.body);
    expect(a.body.item).toMatchObject({ id: sent, state: "consumed" });
    expect([a.replayed, b.replayed].sort()).toEqual([null, "true"]);
    expect(await count("SELECT count(*) AS n FROM inbox_items WHERE consumed_at IS NOT NULL")).toBe(1);
  });

  it("a keyed consumer handed the turn with an item pending checks at once, not after its interval", async () => {
    const s = await registerSession(env, "manager");
    // Items written by another server: no signal reaches this process's waiters.
    observeNotifier(env);
    const other = makeCtx({ ...env.services, notifier: new InboxNotifier() }, { kind: "owner", tokenId: "tok_other" });
    const consume = keyedApp({});
    const started = performance.now();
    // The head re-checks often; the keyed waiter behind it only every 20 s.
    const a = consume(s.session.name, "ka", { wait: true, timeout: 25, interval: 0.2 });
    await new Promise((r) => setTimeout(r, 100));
    const b = consume(s.session.name, "kb", { wait: true, timeout: 25, interval: 20 });
    await new Promise((r) => setTimeout(r, 300));
    const ids = [];
    for (const body of ["one", "two"]) ids.push((await sendMessage(other, { to: s.session.name, body, msg_type: "notify" })).inbox_item_id);
    // The head takes one and, seeing more, hands its turn over: the waiter's first read (an
    // empty inbox, made behind the head) must not stand for that turn.
    const [ra, rb] = await Promise.all([a, b]);
    expect([ra.body.item.id, rb.body.item.id]).toEqual(ids);
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it("finishes a key taken over from a dead process's pending claim (code before consume was atomic)", async () => {
    const s = await registerSession(env, "manager");
    const id = (await send(s.session.name, "left behind")).body.inbox_item_id;
    const path = `/v1/sessions/${s.session.name}/inbox/consume`;
    // A pending row as a process that died mid-request left it, older than the takeover age.
    const principal = `token:${(await env.services.database.client.execute("SELECT id FROM tokens WHERE kind = 'owner' LIMIT 1")).rows[0]!.id}`;
    await env.services.database.client.execute({
      sql: "INSERT INTO idempotency_keys (principal, key, method, path, request_hash, state, created_at) VALUES (?, 'stale', 'POST', ?, ?, 'pending', ?)",
      args: [principal, path, await sha256Hex(`POST ${path}\n{}`), env.clock.ms - STALE_PENDING_MS - 1000],
    });
    const consume = keyedApp({});
    const first = await consume(s.session.name, "stale");
    expect(first.status).toBe(200);
    expect(first.body.item.id).toBe(id);
    expect(await consume(s.session.name, "stale")).toMatchObject({ status: 200, replayed: "true", body: first.body });
  });

  it("takes nothing once a duplicate that passed the key check with it has committed", async () => {
    const s = await registerSession(env, "manager");
    await send(s.session.name, "first");
    await send(s.session.name, "second");
    // This request's key check found no key; its twin then committed (it took the first item).
    const ctx = makeCtx(env.services, { kind: "owner", tokenId: "tok_twin" });
    ctx.idempotency = {
      principal: "token:tok_twin",
      key: "late",
      method: "POST",
      path: path(s.session.name),
      requestHash: "h",
      mode: "atomic",
      recorded: false,
    };
    await env.services.database.client.execute(
      "INSERT INTO idempotency_keys (principal, key, method, path, request_hash, state, status_code, response_body, created_at) VALUES ('token:tok_twin', 'late', 'POST', '/x', 'h', 'done', 200, '{}', 1)",
    );
    await expect(consumeNext(ctx, { session: s.session.name }, { wait: false, timeout: 0, interval: 1 })).rejects.toMatchObject({
      code: "IDEMPOTENCY_IN_PROGRESS",
    });
    expect(await count("SELECT count(*) AS n FROM inbox_items WHERE consumed_at IS NOT NULL")).toBe(0);
  });

  it("reads an item again when it changed between its read and the commit (delivered meanwhile)", async () => {
    const s = await registerSession(env, "manager");
    const id = (await send(s.session.name, "pushed meanwhile")).body.inbox_item_id;
    let calls = 0;
    const consume = keyedApp({
      beforeKeyCommit: async () => {
        // What the push executor does to an item: the first attempt's snapshot goes stale.
        if (++calls === 1)
          await env.services.database.client.execute({ sql: "UPDATE inbox_items SET delivery_mode = 'push', delivered_at = 1 WHERE id = ?", args: [id] });
      },
    });
    const got = await consume(s.session.name, "stale");
    expect(calls).toBe(2);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ item: { id, delivery_mode: "push", delivered_at: new Date(1).toISOString(), state: "consumed" }, poll_count: 2 });
    const retry = await consume(s.session.name, "stale");
    expect(retry).toMatchObject({ replayed: "true", body: got.body });
    expect(await count("SELECT count(*) AS n FROM events WHERE kind = 'dispatch_inbox_consumed'")).toBe(1);
  });
});
