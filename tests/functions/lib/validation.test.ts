import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tasks } from "../../../schema/tasks.ts";
import { nulPath } from "../../../functions/lib/validation.ts";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("request validation: text with a NUL character", () => {
  it("is refused with the field named, and nothing is written: the driver would read it back cut at the NUL", async () => {
    const task = await env.call("POST", "/v1/tasks", { body: { name: "nul-task", goal: "before\u0000after" } });
    expect(task.status).toBe(400);
    expect(task.body.error).toMatchObject({
      code: "VALIDATION_FAILED",
      message: "invalid json: goal: contains the NUL character (U+0000)",
      fields: [{ field: "goal", message: "contains the NUL character (U+0000)" }],
      hint: expect.stringContaining("Remove NUL characters"),
    });
    expect((await env.call("GET", "/v1/tasks/nul-task")).status).toBe(404);

    const a = await registerSession(env, "worker");
    const b = await registerSession(env, "manager");
    const sent = await env.call("POST", "/v1/messages", { token: a.token, body: { to: b.session.name, body: "line1\u0000hidden tail" } });
    expect(sent.status).toBe(400);
    expect(sent.body.error.fields).toEqual([{ field: "body", message: "contains the NUL character (U+0000)" }]);
    expect((await env.call("GET", "/v1/messages")).body.messages).toEqual([]);
    // Nested values and keys are named by their path.
    expect(nulPath({ a: [{ b: "ok" }, { c: "x\u0000y" }] })).toBe("a.1.c");
    expect(nulPath({ "k\u0000": 1 })).toBe("k\\u0000");
    expect(nulPath({ a: ["ok", 1, null, { b: true }] })).toBeNull();
    // However deep: an answer, not a stack overflow.
    let deep: unknown = "x\u0000";
    for (let i = 0; i < 20_000; i++) deep = [deep];
    expect(nulPath(deep)?.split(".")).toHaveLength(20_000);
  });

  it("passes the same text without the NUL, and text that only spells the escape", async () => {
    const ok = await env.call("POST", "/v1/tasks", { body: { name: "spelled", goal: "a literal \\u0000 is six characters" } });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect((await env.call("GET", "/v1/tasks/spelled")).body.task.goal).toBe("a literal \\u0000 is six characters");
  });

  it("accepts an agent's hook payload as sent, NUL included: it is stored as JSON, where the NUL stays an escape", async () => {
    const res = await env.call("POST", "/v1/hooks/claude", {
      body: { hook_event_name: "PostToolUse", session_id: "claude-nul", transcript_path: "/nowhere.jsonl", tool_response: { stdout: "bin\u0000ary" } },
    });
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
    // Except in the fields the route keeps as text: the session it names, paths.
    const named = await env.call("POST", "/v1/hooks/claude", {
      body: { hook_event_name: "Stop", session_id: "agent-a\u0000tail", transcript_path: "/nowhere.jsonl" },
    });
    expect(named.status).toBe(400);
    expect(named.body.error.fields).toEqual([{ field: "session_id", message: "contains the NUL character (U+0000)" }]);
  });
});

