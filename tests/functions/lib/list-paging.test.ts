import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { boundPair, createTask, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

/**
 * Reads a list route page by page with `limit`, calling `between` after each page (to insert rows
 * while the walk is under way), and returns every id seen in order.
 */
async function walk(path: string, field: string, limit: number, key: (row: any) => string, between?: (page: number) => Promise<void>) {
  const seen: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 200; page++) {
    const sep = path.includes("?") ? "&" : "?";
    const res = await env.call("GET", `${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body[field].length).toBeLessThanOrEqual(limit);
    expect(res.body.count).toBe(res.body[field].length);
    seen.push(...res.body[field].map(key));
    await between?.(page);
    cursor = res.body.next_cursor;
    if (!cursor) return seen;
  }
  throw new Error("paging never ended");
}

describe("list routes page with a keyset cursor", () => {
  it("walk sessions, tasks and bindings larger than a page once each, and keep the order stable while rows are inserted", async () => {
    const before: string[] = [];
    for (let i = 0; i < 7; i++) {
      before.push((await boundPair(env)).task.task.name);
      // Several rows share a timestamp, so the id tie-break is exercised.
      if (i % 3 === 2) env.clock.advance(1);
    }
    const added: string[] = [];
    // Oldest-first lists: rows inserted mid-walk are newer, so they arrive on a later page, once.
    const tasks = await walk(
      "/v1/tasks",
      "tasks",
      3,
      (t) => t.name,
      async () => {
        added.push((await createTask(env)).task.name);
      },
    );
    expect(new Set(tasks).size).toBe(tasks.length);
    expect(tasks.slice(0, before.length)).toEqual(before);
    for (const name of added.slice(0, -1)) expect(tasks).toContain(name);

    const sessions = await walk(
      "/v1/sessions?state=all",
      "sessions",
      4,
      (s) => s.name,
      async () => {
        await registerSession(env, "worker");
      },
    );
    expect(new Set(sessions).size).toBe(sessions.length);
    expect(sessions.length).toBeGreaterThanOrEqual(14);

    const bindings = await walk("/v1/bindings", "bindings", 2, (b) => b.id);
    expect(bindings).toHaveLength(7);
    expect(new Set(bindings).size).toBe(7);
    expect((await env.call("GET", "/v1/bindings?limit=2")).body.bindings.map((b: any) => b.task)).toEqual(before.slice(0, 2));
  });

  it("walk newest-first lists (commands, messages, tokens, session events) without duplicates or gaps", async () => {
    const pair = await boundPair(env);
    const w = pair.worker.session.name;
    const m = pair.manager.session.name;
    for (let i = 0; i < 9; i++) {
      expect((await env.call("POST", "/v1/messages", { body: { to: w, from: m, body: `hello ${i}` } })).status).toBe(201);
      if (i % 4 === 0) env.clock.advance(1);
    }
    const msgs = await walk("/v1/messages", "messages", 4, (x) => x.body);
    // Pages run newest to oldest; each page reads oldest first.
    expect(new Set(msgs).size).toBe(9);
    expect(msgs.slice(0, 4)).toEqual(["hello 5", "hello 6", "hello 7", "hello 8"]);
    const inbox = await walk(`/v1/sessions/${w}/inbox`, "items", 4, (x) => x.id);
    expect(new Set(inbox).size).toBe(9);

    const tokens = await walk("/v1/tokens", "tokens", 1, (t) => t.id);
    expect(new Set(tokens).size).toBe(tokens.length);
    expect(tokens.length).toBeGreaterThanOrEqual(3);
  });

  it("refuses a cursor that is not one with a 400 and a hint, and bounds the limit", async () => {
    await createTask(env);
    for (const path of ["/v1/tasks", "/v1/sessions", "/v1/bindings", "/v1/messages", "/v1/commands", "/v1/tokens"]) {
      const bad = await env.call("GET", `${path}?cursor=not-a-cursor`);
      expect(bad.status, path).toBe(400);
      expect(bad.body.error.code).toBe("VALIDATION_FAILED");
      expect(bad.body.error.hint).toMatch(/next_cursor/);
    }
    // A cursor of another list (different arity) is refused too, not misread.
    const one = await env.call("GET", "/v1/tasks?limit=1");
    await createTask(env);
    const other = (await env.call("GET", "/v1/tasks?limit=1")).body.next_cursor as string;
    expect(other).toEqual(expect.any(String));
    expect(one.status).toBe(200);
    const session = await registerSession(env, "worker");
    const tail = await env.call("GET", `/v1/sessions/${session.session.name}/events?cursor=${other}`);
    expect(tail.status).toBe(400);
    for (const limit of [0, 501, -1]) expect((await env.call("GET", `/v1/tasks?limit=${limit}`)).status).toBe(400);
    expect((await env.call("GET", "/v1/tasks?limit=500")).status).toBe(200);
  });

  it("reads numbers in the query and path only as decimal digits, refusing 1e2, 0x10, ' 5' and '' by field", async () => {
    await createTask(env, { name: "digits" });
    const refused = async (path: string, field: string, method: "GET" | "POST" = "GET", body?: unknown) => {
      const res = await env.call(method, path, body === undefined ? {} : { body });
      expect(res.status, `${path} ${JSON.stringify(res.body)}`).toBe(400);
      expect(res.body.error.code).toBe("VALIDATION_FAILED");
      expect(res.body.error.fields).toEqual([{ field, message: expect.stringMatching(/decimal digits/) }]);
    };
    // Number(text) reads each of these as a number (100, 16, 5, 0, 10): none is what a caller typed.
    for (const raw of ["1e2", "0x10", "%205", "", "1.0e1", "+5", "5.", "1_000"]) {
      await refused(`/v1/tasks?limit=${raw}`, "limit");
      await refused(`/v1/sessions?limit=${raw}`, "limit");
    }
    await refused("/v1/tasks/digits/criteria/0x1", "id", "POST", { action: "accept", rationale: "r" });
    await refused("/v1/dashboard/stream?interval_ms=1e3", "interval_ms");
    await refused("/v1/tasks/digits/app-loop/status?stale_after_seconds=", "stale_after_seconds");
    // Given twice, or past what a number holds exactly, says so.
    const twice = await env.call("GET", "/v1/tasks?limit=5&limit=6");
    expect(twice.body.error.fields).toEqual([{ field: "limit", message: "given more than once; pass it once" }]);
    const huge = await env.call("POST", "/v1/tasks/digits/criteria/90071992547409930", { body: { action: "accept", rationale: "r" } });
    expect(huge.body.error.fields).toEqual([{ field: "id", message: expect.stringMatching(/^too large/) }]);
    const padded = await env.call("POST", "/v1/tasks/digits/criteria/0000000000000000123", { body: { action: "accept", rationale: "r" } });
    expect(padded.body.error.code, JSON.stringify(padded.body)).toBe("NOT_FOUND");
    // Plain digits are read as before, leading zeros included; a seconds field takes a fraction.
    const page = await env.call("GET", "/v1/tasks?limit=007");
    expect(page.status).toBe(200);
    expect(page.body.count).toBe(1);
    const status = await env.call("GET", "/v1/tasks/digits/app-loop/status?stale_after_seconds=0");
    expect(status.status, JSON.stringify(status.body)).toBe(200);
    expect(status.body.stale_after_seconds).toBe(0);
    const worker = await registerSession(env, "worker");
    const inbox = `/v1/sessions/${worker.session.name}/inbox`;
    const wait = await env.call("GET", `${inbox}?wait=true&timeout=0.2&interval=0.1`);
    expect(wait.status, JSON.stringify(wait.body)).toBe(200);
    await refused(`${inbox}?wait=true&timeout=.5`, "timeout");
    await refused(`${inbox}?wait=true&timeout=1e1`, "timeout");
    const fine = await env.call("GET", `${inbox}?wait=true&timeout=0.0000001&interval=0.10000000000000001`);
    expect(fine.status, JSON.stringify(fine.body)).toBe(200);
  });

  it("keeps the principal rules: a session sees only its own messages on every page, and may not list tokens", async () => {
    const a = await boundPair(env);
    const b = await boundPair(env);
    for (let i = 0; i < 5; i++) {
      await env.call("POST", "/v1/messages", { body: { to: a.worker.session.name, from: a.manager.session.name, body: `a ${i}` } });
      await env.call("POST", "/v1/messages", { body: { to: b.worker.session.name, from: b.manager.session.name, body: `b ${i}` } });
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: any = await env.call("GET", `/v1/messages?limit=2${cursor ? `&cursor=${cursor}` : ""}`, { token: a.worker.token });
      expect(res.status).toBe(200);
      seen.push(...res.body.messages.map((x: any) => x.body));
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(seen.sort()).toEqual(["a 0", "a 1", "a 2", "a 3", "a 4"]);
    expect((await env.call("GET", "/v1/tokens?limit=1", { token: a.worker.token })).status).toBe(403);
    // Another worker's inbox stays closed whatever the cursor.
    expect((await env.call("GET", `/v1/sessions/${b.worker.session.name}/inbox?limit=1`, { token: a.worker.token })).status).toBe(403);
  });
});
