import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeTestEnv, type TestEnv, PINNED_EPOCH } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv({ clockAt: PINNED_EPOCH });
});
afterEach(() => env.close());

describe("GET /healthz", () => {
  it("answers without a token, and ignores a bad one", async () => {
    for (const token of [null, "garbage"]) {
      const res = await env.call("GET", "/healthz", { token });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ ok: true, db: "ok", time: "2026-11-21T12:00:00.000Z" });
    }
  });

  it("answers 503 when the database is unreachable", async () => {
    env.services.database.close();
    const res = await env.call("GET", "/healthz", { token: null });
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ ok: false, db: "error" });
  });
});
