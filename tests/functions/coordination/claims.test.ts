import { afterEach, describe, expect, it } from "vitest";
import { claimBase } from "../../../functions/coordination/claims.ts";
import { boundPair, registerSession } from "../../helpers/factories.ts";
import { appMeetingAtTheBatch } from "../../helpers/key-barrier.ts";
import { makeTestEnv, PINNED_EPOCH, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
afterEach(() => env?.close());

const claim = (body: Record<string, unknown>, token?: string) => env.call("POST", "/v1/claims", { token, body: { ttl_seconds: 600, ...body } });

describe("file claims", () => {
  it("takes the fixed part of a path up to its first wildcard as the base", () => {
    expect(claimBase("src/auth/**")).toBe("src/auth");
    expect(claimBase("./src//auth/session.ts")).toBe("src/auth/session.ts");
    expect(claimBase("**/*.ts")).toBe("");
    expect(claimBase("src/*.ts")).toBe("src");
    // A `.` segment anywhere is the same path without it.
    expect(claimBase("src/./auth/x.ts")).toBe("src/auth/x.ts");
    expect(claimBase("src/auth/./")).toBe("src/auth");
    expect(claimBase("/srv/./app/**")).toBe("/srv/app");
    expect(claimBase(".")).toBe("");
  });

  it("reports a conflict with the holder and expiry; nested paths conflict, siblings do not", async () => {
    env = await makeTestEnv();
    const a = await registerSession(env, "worker");
    const b = await registerSession(env, "worker");
    const first = await claim({ path: "src/auth/**", session: a.session.name, exclusive: true, note: "splitting" });
    expect(first.status).toBe(201);
    expect(first.body.claim).toMatchObject({ base: "src/auth", exclusive: true, live: true });
    const inside = await claim({ path: "src/auth/session.ts", session: b.session.name });
    expect(inside.status).toBe(409);
    expect(inside.body.error.message).toContain(`held exclusively by ${a.session.name} until ${first.body.claim.expires_at}`);
    expect(inside.body.error.message).toContain(first.body.claim_id);
    expect((await claim({ path: "src/./auth/x.ts", session: b.session.name, exclusive: true })).status).toBe(409);
    expect((await claim({ path: "./src/.//auth/./y.ts", session: b.session.name })).status).toBe(409);
    // `..` hidden behind whitespace the path is trimmed of, and a blank path, are refused.
    for (const path of ["src/zzz/.. ", "src/zzz/..\u00a0", " ../src", "   "]) {
      const r = await claim({ path, session: b.session.name, exclusive: true });
      expect(r.status, JSON.stringify(path)).toBe(400);
    }
    expect((await claim({ path: "src", session: b.session.name, exclusive: true })).status).toBe(409);
    expect((await claim({ path: "**/*.md", session: b.session.name })).status).toBe(409);
    expect((await claim({ path: "src/authz/x.ts", session: b.session.name, exclusive: true })).status).toBe(201);
    expect((await claim({ path: "src/db/**", session: b.session.name, exclusive: true })).status).toBe(201);
    // Shared claims live side by side; an exclusive one does not join them.
    expect((await claim({ path: "docs/**", session: a.session.name })).status).toBe(201);
    expect((await claim({ path: "docs/api.md", session: b.session.name })).status).toBe(201);
    expect((await claim({ path: "docs/api.md", session: b.session.name, exclusive: true })).status).toBe(409);
  });

  it("honours expiry to the second, refreshes a holder's repeat claim, and releases", async () => {
    env = await makeTestEnv();
    const a = await registerSession(env, "worker");
    const b = await registerSession(env, "worker");
    const first = await claim({ path: "lib/x.ts", session: a.session.name, exclusive: true, ttl_seconds: 60 });
    env.clock.advance(59);
    expect((await claim({ path: "lib/x.ts", session: b.session.name, exclusive: true })).status).toBe(409);
    env.clock.advance(1);
    const taken = await claim({ path: "lib/x.ts", session: b.session.name, exclusive: true, ttl_seconds: 30 });
    expect(taken.status).toBe(201);
    const live = await env.call("GET", "/v1/claims");
    expect(live.body.claims.map((c: any) => c.id)).toEqual([taken.body.claim_id]);
    const all = await env.call("GET", "/v1/claims?state=all");
    expect(all.body.claims.find((c: any) => c.id === first.body.claim_id).live).toBe(false);
    env.clock.advance(20);
    const again = await claim({ path: "lib/x.ts", session: b.session.name, exclusive: true, ttl_seconds: 30 });
    expect(again.body).toMatchObject({ refreshed: true, claim_id: taken.body.claim_id });
    env.clock.advance(29);
    expect((await claim({ path: "lib/x.ts", session: a.session.name, exclusive: true })).status).toBe(409);
    const rel = await env.call("POST", `/v1/claims/${taken.body.claim_id}/release`);
    expect(rel.status).toBe(200);
    expect((await env.call("POST", `/v1/claims/${taken.body.claim_id}/release`)).status).toBe(409);
    expect((await claim({ path: "lib/x.ts", session: a.session.name, exclusive: true })).status).toBe(201);
  });

  it("pages one session's live claims past any number of newer released ones", async () => {
    env = await makeTestEnv();
    const a = await registerSession(env, "worker");
    const live = await claim({ path: "kept/live.ts", session: a.session.name });
    for (const path of ["gone/1.ts", "gone/2.ts", "gone/3.ts"]) {
      env.clock.advance(1);
      const c = await claim({ path, session: a.session.name });
      expect((await env.call("POST", `/v1/claims/${c.body.claim_id}/release`)).status).toBe(200);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: any = await env.call("GET", `/v1/claims?session=${a.session.name}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.claims.map((c: any) => c.id));
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual([live.body.claim_id]);
  });

  it("lists each live claim once though one is renewed while the list is walked", async () => {
    env = await makeTestEnv();
    const s = await registerSession(env, "worker");
    const paths = ["src/a.ts", "src/b.ts", "src/c.ts", "lib/d.ts"];
    for (const [i, path] of paths.entries()) {
      const r = await env.call("POST", "/v1/claims", { body: { path, session: s.session.name, ttl_seconds: 100 + i * 100 } });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let page = 0;
    do {
      const res = await env.call("GET", `/v1/claims?limit=1${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      seen.push(...res.body.claims.map((c: { path: string }) => c.path));
      cursor = res.body.next_cursor;
      // The first claim listed under src/ is renewed for longer than all the others.
      if (seen.at(-1) === "src/a.ts" && page < 4) {
        const r = await env.call("POST", "/v1/claims", { body: { path: "src/a.ts", session: s.session.name, ttl_seconds: 1000 } });
        expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
      }
      page++;
    } while (cursor && page < 10);
    expect([...seen].sort()).toEqual([...paths].sort());
    // A cursor of another list is refused, not read as this one's.
    const all = await env.call("GET", "/v1/claims?state=all&limit=1");
    const mixed = await env.call("GET", `/v1/claims?limit=1&cursor=${all.body.next_cursor}`);
    expect(mixed.status).toBe(400);
  });

  it("two identical claims at once by one session make one live claim; the later is its refresh", async () => {
    env = await makeTestEnv();
    const a = await registerSession(env, "worker");
    const [x, y] = await Promise.all([
      claim({ path: "src/twin/**", session: a.session.name, exclusive: true }, a.token),
      claim({ path: "src/twin/**", session: a.session.name, exclusive: true }, a.token),
    ]);
    expect([x.status, y.status]).toEqual([201, 201]);
    expect(y.body.claim_id).toBe(x.body.claim_id);
    expect([x.body.refreshed, y.body.refreshed].sort()).toEqual([false, true]);
    const rows = await env.services.database.client.execute("SELECT id FROM file_claims WHERE released_at IS NULL");
    expect(rows.rows.map((r) => r.id)).toEqual([x.body.claim_id]);
  });

  it("a session claims and releases only for itself; bad paths are refused", async () => {
    env = await makeTestEnv();
    const a = await registerSession(env, "worker");
    const b = await registerSession(env, "worker");
    expect((await claim({ path: "x", session: b.session.name }, a.token)).status).toBe(403);
    const mine = await claim({ path: "x", session: a.session.name }, a.token);
    expect(mine.status).toBe(201);
    expect((await env.call("POST", `/v1/claims/${mine.body.claim_id}/release`, { token: b.token })).status).toBe(403);
    expect((await env.call("POST", `/v1/claims/${mine.body.claim_id}/release`, { token: a.token })).status).toBe(200);
    expect((await claim({ path: "../etc/passwd", session: a.session.name })).status).toBe(400);
    expect((await claim({ path: "x", session: a.session.name, ttl_seconds: 0 })).status).toBe(400);
    const listed = await env.call("GET", `/v1/claims?session=${a.session.name}&state=all`);
    expect(listed.body.count).toBe(1);
  });

  it("a session files claims, notes and plans only under a task it is bound to; the owner under any", async () => {
    env = await makeTestEnv();
    const a = await boundPair(env);
    const b = await boundPair(env);
    const tB = b.task.task.name;
    const kindsOfB = async () => (await env.call("GET", `/v1/tasks/${tB}/audit`)).body.events.map((e: any) => e.kind);
    const before = await kindsOfB();
    const foreign = await claim({ path: "src/x", session: a.worker.session.name, task: tB }, a.worker.token);
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.message).toContain(tB);
    expect((await env.call("POST", "/v1/notes", { token: a.worker.token, body: { text: "hi", task: tB } })).status).toBe(403);
    expect((await env.call("POST", "/v1/plans", { token: a.manager.token, body: { title: "p", task: tB } })).status).toBe(403);
    expect(await kindsOfB()).toEqual(before);
    // Its own task, as worker or manager, and the owner anywhere.
    expect((await claim({ path: "src/x", session: a.worker.session.name, task: a.task.task.name }, a.worker.token)).status).toBe(201);
    expect((await env.call("POST", "/v1/notes", { token: a.manager.token, body: { text: "hi", task: a.task.task.name } })).status).toBe(201);
    expect((await env.call("POST", "/v1/plans", { token: a.worker.token, body: { title: "p", task: a.task.task.name } })).status).toBe(201);
    expect((await claim({ path: "src/y", session: b.worker.session.name, task: tB })).status).toBe(201);
    expect((await env.call("POST", "/v1/notes", { body: { text: "owner", task: tB } })).status).toBe(201);
    expect(await kindsOfB()).toEqual(expect.arrayContaining(["claim_added", "note_added"]));
  });

  it("a plan's owner changes its status under a task only while still bound to that task", async () => {
    env = await makeTestEnv();
    const a = await boundPair(env);
    const task = a.task.task.name;
    const plan = await env.call("POST", "/v1/plans", { token: a.manager.token, body: { title: "ship it", task } });
    expect(plan.status).toBe(201);
    const id = plan.body.plan_id;
    expect((await env.call("POST", `/v1/plans/${id}/status`, { token: a.manager.token, body: { status: "active" } })).status).toBe(200);
    expect((await env.call("POST", "/v1/bindings/unbind", { body: { task } })).status).toBe(200);
    const kinds = async () => (await env.call("GET", `/v1/tasks/${task}/audit`)).body.events.map((e: any) => e.kind);
    const before = await kinds();
    const after = await env.call("POST", `/v1/plans/${id}/status`, { token: a.manager.token, body: { status: "done" } });
    expect(after.status).toBe(403);
    expect(await kinds()).toEqual(before);
    // The owner still may.
    expect((await env.call("POST", `/v1/plans/${id}/status`, { body: { status: "done" } })).status).toBe(200);
  });

  it("a manager closes out its plan after finishing its task", async () => {
    env = await makeTestEnv();
    const a = await boundPair(env);
    const task = a.task.task.name;
    const id = (await env.call("POST", "/v1/plans", { token: a.manager.token, body: { title: "ship it", task, status: "active" } })).body.plan_id;
    expect((await env.call("POST", `/v1/tasks/${task}/finish`, { token: a.manager.token, body: {} })).status).toBe(200);
    // Closing it out, not setting it going again.
    expect((await env.call("POST", `/v1/plans/${id}/status`, { token: a.manager.token, body: { status: "active" } })).status).toBe(403);
    expect((await env.call("POST", `/v1/plans/${id}/status`, { token: a.manager.token, body: { status: "done" } })).status).toBe(200);
  });
});

describe("file claims with an Idempotency-Key", () => {
  /** A keyed claim through the app whose requests meet at the key's batch. */
  function meetingAtTheBatch(token: string) {
    const { app } = appMeetingAtTheBatch(env);
    return async (key: string, body: Record<string, unknown>) => {
      const res = await app.request("/v1/claims", {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Idempotency-Key": key, "Content-Type": "application/json" },
        body: JSON.stringify({ ttl_seconds: 600, ...body }),
      });
      return { status: res.status, replayed: res.headers.get("Idempotent-Replayed"), body: await res.json() };
    };
  }
  const live = async () => (await env.services.database.client.execute("SELECT id FROM file_claims WHERE released_at IS NULL")).rows.map((r) => r.id);

  it("two duplicates in flight make one claim, and both answer with it", async () => {
    env = await makeTestEnv();
    const s = await registerSession(env, "worker");
    const send = meetingAtTheBatch(s.token);
    const body = { session: s.session.name, path: "src/a/**", exclusive: true };
    const [a, b] = await Promise.all([send("dup", body), send("dup", body)]);
    expect([a.status, b.status]).toEqual([201, 201]);
    expect([a.replayed, b.replayed].sort()).toEqual([null, "true"]);
    expect(a.body).toEqual(b.body);
    // The loser's own claim went with its batch: no second claim nobody was told about.
    expect(await live()).toEqual([a.body.claim_id]);
    const added = await env.services.database.client.execute("SELECT count(*) AS n FROM events WHERE kind = 'claim_added'");
    expect(Number(added.rows[0]!.n)).toBe(1);
  });

  it("two releases of one claim in the same millisecond with different keys: one release, and the loser stores nothing", async () => {
    env = await makeTestEnv({ clockAt: PINNED_EPOCH });
    const s = await registerSession(env, "worker");
    const id = (await claim({ session: s.session.name, path: "src/r/**" }, s.token)).body.claim_id;
    // The clock stands still: both requests stamp the same instant.
    const { app } = appMeetingAtTheBatch(env);
    const call = async (key: string) =>
      (await app.request(`/v1/claims/${id}/release`, { method: "POST", headers: { Authorization: `Bearer ${s.token}`, "Idempotency-Key": key } })).status;
    expect((await Promise.all([call("r1"), call("r2")])).sort()).toEqual([200, 409]);
    const events = await env.services.database.client.execute("SELECT count(*) AS n FROM events WHERE kind = 'claim_released'");
    expect(Number(events.rows[0]!.n)).toBe(1);
    // Only the winner's answer is stored: the loser's key replays nothing and runs as new.
    const stored = await env.services.database.client.execute("SELECT status_code FROM idempotency_keys WHERE key IN ('r1', 'r2')");
    expect(stored.rows.map((r) => Number(r.status_code))).toEqual([200]);
  });

  it("two different requests in flight with one key: one claim, and the other is told of the mismatch", async () => {
    env = await makeTestEnv();
    const s = await registerSession(env, "worker");
    const send = meetingAtTheBatch(s.token);
    const [a, b] = await Promise.all([
      send("same-key", { session: s.session.name, path: "src/a/**" }),
      send("same-key", { session: s.session.name, path: "src/b/**" }),
    ]);
    expect([a.status, b.status].sort()).toEqual([201, 422]);
    const [won, lost] = a.status === 201 ? [a, b] : [b, a];
    expect(lost.body.error.code).toBe("IDEMPOTENCY_MISMATCH");
    expect(await live()).toEqual([won.body.claim_id]);
  });
});
