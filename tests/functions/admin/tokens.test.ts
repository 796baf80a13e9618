import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sha256Hex } from "../../../functions/lib/ids.ts";
import { tokens } from "../../../schema/auth.ts";
import { registerSession, withNewEvents } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv, PINNED_EPOCH } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv({ clockAt: PINNED_EPOCH });
});
afterEach(() => env.close());

const tokenRow = async (id: string) => (await env.services.database.db.select().from(tokens).where(eq(tokens.id, id)))[0];

describe("POST /v1/tokens", () => {
  it("mints a daemon token stored only as a hash, usable for daemon routes only", async () => {
    const { result: res, events } = await withNewEvents(env, () => env.call("POST", "/v1/tokens", { body: { scope: "daemon", label: "overnight" } }));
    expect(res.status).toBe(201);
    expect(res.body.token).toMatch(/^sy_daemon_/);
    expect(res.body.info).toMatchObject({ id: res.body.token_id, kind: "daemon", host: null, label: "overnight", revoked_at: null });
    expect(await tokenRow(res.body.token_id)).toMatchObject({ kind: "daemon", secretHash: await sha256Hex(res.body.token) });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ id: res.body.event_id, kind: "token_minted", payload: { token_id: res.body.token_id, scope: "daemon" } });
    expect(JSON.stringify(events[0]!.payload)).not.toContain(res.body.token);

    expect((await env.call("GET", "/v1/crons", { token: res.body.token })).status).toBe(200);
    expect((await env.call("POST", "/v1/tasks", { token: res.body.token, body: { name: "x" } })).status).toBe(403);
  });

  it("mints a runner token bound to its host and refuses one without a host", async () => {
    const bad = await env.call("POST", "/v1/tokens", { body: { scope: "runner" } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: "VALIDATION_FAILED", fields: [{ field: "host", message: "required for scope runner" }] });
    const res = await env.call("POST", "/v1/tokens", { body: { scope: "runner", host: "build-box" } });
    expect(res.status).toBe(201);
    expect(res.body.info.host).toBe("build-box");
    const reg = await env.call("POST", "/v1/sessions", { token: res.body.token, body: { name: "rw", role: "worker" } });
    expect(reg.body.session.host).toBe("build-box");
  });

  it("mints an extra owner token that can do owner things", async () => {
    const res = await env.call("POST", "/v1/tokens", { body: { scope: "owner" } });
    expect((await env.call("POST", "/v1/tasks", { token: res.body.token, body: { name: "by-second-owner" } })).status).toBe(201);
  });

  it("refuses session tokens and unknown scopes", async () => {
    const bad = await env.call("POST", "/v1/tokens", { body: { scope: "session" } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields).toEqual([expect.objectContaining({ field: "scope" })]);
  });

  it("is owner-only", async () => {
    const w = await registerSession(env, "worker");
    const before = (await env.services.database.db.select().from(tokens)).length;
    for (const token of [w.token, await env.mint("daemon"), await env.mint("runner", "h")]) {
      expect((await env.call("POST", "/v1/tokens", { token, body: { scope: "owner" } })).status).toBe(403);
    }
    expect((await env.services.database.db.select().from(tokens)).length).toBe(before + 2);
  });
});

describe("GET /v1/tokens", () => {
  it("lists token metadata and never a secret or hash", async () => {
    const minted = await env.call("POST", "/v1/tokens", { body: { scope: "daemon" } });
    const w = await registerSession(env, "worker");
    const res = await env.call("GET", "/v1/tokens");
    expect(res.status).toBe(200);
    expect(res.body.tokens.map((t: any) => t.kind).sort()).toEqual(["daemon", "owner", "session"]);
    expect(res.body.tokens.find((t: any) => t.kind === "session").session_id).toBe(w.session_id);
    const text = JSON.stringify(res.body);
    for (const secret of [env.owner, minted.body.token, w.token]) expect(text).not.toContain(secret);
    expect(text).not.toContain((await tokenRow(minted.body.token_id))!.secretHash);
  });

  it("is owner-only", async () => {
    expect((await env.call("GET", "/v1/tokens", { token: await env.mint("daemon") })).status).toBe(403);
  });
});

