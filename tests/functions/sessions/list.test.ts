import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { deregister, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const names = (body: any) => body.sessions.map((s: any) => s.name);

describe("GET /v1/sessions", () => {
  it("lists active sessions oldest first and filters by role, state and repeated name", async () => {
    const w1 = await registerSession(env, "worker", { name: "w1" });
    env.clock.advance(1);
    await registerSession(env, "manager", { name: "m1" });
    env.clock.advance(1);
    await registerSession(env, "worker", { name: "w2" });
    await deregister(env, "w2");

    const all = await env.call("GET", "/v1/sessions");
    expect(all.status).toBe(200);
    expect(names(all.body)).toEqual(["w1", "m1"]);
    expect(all.body.count).toBe(2);
    expect(all.body.sessions[0].identity_token).toMatch(/^tok_/);
    expect(JSON.stringify(all.body)).not.toContain(w1.token);

    expect(names((await env.call("GET", "/v1/sessions?role=worker")).body)).toEqual(["w1"]);
    expect(names((await env.call("GET", "/v1/sessions?state=gone")).body)).toEqual(["w2"]);
    expect(names((await env.call("GET", "/v1/sessions?state=all")).body)).toEqual(["w1", "m1", "w2"]);
    expect(names((await env.call("GET", "/v1/sessions?name=m1&name=w1")).body)).toEqual(["w1", "m1"]);
    expect(names((await env.call("GET", "/v1/sessions?name=nobody")).body)).toEqual([]);
  });

  it("pages named sessions in one order across every registration of each name, and caps the names", async () => {
    // Each name registered three times over the day (a restart reuses its name), interleaved.
    for (let round = 0; round < 3; round++) {
      for (const name of ["alpha", "beta", "other"]) {
        await registerSession(env, "worker", { name });
        env.clock.advance(1);
        if (round < 2) await deregister(env, name);
      }
    }
    const walk = async (query: string) => {
      const seen: string[] = [];
      let cursor = "";
      for (let page = 0; page < 20; page++) {
        const res = await env.call("GET", `/v1/sessions?${query}&limit=2${cursor ? `&cursor=${cursor}` : ""}`);
        expect(res.status).toBe(200);
        seen.push(...res.body.sessions.map((x: any) => `${x.name}:${x.state}`));
        if (!res.body.next_cursor) return seen;
        cursor = res.body.next_cursor;
      }
      throw new Error("no last page");
    };
    const whole = ["alpha:gone", "beta:gone", "alpha:gone", "beta:gone", "alpha:active", "beta:active"];
    expect(await walk("state=all&name=beta&name=alpha&name=alpha")).toEqual(whole);
    expect(await walk("name=alpha&name=beta")).toEqual(["alpha:active", "beta:active"]);
    expect(await walk("state=gone&name=beta")).toEqual(["beta:gone", "beta:gone"]);
    // A name repeated counts once.
    const repeated = await env.call("GET", `/v1/sessions?${Array.from({ length: 150 }, () => "name=alpha").join("&")}`);
    expect(names(repeated.body)).toEqual(["alpha"]);
    const many = Array.from({ length: 101 }, (_, i) => `name=n${i}`).join("&");
    const refused = await env.call("GET", `/v1/sessions?${many}`);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({
      code: "VALIDATION_FAILED",
      fields: [expect.objectContaining({ field: "name", message: expect.stringContaining("at most 100") })],
    });
  });

  it("redacts token ids on request", async () => {
    await registerSession(env, "worker");
    const res = await env.call("GET", "/v1/sessions?redact_identity_token=true");
    expect(res.body.sessions[0].identity_token).toBe("[redacted]");
  });

  it("rejects bad filters listing each field", async () => {
    const res = await env.call("GET", "/v1/sessions?role=boss&state=sleeping");
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("VALIDATION_FAILED");
    expect(res.body.error.fields.map((f: any) => f.field).sort()).toEqual(["role", "state"]);
  });

  it("is readable by daemon, runner and session principals but not anonymously", async () => {
    const w = await registerSession(env, "worker");
    for (const token of [await env.mint("daemon"), await env.mint("runner", "h"), w.token]) {
      const res = await env.call("GET", "/v1/sessions", { token });
      expect(res.status).toBe(200);
      expect(res.body.count).toBe(1);
    }
    const anon = await env.call("GET", "/v1/sessions", { token: null });
    expect(anon.status).toBe(401);
    expect(anon.body.error).toMatchObject({ code: "UNAUTHENTICATED", message: "missing bearer token" });
  });
});