describe("an empty request body reads as {}", () => {
  const JSON_TYPE = { "Content-Type": "application/json" };

  it("on a route whose fields are all optional: no body, an empty one and whitespace all run with the schema's defaults", async () => {
    // POST /v1/admin/prune documents its body as optional; POST /v1/admin/reconcile as required.
    for (const opts of [
      {},
      { rawBody: "", headers: JSON_TYPE },
      { rawBody: " \n\t\r ", headers: JSON_TYPE },
      { rawBody: "", headers: { "Content-Type": "application/json; charset=utf-8" } },
    ]) {
      const pruned = await env.call("POST", "/v1/admin/prune", opts);
      expect(pruned.status, JSON.stringify([opts, pruned.body])).toBe(200);
      expect(pruned.body).toMatchObject({ task: null, keep_latest: 5, dry_run: false, segments_pruned: 0 });
      const reconciled = await env.call("POST", "/v1/admin/reconcile", opts);
      expect(reconciled.status, JSON.stringify([opts, reconciled.body])).toBe(200);
      expect(reconciled.body.applied).toBe(true);
    }
  });

  it("reads an empty Content-Type header as none: an empty body runs with the defaults, any other body is checked as JSON", async () => {
    // zod-openapi reads an empty header as no body at all and, on a route whose body is optional,
    // hands the handler an unvalidated {}: a bare prune then dropped the content of every segment.
    const untyped = { "Content-Type": "" };
    const empty = await env.call("POST", "/v1/admin/prune", { rawBody: "", headers: untyped });
    expect(empty.status, JSON.stringify(empty.body)).toBe(200);
    expect(empty.body).toMatchObject({ keep_latest: 5, dry_run: false });
    const given = await env.call("POST", "/v1/admin/prune", { rawBody: '{"keep_latest": 2, "dry_run": true}', headers: untyped });
    expect(given.body).toMatchObject({ keep_latest: 2, dry_run: true });
    const wrong = await env.call("POST", "/v1/admin/prune", { rawBody: '{"keep_latest": "all"}', headers: untyped });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toMatchObject({ code: "VALIDATION_FAILED", fields: [{ field: "keep_latest" }] });
    const broken = await env.call("POST", "/v1/admin/prune", { rawBody: "{", headers: untyped });
    expect(broken.body.error.code).toBe("MALFORMED_JSON");
  });

  it("still checks the principal first: a session token on an owner-only route is refused 403", async () => {
    const worker = await registerSession(env, "worker");
    for (const opts of [{}, { rawBody: "", headers: JSON_TYPE }]) {
      const res = await env.call("POST", "/v1/admin/prune", { ...opts, token: worker.token });
      expect(res.status).toBe(403);
      expect(res.body.error).toMatchObject({ code: "FORBIDDEN", hint: expect.any(String) });
    }
  });

  it("on a route with required fields is VALIDATION_FAILED naming each missing field, never MALFORMED_JSON", async () => {
    for (const opts of [{}, { rawBody: "", headers: JSON_TYPE }, { rawBody: "  ", headers: JSON_TYPE }]) {
      const res = await env.call("POST", "/v1/bindings", opts);
      expect(res.status, JSON.stringify([opts, res.body])).toBe(400);
      expect(res.body.error).toMatchObject({ code: "VALIDATION_FAILED", hint: expect.stringContaining("POST /v1/bindings") });
      expect(res.body.error.fields.map((f: { field: string }) => f.field).sort()).toEqual(["manager", "task", "worker"]);
    }
  });

  it("leaves invalid JSON and a body of another media type refused as before", async () => {
    for (const rawBody of ["{", "\u00a0", "null x"]) {
      const bad = await env.call("POST", "/v1/admin/prune", { rawBody, headers: JSON_TYPE });
      expect(bad.status).toBe(400);
      expect(bad.body.error).toMatchObject({ code: "MALFORMED_JSON", hint: expect.stringContaining("JSON") });
    }
    const text = await env.call("POST", "/v1/admin/prune", { rawBody: "", headers: { "Content-Type": "text/plain" } });
    expect(text.status).toBe(415);
    expect(text.body.error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
  });

  it("is the same request as {} to an Idempotency-Key: an empty retry replays the first answer", async () => {
    const key = { "Idempotency-Key": "empty-body-retry" };
    const first = await env.call("POST", "/v1/admin/reconcile", { body: {}, headers: key });
    const again = await env.call("POST", "/v1/admin/reconcile", { rawBody: "", headers: { ...JSON_TYPE, ...key } });
    expect(again.status).toBe(first.status);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body).toEqual(first.body);
  });
});

