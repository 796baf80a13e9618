import { request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { LibsqlError } from "@libsql/client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createApp } from "../../functions/app.ts";
import { ERROR_CODES } from "../../functions/lib/errors.ts";
import { tasks } from "../../schema/tasks.ts";
import { deregister, eventRows, registerSession } from "../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const taskRows = () => env.services.database.db.select().from(tasks);

describe("request bodies", () => {
  it("answers MALFORMED_JSON for a body that is not JSON, on every JSON route", async () => {
    for (const path of ["/v1/sessions", "/v1/tasks", "/v1/bindings", "/v1/bindings/unbind", "/v1/tokens"]) {
      const res = await env.call("POST", path, { rawBody: '{"name": "x",' });
      expect(res.status, path).toBe(400);
      expect(res.body.error.code, path).toBe("MALFORMED_JSON");
    }
    expect(await taskRows()).toHaveLength(0);
  });

  it("answers VALIDATION_FAILED for JSON that is not an object", async () => {
    const res = await env.call("POST", "/v1/tasks", { rawBody: "[1,2]" });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("VALIDATION_FAILED");
  });

  it("accepts a JSON content type with parameters", async () => {
    const res = await env.call("POST", "/v1/tasks", { body: { name: "utf8" }, headers: { "Content-Type": "application/json; charset=utf-8" } });
    expect(res.status).toBe(201);
  });

  it("answers UNSUPPORTED_MEDIA_TYPE for a non-JSON content type", async () => {
    const res = await env.call("POST", "/v1/tasks", { rawBody: '{"name":"t"}', headers: { "Content-Type": "text/plain" } });
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    expect(await taskRows()).toHaveLength(0);
  });

  it("refuses a body over services.maxBodyBytes with PAYLOAD_TOO_LARGE and writes nothing", async () => {
    const small = createApp({ ...env.services, maxBodyBytes: 64 });
    const send = (body: BodyInit) =>
      small.request("/v1/tasks", { method: "POST", headers: { Authorization: `Bearer ${env.owner}`, "Content-Type": "application/json" }, body });
    const ok = await send(JSON.stringify({ name: "fits" }));
    expect(ok.status).toBe(201);
    const big = await send(JSON.stringify({ name: "too-big", goal: "g".repeat(100) }));
    expect(big.status).toBe(413);
    expect((await big.json()).error.code).toBe("PAYLOAD_TOO_LARGE");
    // Without a Content-Length the limit must still hold while the stream is read.
    const stream = new Blob([JSON.stringify({ name: "streamed", goal: "g".repeat(100) })]).stream();
    const streamed = await small.request("/v1/tasks", {
      method: "POST",
      headers: { Authorization: `Bearer ${env.owner}`, "Content-Type": "application/json" },
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect((await taskRows()).map((t) => t.name)).toEqual(["fits"]);
  });

  it("over HTTP judges a Content-Length body by its header and counts a chunked one as it arrives", async () => {
    const small = createApp({ ...env.services, maxBodyBytes: 64 });
    const server: ServerType = await new Promise((resolve) => {
      const s = serve({ fetch: small.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
    });
    const port = (server.address() as AddressInfo).port;
    const post = (body: string, headers: Record<string, string>, method = "POST") =>
      new Promise<{ status: number; code?: string }>((resolve, reject) => {
        const req = httpRequest(
          {
            host: "127.0.0.1",
            port,
            method,
            path: "/v1/tasks",
            headers: { Authorization: `Bearer ${env.owner}`, "Content-Type": "application/json", ...headers },
          },
          (res) => {
            let text = "";
            res.on("data", (d) => (text += d));
            res.on("end", () => resolve({ status: res.statusCode!, code: text ? JSON.parse(text).error?.code : undefined }));
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    try {
      const fits = JSON.stringify({ name: "fits" });
      const big = JSON.stringify({ name: "too-big", goal: "g".repeat(100) });
      expect(await post(fits, { "Content-Length": String(Buffer.byteLength(fits)) })).toEqual({ status: 201, code: undefined });
      expect(await post(big, { "Content-Length": String(Buffer.byteLength(big)) })).toEqual({ status: 413, code: "PAYLOAD_TOO_LARGE" });
      const chunkedFits = JSON.stringify({ name: "chunked" });
      expect(await post(chunkedFits, { "Transfer-Encoding": "chunked" })).toEqual({ status: 201, code: undefined });
      expect(await post(big, { "Transfer-Encoding": "chunked" })).toEqual({ status: 413, code: "PAYLOAD_TOO_LARGE" });
      // Node's parser undoes chunked alone: a body sent with another transfer coding is refused as a compressed one is.
      expect(await post(JSON.stringify({ name: "gz-chunked" }), { "Transfer-Encoding": "gzip, chunked" })).toEqual({
        status: 415,
        code: "UNSUPPORTED_MEDIA_TYPE",
      });
      // The Node adapter drops a TRACE's body, and the limit then lets it through to the router, as before.
      expect(await post(big, { "Content-Length": String(Buffer.byteLength(big)) }, "TRACE")).toEqual({ status: 404, code: "NOT_FOUND" });
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    expect((await taskRows()).map((t) => t.name).sort()).toEqual(["chunked", "fits"]);
  });

  it("reads no chunked body before the principal check, and counts one as it is read on every route", async () => {
    const small = createApp({ ...env.services, maxBodyBytes: 64 });
    const server: ServerType = await new Promise((resolve) => {
      const s = serve({ fetch: small.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
    });
    const port = (server.address() as AddressInfo).port;
    // Sends the headers and `first`, and ends the body only when `end` is true.
    const open = (path: string, headers: Record<string, string>, first: string, end: boolean) => {
      const req = httpRequest({
        host: "127.0.0.1",
        port,
        method: "POST",
        path,
        headers: { "Content-Type": "application/json", "Transfer-Encoding": "chunked", ...headers },
      });
      const answer = new Promise<{ status: number; code?: string }>((resolve, reject) => {
        req.on("response", (res) => {
          let text = "";
          res.on("data", (d) => (text += d));
          res.on("end", () => resolve({ status: res.statusCode!, code: text ? JSON.parse(text).error?.code : undefined }));
        });
        req.on("error", reject);
      });
      req.write(first);
      if (end) req.end();
      return { req, answer };
    };
    const never = new Promise<"no answer">((resolve) => setTimeout(() => resolve("no answer"), 10_000).unref());
    try {
      // A caller without a token gets its refusal while its body is still coming: nothing waited for it.
      const anonymous = open("/v1/tasks", {}, '{"name": "never-ending", "goal": "', false);
      expect(await Promise.race([anonymous.answer, never])).toEqual({ status: 401, code: "UNAUTHENTICATED" });
      anonymous.req.destroy();
      const wrongToken = open("/v1/tasks", { Authorization: "Bearer sy_owner_0000" }, "g".repeat(200), false);
      expect(await Promise.race([wrongToken.answer, never])).toEqual({ status: 401, code: "UNAUTHENTICATED" });
      wrongToken.req.destroy();
      // Read after the check, an oversized chunked body is refused wherever it goes, MCP included.
      const big = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: { pad: "p".repeat(100) } });
      const auth = { Authorization: `Bearer ${env.owner}`, Accept: "application/json, text/event-stream" };
      expect(await open("/mcp", auth, big, true).answer).toEqual({ status: 413, code: "PAYLOAD_TOO_LARGE" });
      expect(await open("/v1/tasks", auth, JSON.stringify({ name: "too-big", goal: "g".repeat(100) }), true).answer).toEqual({
        status: 413,
        code: "PAYLOAD_TOO_LARGE",
      });
      expect(await open("/v1/tasks", auth, JSON.stringify({ name: "small" }), true).answer).toEqual({ status: 201, code: undefined });
      // A route that takes no body refuses an oversized chunked one before it runs, as it refuses
      // one with a Content-Length: the heartbeat is not written.
      const w = await registerSession(env, "worker");
      const beat = async () => (await env.call("GET", `/v1/sessions/${w.session.name}`)).body.session.last_heartbeat_at;
      const before = await beat();
      env.clock.advance(60);
      expect(await open(`/v1/sessions/${w.session.name}/heartbeat`, auth, "x".repeat(1000), true).answer).toEqual({
        status: 413,
        code: "PAYLOAD_TOO_LARGE",
      });
      expect(await beat()).toBe(before);
      // Under the limit, and with an Idempotency-Key (which hashes the body it was sent), it runs.
      expect((await open(`/v1/sessions/${w.session.name}/heartbeat`, { ...auth, "Idempotency-Key": "beat-1" }, "", true).answer).status).toBe(200);
      expect(await beat()).not.toBe(before);
    } finally {
      (server as import("node:http").Server).closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
    expect((await taskRows()).map((t) => t.name)).toEqual(["small"]);
  });

  it("refuses a body over 1 MiB by default", async () => {
    const res = await env.call("POST", "/v1/tasks", { body: { name: "huge", goal: "g".repeat(1024 * 1024 + 1) } });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(await taskRows()).toHaveLength(0);
  });
});

describe("bearer tokens", () => {
  it("says why a token was refused: missing, unknown, malformed header, revoked, deregistered session", async () => {
    const minted = await env.call("POST", "/v1/tokens", { body: { scope: "daemon" } });
    await env.call("POST", `/v1/tokens/${minted.body.token_id}/revoke`);
    const w = await registerSession(env, "worker");
    await deregister(env, w.session.name);
    const cases: Array<[string, { token?: string | null; headers?: Record<string, string> }, string]> = [
      ["missing", { token: null }, "missing bearer token"],
      ["unknown", { token: "sy_owner_0000" }, "unknown bearer token"],
      ["not bearer", { token: null, headers: { Authorization: `Basic ${env.owner}` } }, "unknown bearer token"],
      ["revoked", { token: minted.body.token }, "this token has been revoked"],
      ["session gone", { token: w.token }, "this session token belongs to a deregistered session"],
    ];
    for (const [label, opts, message] of cases) {
      const res = await env.call("GET", "/v1/sessions", opts);
      expect(res.status, label).toBe(401);
      expect(res.body.error, label).toMatchObject({ code: "UNAUTHENTICATED", message, hint: expect.any(String) });
    }
  });

  it("accepts the scheme name in any case", async () => {
    expect((await env.call("GET", "/v1/tasks", { token: null, headers: { Authorization: `bearer ${env.owner}` } })).status).toBe(200);
  });
});

describe("errors", () => {
  it("answers an unknown route with the NOT_FOUND envelope", async () => {
    const res = await env.call("GET", "/v1/nothing-here");
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ code: "NOT_FOUND", hint: expect.stringContaining("openapi.json") });
  });

  it("answers an unexpected exception with a generic 500 and logs the details", async () => {
    const logged: Array<Record<string, unknown> | undefined> = [];
    const app = createApp({ ...env.services, log: { info() {}, warn() {}, error: (_m, data) => logged.push(data) } });
    app.get("/v1/explode", () => {
      throw new Error("secret internal detail");
    });
    const res = await app.request("/v1/explode");
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({
      error: { code: "INTERNAL", message: "internal error", hint: expect.stringContaining("The server logged the details") },
    });
    expect(text).not.toContain("secret internal detail");
    expect(JSON.stringify(logged)).toContain("secret internal detail");
  });

  it("answers a database that refuses the work with 503 DATABASE_UNAVAILABLE and what to check, not a bare 500", async () => {
    const logged: string[] = [];
    const app = createApp({ ...env.services, log: { info() {}, warn() {}, error: (m, data) => logged.push(`${m} ${JSON.stringify(data)}`) } });
    // What @libsql/client throws for a database file this process may not write, or a full disk.
    const faults: Record<string, Error> = {
      readonly: new LibsqlError("attempt to write a readonly database", "SQLITE_READONLY"),
      full: new LibsqlError("database or disk is full", "SQLITE_FULL"),
      wrapped: Object.assign(new Error("batch failed"), { cause: new LibsqlError("disk I/O error", "SQLITE_IOERR_WRITE") }),
      other: new LibsqlError("UNIQUE constraint failed: x.y", "SQLITE_CONSTRAINT"),
    };
    app.get("/v1/fault/:kind", (c) => {
      throw faults[c.req.param("kind")]!;
    });
    const answers = [];
    for (const kind of ["readonly", "full", "wrapped"]) {
      const res = await app.request(`/v1/fault/${kind}`);
      answers.push({ status: res.status, ...(await res.json()).error });
    }
    expect(answers).toEqual([
      {
        status: 503,
        code: "DATABASE_UNAVAILABLE",
        message: "the database refused the work (SQLITE_READONLY): attempt to write a readonly database",
        hint: expect.stringContaining("can write the database file and its directory"),
      },
      {
        status: 503,
        code: "DATABASE_UNAVAILABLE",
        message: expect.stringContaining("(SQLITE_FULL): database or disk is full"),
        hint: expect.stringContaining("full"),
      },
      {
        status: 503,
        code: "DATABASE_UNAVAILABLE",
        message: expect.stringContaining("(SQLITE_IOERR_WRITE): disk I/O error"),
        hint: expect.stringContaining("permissions"),
      },
    ]);
    expect(logged).toHaveLength(3);
    expect(logged[0]).toContain("database fault");
    // Any other exception stays a generic 500.
    expect((await app.request("/v1/fault/other")).status).toBe(500);
  });

  it("documents the closed set of error codes in the OpenAPI document", async () => {
    const doc = await env.call("GET", "/v1/openapi.json", { token: null });
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe("3.1.0");
    expect(doc.body.components.schemas.Error.properties.error.properties.code.enum.sort()).toEqual([...ERROR_CODES].sort());
  });

  it("gives every operation a unique operationId derived from its method and path", async () => {
    const doc = (await env.call("GET", "/v1/openapi.json", { token: null })).body;
    const ops = Object.entries(doc.paths as Record<string, Record<string, { operationId?: string }>>).flatMap(([path, item]) =>
      Object.entries(item).map(([method, op]) => ({ method, path, id: op.operationId })),
    );
    expect(ops.length).toBeGreaterThan(50);
    expect(ops.filter((o) => !o.id)).toEqual([]);
    expect(new Set(ops.map((o) => o.id)).size).toBe(ops.length);
    expect(ops.find((o) => o.path === "/v1/broker/advice/{id}/approve")?.id).toBe("postBrokerAdviceByIdApprove");
    expect(ops.find((o) => o.path === "/healthz")?.id).toBe("getHealthz");
  });

  it("names its licence and the server it was fetched from", async () => {
    const res = await env.app.request("http://127.0.0.1:9999/v1/openapi.json");
    const doc = await res.json();
    expect(doc.info.license).toEqual({ name: "UNLICENSED" });
    expect(doc.servers).toEqual([{ url: "http://127.0.0.1:9999", description: expect.any(String) }]);
  });

  it("writes no events row for a refused request", async () => {
    await env.call("POST", "/v1/tasks", { token: null, body: { name: "anon" } });
    await env.call("POST", "/v1/tasks", { rawBody: "{" });
    expect(await eventRows(env)).toHaveLength(0);
  });
});
