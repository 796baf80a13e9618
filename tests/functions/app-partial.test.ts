import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPartialApp } from "../../functions/app-partial.ts";
import { groupsForPath } from "../../functions/app-routes.ts";
import { InProcessTransport } from "../../local-runner/cli/in-process-transport.ts";
import { createTask, registerSession } from "../helpers/factories.ts";
import { minimalRequest, operationsOf } from "../helpers/openapi.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";

/**
 * The CLI's in-process calls go to an app with only the route groups a path can reach. It must
 * answer exactly as the full app: same status, same body, for success, validation errors,
 * missing or wrong principals and unknown paths.
 */

let env: TestEnv;
let doc: any;
let session: { token: string; session: { name: string } };
let task: string;
beforeAll(async () => {
  env = await makeTestEnv();
  doc = (await env.call("GET", "/v1/openapi.json", { token: null })).body;
  session = await registerSession(env, "worker");
  task = (await createTask(env)).task.name;
});
afterAll(() => env.close());

interface Probe {
  method: string;
  url: string;
  token: string | null;
  body?: string;
}

/** Both answers to one request; the request id is fixed so the two can be compared byte for byte. */
async function both(p: Probe) {
  const init = () => {
    const headers: Record<string, string> = { "X-Request-Id": "same-id" };
    if (p.token) headers.Authorization = `Bearer ${p.token}`;
    if (p.body !== undefined) headers["Content-Type"] = "application/json";
    return { method: p.method, headers, body: p.body };
  };
  const path = new URL(p.url, "http://localhost").pathname;
  const groups = groupsForPath(path);
  expect(groups, `${p.method} ${p.url} maps to no group`).not.toBeNull();
  const partial = await createPartialApp(env.services, groups!);
  const a = await partial.request(p.url, init());
  const b = await env.app.request(p.url, init());
  return {
    partial: { status: a.status, body: await a.text(), requestId: a.headers.get("X-Request-Id") },
    full: { status: b.status, body: await b.text(), requestId: b.headers.get("X-Request-Id") },
  };
}

describe("the partial app the CLI builds", () => {
  it("answers every documented read like the full app, as the owner, a session and no one", async () => {
    const reads = operationsOf(doc).filter((op) => op.method === "GET" && op.path.startsWith("/v1/") && op.path !== "/v1/openapi.json");
    expect(reads.length).toBeGreaterThan(30);
    let ok = 0;
    for (const op of reads) {
      const { url } = minimalRequest(doc, op);
      for (const token of [env.owner, session.token, null]) {
        const { partial, full } = await both({ method: "GET", url, token });
        expect(partial, `GET ${url}`).toEqual(full);
        if (full.status === 200) ok += 1;
      }
    }
    // Not only errors: many reads succeed, so the bodies compared carry data.
    expect(ok).toBeGreaterThan(20);
  }, 120_000);

  it("answers reads with data the same: the registered session and the created task", async () => {
    for (const url of [
      "/v1/sessions",
      `/v1/sessions/${session.session.name}`,
      "/v1/tasks",
      `/v1/tasks/${task}`,
      `/v1/tasks/${task}/audit`,
      "/v1/sessions?limit=1",
    ]) {
      const { partial, full } = await both({ method: "GET", url, token: env.owner });
      expect(full.status, url).toBe(200);
      expect(partial, url).toEqual(full);
    }
    const { full } = await both({ method: "GET", url: "/v1/sessions", token: env.owner });
    expect(JSON.parse(full.body).sessions.map((s: { name: string }) => s.name)).toContain(session.session.name);
  });

  it("rejects every documented write alike without writing: a malformed body, no token", async () => {
    const writes = operationsOf(doc).filter((op) => op.method === "POST" && op.path.startsWith("/v1/"));
    expect(writes.length).toBeGreaterThan(30);
    for (const op of writes) {
      const { url } = minimalRequest(doc, op);
      for (const probe of [
        { method: "POST", url, token: env.owner, body: '{"unterminated": ' },
        { method: "POST", url, token: null, body: "{}" },
      ]) {
        const { partial, full } = await both(probe);
        expect(full.status, `POST ${url}`).toBeGreaterThanOrEqual(400);
        expect(partial, `POST ${url}`).toEqual(full);
      }
    }
  }, 120_000);

  it("answers an unknown path under a known group like the full app (404 envelope)", async () => {
    for (const url of ["/v1/sessions/a/b/c", "/v1/tasks/x/no-such-thing"]) {
      const groups = groupsForPath(url);
      // Such a path reaches no group at all, so the transport falls back to the full app.
      expect(groups, url).toBeNull();
    }
    const { partial, full } = await both({ method: "DELETE", url: `/v1/sessions/${session.session.name}`, token: env.owner });
    expect(full.status).toBe(404);
    expect(partial).toEqual(full);
  });
});

describe("InProcessTransport", () => {
  it("sends the CLI's requests to the right groups and falls back to the full app for the rest", async () => {
    const transport = new InProcessTransport(env.services);
    const cases = [
      { method: "GET" as const, path: "/sessions" },
      { method: "GET" as const, path: `/tasks/${task}` },
      { method: "GET" as const, path: "/tasks", query: { limit: 1 } },
      { method: "GET" as const, path: "/openapi.json" },
      { method: "GET" as const, path: "/no-such-route" },
      { method: "POST" as const, path: "/tasks", body: { goal: "no name" } },
    ];
    for (const req of cases) {
      const got = await transport.send(req);
      const q = req.query ? `?${new URLSearchParams(Object.entries(req.query).map(([k, v]) => [k, String(v)]))}` : "";
      const want = await env.call(req.method, `/v1${req.path}${q}`, { body: req.body });
      expect(got.status, req.path).toBe(want.status);
      expect(got.body, req.path).toEqual(want.body);
    }
  });
});
