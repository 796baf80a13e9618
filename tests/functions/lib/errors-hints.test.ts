import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HOST_ERROR_CODES, HostError } from "../../../functions/lib/host.ts";
import { hostErrorToApi } from "../../../functions/lib/local.ts";
import { ApiError } from "../../../functions/lib/errors.ts";
import { createTask, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const JSON_TYPE = { "Content-Type": "application/json" };

/** The refusal's envelope, checked to carry a code, a message and a hint that says something. */
function refusal(res: { status: number; body: any }, status: number, code: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(res.body.error.message).toEqual(expect.any(String));
  expect(typeof res.body.error.hint, JSON.stringify(res.body)).toBe("string");
  expect(res.body.error.hint.trim().length, JSON.stringify(res.body)).toBeGreaterThan(10);
  return res.body.error as { code: string; message: string; hint: string; fields?: Array<{ field: string }> };
}

describe("every refusal carries a hint", () => {
  it("names a route with a path parameter as /v1/openapi.json spells it, so the hint can be looked up there", async () => {
    const doc = (await env.call("GET", "/v1/openapi.json")).body;
    const bad = refusal(await env.call("GET", "/v1/tasks/x/replay?format=bogus"), 400, "VALIDATION_FAILED");
    expect(bad.hint).toContain("GET /v1/tasks/{name}/replay");
    expect(Object.keys(doc.paths)).toContain("/v1/tasks/{name}/replay");
    const worker = await registerSession(env, "worker");
    const denied = refusal(await env.call("POST", "/v1/tasks/x/stop", { token: worker.token, body: {} }), 403, "FORBIDDEN");
    expect(`${denied.message} ${denied.hint}`).toContain("/v1/tasks/{name}/stop");
    expect(`${denied.message} ${denied.hint}`).not.toContain(":name");
  });

  it("from the framework and the shell: unknown route or method, bad JSON, wrong media type, too large, no or unknown token", async () => {
    expect(refusal(await env.call("GET", "/v1/no-such-route"), 404, "NOT_FOUND").hint).toContain("/v1/openapi.json");
    // A method the path does not have is answered like an unknown route.
    expect(refusal(await env.call("DELETE", "/v1/tasks"), 404, "NOT_FOUND").hint).toContain("methods");
    expect(refusal(await env.call("POST", "/v1/tasks", { rawBody: "{", headers: JSON_TYPE }), 400, "MALFORMED_JSON").hint).toContain("application/json");
    expect(
      refusal(await env.call("POST", "/v1/tasks", { rawBody: "name=x", headers: { "Content-Type": "text/plain" } }), 415, "UNSUPPORTED_MEDIA_TYPE").hint,
    ).toContain("application/json");
    const big = `{"name":"${"x".repeat(1024 * 1024)}"}`;
    refusal(await env.call("POST", "/v1/tasks", { rawBody: big, headers: JSON_TYPE }), 413, "PAYLOAD_TOO_LARGE");
    expect(refusal(await env.call("GET", "/v1/sessions", { token: null }), 401, "UNAUTHENTICATED").hint).toContain("Authorization");
    refusal(await env.call("GET", "/v1/sessions", { token: "sy_owner_0000000000000000000000000000000000000000" }), 401, "UNAUTHENTICATED");
  });

  it("from validation, a wrong principal, a missing name and a conflict", async () => {
    const invalid = refusal(await env.call("POST", "/v1/tasks", { body: { name: 42 } }), 400, "VALIDATION_FAILED");
    expect(invalid.hint).toContain("POST /v1/tasks");
    expect(invalid.fields?.map((f) => f.field)).toEqual(["name"]);
    const worker = await registerSession(env, "worker");
    expect(refusal(await env.call("POST", "/v1/admin/prune", { token: worker.token, body: {} }), 403, "FORBIDDEN").hint).toContain("owner");
    expect(refusal(await env.call("GET", "/v1/tasks/no-such-task"), 404, "NOT_FOUND").hint).toContain("switchyard tasks --create no-such-task");
    const task = await createTask(env);
    refusal(await env.call("POST", "/v1/tasks", { body: { name: task.task.name, goal: "again" } }), 409, "NAME_TAKEN");
  });

  it("from the refusals that had none: a task depending on itself or twice, a claim released twice, an overlong Idempotency-Key", async () => {
    const a = (await createTask(env)).task.name;
    const b = (await createTask(env)).task.name;
    const self = refusal(await env.call("POST", `/v1/tasks/${a}/depends`, { body: { on: a } }), 400, "VALIDATION_FAILED");
    expect(self.hint).toContain("switchyard task depend");
    expect((await env.call("POST", `/v1/tasks/${a}/depends`, { body: { on: b } })).status).toBe(201);
    expect(refusal(await env.call("POST", `/v1/tasks/${a}/depends`, { body: { on: b } }), 409, "CONFLICT").hint).toContain("switchyard blocked");

    const worker = await registerSession(env, "worker");
    const claim = await env.call("POST", "/v1/claims", { body: { path: "src/**", session: worker.session.name, ttl_seconds: 600 } });
    expect(claim.status, JSON.stringify(claim.body)).toBe(201);
    expect((await env.call("POST", `/v1/claims/${claim.body.claim_id}/release`, { body: {} })).status).toBe(200);
    expect(refusal(await env.call("POST", `/v1/claims/${claim.body.claim_id}/release`, { body: {} }), 409, "CONFLICT").hint).toContain("switchyard claim list");

    const longKey = { "Idempotency-Key": "k".repeat(201) };
    const keyed = refusal(await env.call("POST", "/v1/tasks", { body: { name: "keyed", goal: "g" }, headers: longKey }), 400, "VALIDATION_FAILED");
    expect(keyed.hint).toContain("200 characters");
  });

  it("is required in the published Error schema", async () => {
    const doc = await env.call("GET", "/v1/openapi.json", { token: null });
    expect(doc.body.components.schemas.Error.properties.error.required).toEqual(expect.arrayContaining(["code", "message", "hint"]));
  });

  it("is given to a host failure that brought none of its own", () => {
    for (const code of HOST_ERROR_CODES) {
      const api = hostErrorToApi(new HostError(code, `${code} happened`));
      expect(api).toBeInstanceOf(ApiError);
      expect((api as ApiError).hint.length, code).toBeGreaterThan(10);
    }
    expect((hostErrorToApi(new HostError("COMMAND_FAILED", "x", "its own hint")) as ApiError).hint).toBe("its own hint");
  });
});