describe("POST /v1/tokens/{id}/revoke", () => {
  it("revokes a token so it answers 401, writing exactly one event", async () => {
    const minted = await env.call("POST", "/v1/tokens", { body: { scope: "daemon" } });
    env.clock.advance(10);
    const { result: res, events } = await withNewEvents(env, () => env.call("POST", `/v1/tokens/${minted.body.token_id}/revoke`));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ token_id: minted.body.token_id, revoked_at: "2026-11-21T12:00:10.000Z", event_id: res.body.event_id });
    expect((await tokenRow(minted.body.token_id))!.revokedAt).toBe(env.clock.ms);
    expect(events).toEqual([expect.objectContaining({ id: res.body.event_id, kind: "token_revoked", payload: { token_id: minted.body.token_id } })]);

    const denied = await env.call("GET", "/v1/crons", { token: minted.body.token });
    expect(denied.status).toBe(401);
    expect(denied.body.error).toMatchObject({ code: "UNAUTHENTICATED", message: "this token has been revoked" });
  });

  it("answers NOT_FOUND for an unknown or already revoked token, writing no event", async () => {
    const minted = await env.call("POST", "/v1/tokens", { body: { scope: "daemon" } });
    await env.call("POST", `/v1/tokens/${minted.body.token_id}/revoke`);
    for (const id of [minted.body.token_id, "tok_nope"]) {
      const { result: res, events } = await withNewEvents(env, () => env.call("POST", `/v1/tokens/${id}/revoke`));
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe("NOT_FOUND");
      expect(events).toHaveLength(0);
    }
  });

  it("refuses to revoke the owner token making the request", async () => {
    const [own] = await env.services.database.db
      .select()
      .from(tokens)
      .where(eq(tokens.secretHash, await sha256Hex(env.owner)));
    const res = await env.call("POST", `/v1/tokens/${own!.id}/revoke`);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("CONFLICT");
    expect((await env.call("GET", "/v1/tokens")).status).toBe(200);
  });

  it("rejects a malformed id", async () => {
    const res = await env.call("POST", "/v1/tokens/not-a-token/revoke");
    expect(res.status).toBe(400);
    expect(res.body.error.fields).toEqual([expect.objectContaining({ field: "id" })]);
  });

  it("is owner-only", async () => {
    const minted = await env.call("POST", "/v1/tokens", { body: { scope: "daemon" } });
    const res = await env.call("POST", `/v1/tokens/${minted.body.token_id}/revoke`, { token: minted.body.token });
    expect(res.status).toBe(403);
    expect((await tokenRow(minted.body.token_id))!.revokedAt).toBeNull();
  });
});

