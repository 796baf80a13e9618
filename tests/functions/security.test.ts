import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerSession } from "../helpers/factories.ts";
import { type Caller, operationsOf, principalBeforeBody, principalListProblems, principalMatrix } from "../helpers/openapi.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";

/**
 * Route × principal matrix, driven by the published OpenAPI document so that a route added
 * later is covered without touching this file. The walk itself is in tests/helpers/openapi.ts;
 * tests/helpers/http-suite.ts runs it again over real sockets, on Node and under Deno.
 */

let env: TestEnv;
let doc: any;
let callers: Caller[];

beforeAll(async () => {
  env = await makeTestEnv();
  const session = await registerSession(env, "worker");
  callers = [
    { name: "owner", token: env.owner, kind: "owner" },
    { name: "daemon", token: await env.mint("daemon"), kind: "daemon" },
    { name: "runner", token: await env.mint("runner", "test-host"), kind: "runner" },
    { name: "session", token: session.token, kind: "session" },
    // `hook` tokens may post agent hook events and nothing else, whether minted for a host or for one session.
    { name: "hook", token: await env.mint("hook", "test-host"), kind: "hook" },
    { name: "session's hook", token: (await env.call("POST", `/v1/sessions/${session.session.name}/hook-token`)).body.token, kind: "hook" },
    { name: "no token", token: null, kind: null },
    { name: "garbage token", token: "sy_owner_not-a-real-token", kind: null },
  ];
  doc = (await env.call("GET", "/v1/openapi.json", { token: null })).body;
});
afterAll(() => env.close());

const call = (method: string, url: string, o: { token: string | null; body?: unknown; rawBody?: string }) => env.call(method, url, o);

describe("route × principal matrix", () => {
  it("covers every route, each declaring a non-empty, known principal list", () => {
    const ids = operationsOf(doc).map((o) => `${o.method} ${o.path}`);
    // A floor, not the list: it fails if the document stops exposing the routes we know.
    for (const known of ["POST /v1/sessions", "POST /v1/bindings", "GET /v1/tasks/{name}/audit", "POST /v1/tokens/{id}/revoke", "GET /healthz"]) {
      expect(ids).toContain(known);
    }
    expect(principalListProblems(doc)).toEqual([]);
  });

  it("refuses every principal a route does not list with exactly 401 or 403, and lets listed ones through", async () => {
    expect(await principalMatrix(doc, callers, call)).toEqual([]);
  });

  it("checks the principal before the body, so refused callers learn nothing from validation", async () => {
    expect(await principalBeforeBody(doc, callers, call)).toEqual([]);
  });
});