describe("the body's media type and encoding", () => {
  const taskNames = async () => (await env.services.database.db.select({ name: tasks.name }).from(tasks)).map((t) => t.name).sort();

  it("reads a JSON Content-Type with stray punctuation as JSON (zod-openapi alone answered 415)", async () => {
    const types = ["application/json;", "application/json ;charset=utf-8", "application/json;;", "Application/JSON; "];
    for (const [i, type] of types.entries()) {
      const res = await env.call("POST", "/v1/tasks", { rawBody: JSON.stringify({ name: `typed-${i}` }), headers: { "Content-Type": type } });
      expect(res.status, JSON.stringify([type, res.body])).toBe(201);
      expect(res.body.task.name).toBe(`typed-${i}`);
    }
    expect(await taskNames()).toEqual(types.map((_, i) => `typed-${i}`));
    // The schema still applies to such a body.
    const wrong = await env.call("POST", "/v1/admin/prune", { rawBody: '{"keep_latest": "all"}', headers: { "Content-Type": "application/json;" } });
    expect(wrong.body.error).toMatchObject({ code: "VALIDATION_FAILED", fields: [{ field: "keep_latest" }] });
  });

  it("refuses a compressed body with UNSUPPORTED_MEDIA_TYPE naming the encoding, and writes nothing", async () => {
    const body = JSON.stringify({ name: "squeezed" });
    for (const [encoding, raw] of [
      ["gzip", gzipSync(body)],
      ["br", Buffer.from(body)],
      ["GZIP, identity", gzipSync(body)],
    ] as const) {
      const res = await env.app.request("/v1/tasks", {
        method: "POST",
        headers: { Authorization: `Bearer ${env.owner}`, "Content-Type": "application/json", "Content-Encoding": encoding },
        body: raw,
      });
      const answer = await res.json();
      expect(res.status, JSON.stringify(answer)).toBe(415);
      expect(answer.error).toMatchObject({ code: "UNSUPPORTED_MEDIA_TYPE", hint: expect.stringContaining("uncompressed") });
      expect(answer.error.message).toContain(`Content-Encoding: ${encoding}`);
    }
    expect(await taskNames()).toEqual([]);
    // identity is no encoding at all.
    const plain = await env.call("POST", "/v1/tasks", { body: { name: "plain" }, headers: { "Content-Encoding": "identity" } });
    expect(plain.status).toBe(201);
    expect(await taskNames()).toEqual(["plain"]);
  });

  it("refuses a non-ASCII body declared in a charset other than UTF-8, however the charset is hidden", async () => {
    const latin1 = Buffer.from('{"name":"declared","goal":"caf\u00e9"}', "latin1");
    const utf8 = Buffer.from('{"name":"declared","goal":"caf\u00e9"}', "utf8");
    const post = (type: string, body: Uint8Array | string, headers: Record<string, string> = {}) =>
      env.app.request("/v1/tasks", {
        method: "POST",
        headers: { Authorization: `Bearer ${env.owner}`, "Content-Type": type, ...headers },
        body: body as BodyInit,
      });
    for (const type of [
      "application/json; charset=latin1",
      'application/json; charset="ISO-8859-1"',
      // A first utf-8 must not hide a second charset, nor a quoted one a header joined from two.
      "application/json; charset=utf-8; charset=latin1",
      'application/json; charset="utf-8", application/json; charset=latin1',
      "application/json; charset*=iso-8859-1''",
    ]) {
      for (const body of [latin1, utf8]) {
        const res = await post(type, body);
        const answer = await res.json();
        expect(res.status, JSON.stringify([type, answer])).toBe(415);
        expect(answer.error).toMatchObject({ code: "UNSUPPORTED_MEDIA_TYPE", hint: expect.stringContaining("UTF-8") });
        expect(answer.error.message).toContain("charset=");
      }
    }
    // Bytes that are not UTF-8 are refused whatever the header says, instead of stored as U+FFFD.
    for (const type of ["application/json", "application/json; charset=utf-8"]) {
      const res = await post(type, latin1);
      const answer = await res.json();
      expect(res.status).toBe(400);
      expect(answer.error).toMatchObject({ code: "MALFORMED_JSON", message: "the request body is not valid UTF-8" });
    }
    expect(await taskNames()).toEqual([]);
    // Plain ASCII reads the same in any ASCII-compatible charset (older clients send ISO-8859-1);
    // utf-8 however it is spelled reads its non-ASCII text as sent.
    const ascii = ["application/json; charset=us-ascii", "application/json; charset=ISO-8859-1"];
    for (const [i, type] of ascii.entries()) {
      const res = await post(type, JSON.stringify({ name: `ascii-${i}` }));
      expect(res.status, type).toBe(201);
    }
    for (const [i, type] of ["application/json; charset=UTF-8", 'application/json; charset="utf-8"', "application/json;charset=utf8"].entries()) {
      const res = await post(type, Buffer.from(JSON.stringify({ name: `utf8-${i}`, goal: "caf\u00e9 \u2713" }), "utf8"));
      expect(res.status, type).toBe(201);
      expect((await res.json()).task.goal).toBe("caf\u00e9 \u2713");
    }
    expect(await taskNames()).toEqual(["ascii-0", "ascii-1", "utf8-0", "utf8-1", "utf8-2"]);
  });

  it("reads an empty body as {} whatever encoding or charset its headers name", async () => {
    const variants: Record<string, string>[] = [{ "Content-Encoding": "gzip" }, { "Content-Type": "application/json; charset=utf-16" }];
    for (const headers of variants) {
      const res = await env.call("POST", "/v1/admin/prune", { rawBody: "", headers: { "Content-Type": "application/json", ...headers } });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toMatchObject({ keep_latest: 5, dry_run: false });
    }
  });

  it("checks the principal before the encoding: a session token on an owner-only route is refused 403", async () => {
    const worker = await registerSession(env, "worker");
    const res = await env.call("POST", "/v1/admin/prune", { rawBody: "{}", token: worker.token, headers: { "Content-Encoding": "gzip" } });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("FORBIDDEN");
    const anonymous = await env.call("POST", "/v1/tasks", { rawBody: "{}", token: null, headers: { "Content-Encoding": "gzip" } });
    expect(anonymous.status).toBe(401);
  });
});
