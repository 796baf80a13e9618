import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../functions/lib/errors.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";

/**
 * Hostile but well-formed HTTP input against every documented route, read from the OpenAPI
 * document so later routes are included: each answer must be a 4xx/2xx, and every error must
 * use the envelope with a code from the closed set (env.call already fails on any 500).
 */

const ODD_SEGMENTS = ["%00", "a".repeat(300), "%E2%98%83", "..", "%2F", "a%20b", "-", "tok_%00"];
const ODD_QUERIES = [
  "?state=active&state=gone",
  "?limit=-1",
  "?limit=1e3",
  "?limit=99999999999999999999",
  "?role=",
  "?name=",
  "?q=%00",
  "?include_content=yes",
  "?all=",
];
const ODD_BODIES = ['{"name":"\\u0000","role":"worker","task":1e400,"scope":"owner"}', '{"name":{"$gt":""}}', "true", '"text"', "{}"];

let env: TestEnv;
let routes: Array<{ method: string; path: string }>;
beforeAll(async () => {
  env = await makeTestEnv();
  const doc = (await env.call("GET", "/v1/openapi.json", { token: null })).body;
  routes = Object.entries<any>(doc.paths).flatMap(([path, item]) => Object.keys(item).map((m) => ({ method: m.toUpperCase(), path })));
});
afterAll(() => env.close());

describe("odd input on every route", () => {
  it("never answers 5xx and always uses a known error code", async () => {
    const problems: string[] = [];
    let sent = 0;
    const check = async (method: string, url: string, rawBody?: string) => {
      sent++;
      const res = await env.call(method, url, rawBody === undefined ? {} : { rawBody });
      if (res.status >= 500) problems.push(`${method} ${url}: ${res.status}`);
      else if (res.status >= 400 && !ERROR_CODES.includes(res.body?.error?.code)) problems.push(`${method} ${url}: ${res.status} without an error envelope`);
    };
    for (const { method, path } of routes) {
      const bodies = method === "GET" ? [undefined] : ODD_BODIES;
      for (const segment of ODD_SEGMENTS) for (const body of bodies) await check(method, path.replace(/\{[^}]+\}/g, segment), body);
      for (const query of ODD_QUERIES) await check(method, path.replace(/\{[^}]+\}/g, "x1") + query);
    }
    expect(sent).toBeGreaterThan(100);
    expect(problems).toEqual([]);
  });
});
