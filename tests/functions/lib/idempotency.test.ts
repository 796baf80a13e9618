import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sha256Hex } from "../../../functions/lib/ids.ts";
import { MAX_KEYS_PER_PRINCIPAL, STALE_PENDING_MS } from "../../../functions/lib/idempotency.ts";
import { idempotencyKeys, tokens } from "../../../schema/auth.ts";
import { sessions } from "../../../schema/sessions.ts";
import { tasks } from "../../../schema/tasks.ts";
import { eventRows } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const withKey = (key: string, token?: string) => ({ headers: { "Idempotency-Key": key }, ...(token ? { token } : {}) });
const taskNames = async () => (await env.services.database.db.select().from(tasks)).map((t) => t.name).sort();

describe("Idempotency-Key", () => {
  it("replays the stored response for the same key and body without writing again", async () => {
    const first = await env.call("POST", "/v1/tasks", { body: { name: "once", goal: "g" }, ...withKey("k-1") });
    expect(first.status).toBe(201);
    expect(first.headers.get("Idempotent-Replayed")).toBeNull();
    env.clock.advance(5);
    const again = await env.call("POST", "/v1/tasks", { body: { name: "once", goal: "g" }, ...withKey("k-1") });
    expect(again.status).toBe(201);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(again.body).toEqual(first.body);
    expect(await taskNames()).toEqual(["once"]);
    expect(await eventRows(env)).toHaveLength(1);
  });

  it("replays registrations too (no NAME_TAKEN, no second token), but never the secret: it is shown once", async () => {
    const body = { name: "w1", role: "worker" };
    const first = await env.call("POST", "/v1/sessions", { body, ...withKey("reg-w1") });
    expect(first.body.token).toMatch(/^sy_session_/);
    const again = await env.call("POST", "/v1/sessions", { body, ...withKey("reg-w1") });
    expect(again.status).toBe(201);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(again.headers.get("Idempotent-Secrets-Withheld")).toBe("/token");
    expect(again.body).toEqual({ ...first.body, token: null });
    expect(await env.services.database.db.select().from(sessions)).toHaveLength(1);
    expect(await env.services.database.db.select().from(tokens).where(eq(tokens.kind, "session"))).toHaveLength(1);
  });

  it("stores no secret: the stored response of a registration or a token mint holds neither the secret nor anything that starts like one", async () => {
    const reg = await env.call("POST", "/v1/sessions", { body: { name: "w2", role: "worker" }, ...withKey("reg-w2") });
    const mint = await env.call("POST", "/v1/tokens", { body: { scope: "runner", host: "h1" }, ...withKey("mint-1") });
    expect(mint.status).toBe(201);
    const rows = await env.services.database.db.select().from(idempotencyKeys);
    expect(rows.map((r) => [r.key, r.state, r.secretsWithheld])).toEqual([
      ["reg-w2", "done", "/token"],
      ["mint-1", "done", "/token"],
    ]);
    const stored = JSON.stringify(rows);
    expect(stored).not.toContain(reg.body.token);
    expect(stored).not.toContain(mint.body.token);
    expect(stored).not.toMatch(/sy_[a-z]+_[0-9a-f]{16}/);
    const replay = await env.call("POST", "/v1/tokens", { body: { scope: "runner", host: "h1" }, ...withKey("mint-1") });
    expect(replay.body).toMatchObject({ token_id: mint.body.token_id, token: null });
  });

  it("keeps a key to the token that sent it: a second runner token of the host (minted after the first was revoked) never sees the first's response", async () => {
    const first = await env.mint("runner", "build-box");
    const body = { name: "rw", role: "worker" };
    const a = await env.call("POST", "/v1/sessions", { token: first, body, ...withKey("reg-rw") });
    expect(a.status).toBe(201);
    const [own] = await env.services.database.db
      .select()
      .from(tokens)
      .where(eq(tokens.secretHash, await sha256Hex(first)));
    expect((await env.call("POST", `/v1/tokens/${own!.id}/revoke`)).status).toBe(200);
    const second = await env.mint("runner", "build-box");
    const b = await env.call("POST", "/v1/sessions", { token: second, body, ...withKey("reg-rw") });
    expect(b.status).toBe(201);
    expect(b.headers.get("Idempotent-Replayed")).toBeNull();
    // It ran itself: the same agent registered again, with a token of its own.
    expect(b.body.session_id).toBe(a.body.session_id);
    expect(b.body.token).toMatch(/^sy_session_/);
    expect(b.body.token).not.toBe(a.body.token);
    expect(JSON.stringify(b.body)).not.toContain(a.body.token);
  });

  it("refuses the same key with a different body or path (IDEMPOTENCY_MISMATCH)", async () => {
    await env.call("POST", "/v1/tasks", { body: { name: "a" }, ...withKey("k-2") });
    const otherBody = await env.call("POST", "/v1/tasks", { body: { name: "b" }, ...withKey("k-2") });
    expect(otherBody.status).toBe(422);
    expect(otherBody.body.error.code).toBe("IDEMPOTENCY_MISMATCH");
    const otherPath = await env.call("POST", "/v1/sessions", { body: { name: "a" }, ...withKey("k-2") });
    expect(otherPath.status).toBe(422);
    expect(otherPath.body.error.code).toBe("IDEMPOTENCY_MISMATCH");
    expect(await taskNames()).toEqual(["a"]);
    expect(await env.services.database.db.select().from(sessions)).toHaveLength(0);
  });

  it("does not burn a key on a failed request: the corrected retry runs", async () => {
    const invalid = await env.call("POST", "/v1/tasks", { body: { name: "bad name" }, ...withKey("k-3") });
    expect(invalid.status).toBe(400);
    await env.call("POST", "/v1/tasks", { body: { name: "taken" } });
    const conflict = await env.call("POST", "/v1/tasks", { body: { name: "taken" }, ...withKey("k-3") });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe("NAME_TAKEN");
    const fixed = await env.call("POST", "/v1/tasks", { body: { name: "fixed" }, ...withKey("k-3") });
    expect(fixed.status).toBe(201);
    expect(fixed.headers.get("Idempotent-Replayed")).toBeNull();
    expect(await taskNames()).toEqual(["fixed", "taken"]);
  });

  it("does not burn a key on a refused principal", async () => {
    expect((await env.call("POST", "/v1/tasks", { body: { name: "t" }, ...withKey("k-4", "garbage") })).status).toBe(401);
    expect((await env.call("POST", "/v1/tasks", { body: { name: "t" }, ...withKey("k-4", await env.mint("daemon")) })).status).toBe(403);
    expect((await env.call("POST", "/v1/tasks", { body: { name: "t" }, ...withKey("k-4") })).status).toBe(201);
    expect(await env.services.database.db.select().from(idempotencyKeys)).toEqual([expect.objectContaining({ key: "k-4", state: "done" })]);
  });

  it("scopes keys to the calling principal", async () => {
    const secondOwner = await env.mint("owner");
    expect((await env.call("POST", "/v1/tasks", { body: { name: "mine" }, ...withKey("shared") })).status).toBe(201);
    const theirs = await env.call("POST", "/v1/tasks", { body: { name: "theirs" }, ...withKey("shared", secondOwner) });
    expect(theirs.status).toBe(201);
    expect(theirs.headers.get("Idempotent-Replayed")).toBeNull();
    expect(await taskNames()).toEqual(["mine", "theirs"]);
  });

  it("answers IDEMPOTENCY_IN_PROGRESS while the first request with the key is still running", async () => {
    const body = JSON.stringify({ name: "slow" });
    const [own] = await env.services.database.db
      .select()
      .from(tokens)
      .where(eq(tokens.secretHash, await sha256Hex(env.owner)));
    await env.services.database.db.insert(idempotencyKeys).values({
      principal: `token:${own!.id}`,
      key: "k-5",
      method: "POST",
      path: "/v1/tasks",
      requestHash: await sha256Hex(`POST /v1/tasks\n${body}`),
      state: "pending",
      createdAt: env.clock.ms,
    });
    const res = await env.call("POST", "/v1/tasks", { rawBody: body, ...withKey("k-5") });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("IDEMPOTENCY_IN_PROGRESS");
    expect(await taskNames()).toEqual([]);

    // The first request's process died without an outcome: once the key is stale a retry runs.
    env.clock.advance(STALE_PENDING_MS / 1000 + 1);
    const retry = await env.call("POST", "/v1/tasks", { rawBody: body, ...withKey("k-5") });
    expect(retry.status).toBe(201);
    expect(await taskNames()).toEqual(["slow"]);
    const replay = await env.call("POST", "/v1/tasks", { rawBody: body, ...withKey("k-5") });
    expect(replay.headers.get("Idempotent-Replayed")).toBe("true");
  });

  it("keeps at most MAX_KEYS_PER_PRINCIPAL keys per token, dropping the oldest", async () => {
    const [own] = await env.services.database.db
      .select()
      .from(tokens)
      .where(eq(tokens.secretHash, await sha256Hex(env.owner)));
    const principal = `token:${own!.id}`;
    const old = Array.from({ length: MAX_KEYS_PER_PRINCIPAL }, (_, i) => ({
      principal,
      key: `old-${i}`,
      method: "POST",
      path: "/v1/tasks",
      requestHash: "x",
      state: "done" as const,
      statusCode: 201,
      responseBody: "{}",
      createdAt: env.clock.ms - 1_000_000 + i,
    }));
    for (let i = 0; i < old.length; i += 100) await env.services.database.db.insert(idempotencyKeys).values(old.slice(i, i + 100));
    expect((await env.call("POST", "/v1/tasks", { body: { name: "newest" }, ...withKey("new-1") })).status).toBe(201);
    const keys = (await env.services.database.db.select().from(idempotencyKeys).where(eq(idempotencyKeys.principal, principal))).map((r) => r.key);
    expect(keys).toHaveLength(MAX_KEYS_PER_PRINCIPAL);
    expect(keys).toContain("new-1");
    expect(keys).not.toContain("old-0");
    expect(keys).toContain("old-1");
  });

  it("rejects an over-long key and ignores keys on reads", async () => {
    const long = await env.call("POST", "/v1/tasks", { body: { name: "t" }, ...withKey("k".repeat(201)) });
    expect(long.status).toBe(400);
    expect(long.body.error.fields).toEqual([expect.objectContaining({ field: "Idempotency-Key" })]);
    await env.call("GET", "/v1/tasks", withKey("read"));
    expect(await env.services.database.db.select().from(idempotencyKeys)).toHaveLength(0);
  });
});
