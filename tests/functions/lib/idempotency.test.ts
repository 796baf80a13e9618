import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sha256Hex } from "../../../functions/lib/ids.ts";
import { SECRET_REPLAY_MS, STALE_PENDING_MS } from "../../../functions/lib/idempotency.ts";
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

  it("replays registrations too, so a retried register does not hit NAME_TAKEN or mint a second token", async () => {
    const body = { name: "w1", role: "worker" };
    const first = await env.call("POST", "/v1/sessions", { body, ...withKey("reg-w1") });
    const again = await env.call("POST", "/v1/sessions", { body, ...withKey("reg-w1") });
    expect(again.status).toBe(201);
    expect(again.body.token).toBe(first.body.token);
    expect(await env.services.database.db.select().from(sessions)).toHaveLength(1);
    // The stored copy of the secret is replayable only briefly; then only its hash remains useful.
    env.clock.advance(SECRET_REPLAY_MS / 1000 + 1);
    const late = await env.call("POST", "/v1/sessions", { body, ...withKey("reg-w1") });
    expect(late.status).toBe(409);
    expect(JSON.stringify(late.body)).not.toContain(first.body.token);
    expect(await env.services.database.db.select().from(sessions)).toHaveLength(1);
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
      principal: `owner:${own!.id}`,
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

  it("rejects an over-long key and ignores keys on reads", async () => {
    const long = await env.call("POST", "/v1/tasks", { body: { name: "t" }, ...withKey("k".repeat(201)) });
    expect(long.status).toBe(400);
    expect(long.body.error.fields).toEqual([expect.objectContaining({ field: "Idempotency-Key" })]);
    await env.call("GET", "/v1/tasks", withKey("read"));
    expect(await env.services.database.db.select().from(idempotencyKeys)).toHaveLength(0);
  });
});
