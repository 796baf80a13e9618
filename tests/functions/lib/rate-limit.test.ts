import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_RATE_LIMIT, RateLimiter } from "../../../functions/lib/rate-limit.ts";
import { createTask, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

describe("RateLimiter", () => {
  it("allows a burst, then one call per refill interval, and says how long to wait", () => {
    const limiter = new RateLimiter();
    const limit = { burst: 3, perMinute: 60 };
    const t0 = 1_000_000;
    expect([0, 1, 2].map(() => limiter.take("a", limit, t0))).toEqual([0, 0, 0]);
    expect(limiter.take("a", limit, t0)).toBe(1000);
    expect(limiter.take("a", limit, t0 + 400)).toBe(600);
    expect(limiter.take("a", limit, t0 + 1000)).toBe(0);
    expect(limiter.take("a", limit, t0 + 1000)).toBe(1000);
    // Other keys have their own buckets; a long pause refills up to the burst, never past it.
    expect(limiter.take("b", limit, t0)).toBe(0);
    expect([0, 1, 2, 3].map(() => limiter.take("a", limit, t0 + 3_600_000))).toEqual([0, 0, 0, 1000]);
  });

  it("does not refill when the clock goes back", () => {
    const limiter = new RateLimiter();
    const limit = { burst: 1, perMinute: 60 };
    expect(limiter.take("a", limit, 10_000)).toBe(0);
    expect(limiter.take("a", limit, 5_000)).toBeGreaterThan(0);
    expect(limiter.take("a", limit, 10_999)).toBeGreaterThan(0);
    expect(limiter.take("a", limit, 11_000)).toBe(0);
  });
});

describe("rate limits on expensive routes", () => {
  let env: TestEnv;
  beforeEach(async () => {
    env = await makeTestEnv({ host: null });
    env.services.rateLimit = { burst: 3, perMinute: 60 };
  });
  afterEach(() => env.close());

  it("answers 429 RATE_LIMITED with Retry-After once a token's burst is spent, per token and per route, until it refills", async () => {
    const task = await createTask(env);
    const audit = `/v1/tasks/${task.task.name}/audit`;
    for (let i = 0; i < 3; i++) expect((await env.call("GET", audit)).status).toBe(200);
    const limited = await env.call("GET", audit);
    expect(limited.status).toBe(429);
    expect(limited.headers.get("Retry-After")).toBe("1");
    expect(limited.body.error).toMatchObject({ code: "RATE_LIMITED" });
    expect(limited.body.error.message).toContain("GET /tasks/{name}/audit");
    expect(limited.body.error.hint).toMatch(/Retry after 1 s/);

    // Another token, another expensive route, and a cheap route are not affected.
    const daemon = await env.mint("daemon");
    expect((await env.call("GET", audit, { token: daemon })).status).toBe(200);
    expect((await env.call("GET", "/v1/discover?q=x")).status).toBe(200);
    for (let i = 0; i < 10; i++) expect((await env.call("GET", "/v1/tasks")).status).toBe(200);

    env.clock.advance(1);
    expect((await env.call("GET", audit)).status).toBe(200);
    expect((await env.call("GET", audit)).status).toBe(429);
  });

  it("checks the principal first: a refused caller gets 401/403 and spends nothing", async () => {
    const task = await createTask(env);
    const audit = `/v1/tasks/${task.task.name}/audit`;
    const session = await registerSession(env, "worker");
    for (let i = 0; i < 5; i++) {
      expect((await env.call("GET", audit, { token: session.token })).status).toBe(403);
      expect((await env.call("GET", audit, { token: null })).status).toBe(401);
    }
    for (let i = 0; i < 3; i++) expect((await env.call("GET", audit)).status).toBe(200);
  });

  it("charges an inbox read only when it waits (a long poll)", async () => {
    const s = await registerSession(env, "manager");
    const inbox = `/v1/sessions/${s.session.name}/inbox`;
    for (let i = 0; i < 6; i++) expect((await env.call("GET", inbox, { token: s.token })).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      const waited = await env.call("GET", `${inbox}?wait=true&timeout=0.01`, { token: s.token });
      expect(waited.status).toBe(200);
      expect(waited.body.timed_out).toBe(true);
    }
    const limited = await env.call("POST", `${inbox}/consume`, { token: s.token, body: { wait: true, timeout: 0.01 } });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe("RATE_LIMITED");
    expect((await env.call("POST", `${inbox}/consume`, { token: s.token, body: {} })).status).toBe(200);
  });

  it("holds a rate-limited mutation before its Idempotency-Key is claimed, so a later retry runs it", async () => {
    env.services.rateLimit = { burst: 1, perMinute: 60 };
    const daemon = await env.mint("daemon");
    expect((await env.call("POST", "/v1/crons/reconcile", { token: daemon })).status).toBe(200);
    const headers = { "Idempotency-Key": "tick-1" };
    const limited = await env.call("POST", "/v1/crons/reconcile", { token: daemon, headers });
    expect(limited.status).toBe(429);
    env.clock.advance(1);
    const retried = await env.call("POST", "/v1/crons/reconcile", { token: daemon, headers });
    expect(retried.status).toBe(200);
    expect(retried.headers.get("Idempotent-Replayed")).toBeNull();
    expect(retried.body.state).toBe("succeeded");
  });

  it("is off with rateLimit null, and the default is generous", async () => {
    env.services.rateLimit = null;
    const task = await createTask(env);
    for (let i = 0; i < 20; i++) expect((await env.call("GET", `/v1/tasks/${task.task.name}/audit`)).status).toBe(200);
    expect(DEFAULT_RATE_LIMIT.burst).toBeGreaterThanOrEqual(100);
    env.services.rateLimit = undefined;
    for (let i = 0; i < DEFAULT_RATE_LIMIT.burst; i++) expect((await env.call("GET", `/v1/tasks/${task.task.name}/audit`)).status).toBe(200);
    expect((await env.call("GET", `/v1/tasks/${task.task.name}/audit`)).status).toBe(429);
  });

  it("publishes x-rate-limited and the 429 with Retry-After on expensive routes only", async () => {
    const doc = (await env.call("GET", "/v1/openapi.json", { token: null })).body;
    const limited = Object.entries<any>(doc.paths).flatMap(([path, item]) =>
      Object.entries<any>(item)
        .filter(([, op]) => op["x-rate-limited"])
        .map(([m]) => `${m.toUpperCase()} ${path}`),
    );
    for (const route of [
      "POST /v1/tasks/{name}/cycle",
      "POST /v1/sessions/{name}/ingest",
      "GET /v1/discover",
      "POST /v1/sessions/spawn",
      "POST /v1/broker/tick",
      "POST /v1/crons/{name}",
      // The hooks merge's expensive routes: history rebuilt from many tables, files written or read, a stream held open.
      "GET /v1/tasks/{name}/replay",
      "POST /v1/tasks/{name}/export",
      "GET /v1/telemetry",
      "POST /v1/tasks/{name}/transcript-capture",
      "GET /v1/dashboard/stream",
      "GET /v1/admin/doctor-self",
    ]) {
      expect(limited).toContain(route);
    }
    expect(limited).not.toContain("GET /v1/tasks");
    // Every tool call of an agent posts a hook event; limiting them would drop the record.
    expect(limited.filter((r) => r.startsWith("POST /v1/hooks/"))).toEqual([]);
    expect(doc.paths["/v1/dashboard/stream"].get["x-deadline"]).toBe("own");
    const cycle = doc.paths["/v1/tasks/{name}/cycle"].post;
    expect(cycle.responses["429"].headers["Retry-After"]).toBeDefined();
    expect(doc.paths["/v1/tasks"].get.responses["429"]).toBeUndefined();
  });
});