describe("POST /v1/tokens/{id}/rotate", () => {
  const ownerRow = async () =>
    (
      await env.services.database.db
        .select()
        .from(tokens)
        .where(eq(tokens.secretHash, await sha256Hex(env.owner)))
    )[0]!;

  it("mints a replacement of the same kind, host and label and revokes the old token at once, with one event and no secret in it", async () => {
    const minted = await env.call("POST", "/v1/tokens", { body: { scope: "runner", host: "build-box", label: "ci runner" } });
    env.clock.advance(5);
    const { result: res, events } = await withNewEvents(env, () => env.call("POST", `/v1/tokens/${minted.body.token_id}/rotate`));
    expect(res.status).toBe(201);
    expect(res.body.token).toMatch(/^sy_runner_/);
    expect(res.body.info).toMatchObject({ id: res.body.token_id, kind: "runner", host: "build-box", label: "ci runner", revoked_at: null, live: true });
    expect(res.body.replaced).toEqual({ token_id: minted.body.token_id, revoked_at: "2026-11-21T12:00:05.000Z" });
    expect(await tokenRow(res.body.token_id)).toMatchObject({
      kind: "runner",
      host: "build-box",
      secretHash: await sha256Hex(res.body.token),
      revokedAt: null,
    });
    expect((await tokenRow(minted.body.token_id))!.revokedAt).toBe(env.clock.ms);
    expect(events).toEqual([
      expect.objectContaining({
        id: res.body.event_id,
        kind: "token_rotated",
        payload: expect.objectContaining({ token_id: res.body.token_id, replaced_token_id: minted.body.token_id, kind: "runner", grace_seconds: 0 }),
      }),
    ]);
    expect(JSON.stringify(events)).not.toContain(res.body.token);

    const old = await env.call("GET", "/v1/sessions", { token: minted.body.token });
    expect(old.status).toBe(401);
    expect(old.body.error.message).toBe("this token has been revoked");
    const reg = await env.call("POST", "/v1/sessions", { token: res.body.token, body: { name: "rw", role: "worker" } });
    expect(reg.body.session.host).toBe("build-box");
  });

  it("keeps the old token working through the grace period, listed as live until then", async () => {
    const minted = await env.call("POST", "/v1/tokens", { body: { scope: "daemon" } });
    const res = await env.call("POST", `/v1/tokens/${minted.body.token_id}/rotate`, { body: { grace_seconds: 600 } });
    expect(res.body.replaced.revoked_at).toBe("2026-11-21T12:10:00.000Z");
    expect((await env.call("GET", "/v1/crons", { token: minted.body.token })).status).toBe(200);
    const listed = (await env.call("GET", "/v1/tokens")).body.tokens.find((t: any) => t.id === minted.body.token_id);
    expect(listed).toMatchObject({ live: true, revoked_at: "2026-11-21T12:10:00.000Z" });

    env.clock.advance(599);
    expect((await env.call("GET", "/v1/crons", { token: minted.body.token })).status).toBe(200);
    env.clock.advance(1);
    expect((await env.call("GET", "/v1/crons", { token: minted.body.token })).status).toBe(401);
    expect((await env.call("GET", "/v1/crons", { token: res.body.token })).status).toBe(200);
    expect((await env.call("GET", "/v1/tokens")).body.tokens.find((t: any) => t.id === minted.body.token_id).live).toBe(false);
  });

  it("revokes a token in its grace period at once when asked", async () => {
    const minted = await env.call("POST", "/v1/tokens", { body: { scope: "daemon" } });
    await env.call("POST", `/v1/tokens/${minted.body.token_id}/rotate`, { body: { grace_seconds: 600 } });
    expect((await env.call("POST", `/v1/tokens/${minted.body.token_id}/revoke`)).status).toBe(200);
    expect((await env.call("GET", "/v1/crons", { token: minted.body.token })).status).toBe(401);
  });

  it("rotates `self`, the owner token making the request, keeping it live for the safety minute", async () => {
    const own = await ownerRow();
    const res = await env.call("POST", "/v1/tokens/self/rotate", { body: { grace_seconds: 60 } });
    expect(res.status).toBe(201);
    expect(res.body.replaced.token_id).toBe(own.id);
    expect(res.body.info.kind).toBe("owner");
    expect((await env.call("GET", "/v1/tokens")).status).toBe(200);
    env.clock.advance(60);
    expect((await env.call("GET", "/v1/tokens")).status).toBe(401);
    expect((await env.call("GET", "/v1/tokens", { token: res.body.token })).status).toBe(200);
  });

  it("refuses to rotate the calling token with less than the safety grace, so the owner cannot lock itself out", async () => {
    const own = await ownerRow();
    const before = (await env.services.database.db.select().from(tokens)).length;
    for (const [path, body] of [
      ["/v1/tokens/self/rotate", { grace_seconds: 0 }],
      ["/v1/tokens/self/rotate", undefined],
      [`/v1/tokens/${own.id}/rotate`, { grace_seconds: 59 }],
    ] as const) {
      const { result: res, events } = await withNewEvents(env, () => env.call("POST", path, body ? { body } : {}));
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe("CONFLICT");
      expect(res.body.error.message).toContain("needs at least 60");
      expect(res.body.error.hint).toContain("grace_seconds >= 60");
      expect(events).toHaveLength(0);
    }
    expect((await env.services.database.db.select().from(tokens)).length).toBe(before);
    expect((await tokenRow(own.id))!.revokedAt).toBeNull();
    expect((await env.call("GET", "/v1/tokens")).status).toBe(200);
  });

  it("does not rotate a token again during its grace period, so its life cannot be extended", async () => {
    const minted = await env.call("POST", "/v1/tokens", { body: { scope: "daemon" } });
    const first = await env.call("POST", `/v1/tokens/${minted.body.token_id}/rotate`, { body: { grace_seconds: 600 } });
    expect(first.status).toBe(201);
    const before = (await env.services.database.db.select().from(tokens)).length;
    env.clock.advance(300);
    const { result: again, events } = await withNewEvents(env, () =>
      env.call("POST", `/v1/tokens/${minted.body.token_id}/rotate`, { body: { grace_seconds: 600 } }),
    );
    expect(again.status).toBe(409);
    expect(again.body.error.message).toContain("already rotated and stops working at 2026-11-21T12:10:00.000Z");
    expect(events).toHaveLength(0);
    expect((await env.services.database.db.select().from(tokens)).length).toBe(before);
    expect((await tokenRow(minted.body.token_id))!.revokedAt).toBe(Date.parse("2026-11-21T12:10:00.000Z"));
    env.clock.advance(300);
    expect((await env.call("GET", "/v1/crons", { token: minted.body.token })).status).toBe(401);
  });

  it("rotates a session token, and the replacement acts as that session", async () => {
    const w = await registerSession(env, "worker");
    const sessionToken = (await env.call("GET", "/v1/tokens")).body.tokens.find((t: any) => t.session_id === w.session_id);
    const res = await env.call("POST", `/v1/tokens/${sessionToken.id}/rotate`);
    expect(res.body.info).toMatchObject({ kind: "session", session_id: w.session_id });
    expect((await env.call("POST", `/v1/sessions/${w.session.name}/heartbeat`, { token: w.token })).status).toBe(401);
    expect((await env.call("POST", `/v1/sessions/${w.session.name}/heartbeat`, { token: res.body.token })).status).toBe(200);
  });

  it("answers NOT_FOUND for an unknown or revoked token and changes nothing", async () => {
    const minted = await env.call("POST", "/v1/tokens", { body: { scope: "daemon" } });
    await env.call("POST", `/v1/tokens/${minted.body.token_id}/revoke`);
    const before = (await env.services.database.db.select().from(tokens)).length;
    for (const id of [minted.body.token_id, "tok_nope"]) {
      const { result: res, events } = await withNewEvents(env, () => env.call("POST", `/v1/tokens/${id}/rotate`));
      expect(res.status).toBe(404);
      expect(res.body.error).toMatchObject({ code: "NOT_FOUND", message: `no live token with id '${id}'` });
      expect(events).toHaveLength(0);
    }
    expect((await env.services.database.db.select().from(tokens)).length).toBe(before);
  });

  it("gives two concurrent rotations of one token one replacement: the other answers NOT_FOUND", async () => {
    const minted = await env.call("POST", "/v1/tokens", { body: { scope: "daemon" } });
    const before = (await env.services.database.db.select().from(tokens)).length;
    const { result, events } = await withNewEvents(env, () =>
      Promise.all([env.call("POST", `/v1/tokens/${minted.body.token_id}/rotate`), env.call("POST", `/v1/tokens/${minted.body.token_id}/rotate`)]),
    );
    expect(result.map((r) => r.status).sort()).toEqual([201, 404]);
    expect((await env.services.database.db.select().from(tokens)).length).toBe(before + 1);
    expect(events.map((e) => e.kind)).toEqual(["token_rotated"]);
  });

  it("rejects a malformed id, a bad grace period and unknown fields", async () => {
    const minted = await env.call("POST", "/v1/tokens", { body: { scope: "daemon" } });
    const bad = await env.call("POST", "/v1/tokens/not-a-token/rotate");
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields).toEqual([expect.objectContaining({ field: "id" })]);
    for (const body of [{ grace_seconds: -1 }, { grace_seconds: 1.5 }, { grace_seconds: "10m" }, { grace_seconds: 8 * 86_400 }, { grace: 10 }]) {
      const res = await env.call("POST", `/v1/tokens/${minted.body.token_id}/rotate`, { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe("VALIDATION_FAILED");
    }
    expect((await tokenRow(minted.body.token_id))!.revokedAt).toBeNull();
  });

  it("replays a retried rotation under its Idempotency-Key without the secret and without rotating twice", async () => {
    const minted = await env.call("POST", "/v1/tokens", { body: { scope: "daemon" } });
    const headers = { "Idempotency-Key": "rotate-1" };
    const first = await env.call("POST", `/v1/tokens/${minted.body.token_id}/rotate`, { headers });
    const again = await env.call("POST", `/v1/tokens/${minted.body.token_id}/rotate`, { headers });
    expect(again.status).toBe(201);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(again.body).toEqual({ ...first.body, token: null });
  });

  it("is owner-only, for `self` too", async () => {
    const minted = await env.call("POST", "/v1/tokens", { body: { scope: "daemon" } });
    const w = await registerSession(env, "worker");
    for (const token of [minted.body.token, w.token, await env.mint("runner", "h")]) {
      for (const id of [minted.body.token_id, "self"]) {
        const res = await env.call("POST", `/v1/tokens/${id}/rotate`, { token });
        expect(res.status).toBe(403);
        expect(res.body.error.code).toBe("FORBIDDEN");
      }
    }
    expect((await tokenRow(minted.body.token_id))!.revokedAt).toBeNull();
    expect((await env.call("GET", "/v1/crons", { token: minted.body.token })).status).toBe(200);
  });
});
