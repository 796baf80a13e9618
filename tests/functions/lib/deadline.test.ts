import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_REQUEST_TIMEOUT_MS } from "../../../functions/lib/deadline.ts";
import type { Host } from "../../../functions/lib/host.ts";
import { tokens } from "../../../schema/auth.ts";
import { sessions } from "../../../schema/sessions.ts";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { codexRollout } from "../../helpers/transcripts.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the late registration of `name` has committed (the work a 504 stopped waiting for). */
async function registered(name: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const rows = await env.services.database.db.select({ name: sessions.name }).from(sessions);
    if (rows.some((r) => r.name === name)) return;
    await sleep(50);
  }
  throw new Error(`the late registration of ${name} never committed`);
}

let env: TestEnv;
/** How long the host takes to inspect a transcript: the artificially slow step of registration. */
let inspectDelayMs = 0;

beforeEach(async () => {
  env = await makeTestEnv();
  const real = env.services.host!;
  // The real host, with one probe slowed down: what a hung tmux or a slow disk looks like to the API.
  env.services.host = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop !== "inspectTranscript") return Reflect.get(target, prop, receiver);
      return async (...args: Parameters<Host["inspectTranscript"]>) => {
        await sleep(inspectDelayMs);
        return target.inspectTranscript(...args);
      };
    },
  });
  env.services.requestTimeoutMs = 150;
  inspectDelayMs = 0;
});
afterEach(() => env.close());

const countTokens = async () => (await env.services.database.db.select({ id: tokens.id }).from(tokens)).length;

/** A test hook that holds the first request that reaches it until `release`, and lets later ones through. */
function holdFirstCall() {
  let release!: () => void;
  const held = new Promise<void>((r) => {
    release = r;
  });
  let holds = 1;
  return { hold: () => (holds-- > 0 ? held : undefined), release };
}

describe("request deadline", () => {
  it("answers 504 REQUEST_TIMEOUT when a route outlives it", async () => {
    inspectDelayMs = 1500;
    const started = performance.now();
    const res = await env.call("POST", "/v1/sessions", { body: { name: "slow", role: "worker", codex_session: codexRollout(env, "slow") } });
    const took = performance.now() - started;
    expect(res.status).toBe(504);
    expect(res.body.error).toMatchObject({ code: "REQUEST_TIMEOUT" });
    expect(res.body.error.message).toContain("150 ms");
    expect(res.body.error.hint).toMatch(/Idempotency-Key/);
    expect(took).toBeLessThan(inspectDelayMs);
    await registered("slow");
  });

  it("lets the late work finish and record its Idempotency-Key, so the retry replays it instead of running twice", async () => {
    inspectDelayMs = 500;
    const body = { name: "late", role: "worker", codex_session: codexRollout(env, "late") };
    const headers = { "Idempotency-Key": "register-late" };
    const first = await env.call("POST", "/v1/sessions", { body, headers });
    expect(first.status).toBe(504);
    await registered("late");

    inspectDelayMs = 0;
    const retry = await env.call("POST", "/v1/sessions", { body, headers });
    expect(retry.status).toBe(201);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    expect(retry.body.token).toBeNull();
    const rows = await env.services.database.db.select().from(sessions);
    expect(rows.filter((r) => r.name === "late")).toHaveLength(1);
  });

  it("keeps a pending-mode route's key claimed past the 504: the retry gets 409 while it runs, then replays its one outcome", async () => {
    const minted = await env.call("POST", "/v1/tokens", { body: { scope: "daemon" } });
    const before = await countTokens();
    // The first request holds after claiming its key, well past the 150 ms deadline.
    const { hold, release } = holdFirstCall();
    env.services.hooks = { afterKeyClaimed: hold };
    const headers = { "Idempotency-Key": "rotate-late" };
    const path = `/v1/tokens/${minted.body.token_id}/rotate`;
    // With a body: the body limit replaces the Request object, which the early answer must survive.
    const body = { grace_seconds: 600 };
    const first = await env.call("POST", path, { headers, body });
    expect(first.status).toBe(504);
    expect(first.body.error.code).toBe("REQUEST_TIMEOUT");

    const during = await env.call("POST", path, { headers, body });
    expect(during.status).toBe(409);
    expect(during.body.error.code).toBe("IDEMPOTENCY_IN_PROGRESS");

    release();
    for (let i = 0; i < 200 && (await countTokens()) === before; i++) await sleep(20);
    let retry = await env.call("POST", path, { headers, body });
    // The late request records its outcome right after its commit; a retry in between still gets 409.
    for (let i = 0; i < 100 && retry.status === 409; i++) {
      await sleep(20);
      retry = await env.call("POST", path, { headers, body });
    }
    expect(retry.status).toBe(201);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    expect(retry.body.replaced).toMatchObject({ token_id: minted.body.token_id });
    expect(await countTokens()).toBe(before + 1);
  });

  it("has an atomic route held past the 504 store its response in its commit, so the retry replays the one mint", async () => {
    const before = await countTokens();
    const { hold, release } = holdFirstCall();
    env.services.hooks = { beforeKeyCommit: hold };
    const headers = { "Idempotency-Key": "mint-late" };
    const first = await env.call("POST", "/v1/tokens", { body: { scope: "daemon", label: "late" }, headers });
    expect(first.status).toBe(504);
    release();
    for (let i = 0; i < 200 && (await countTokens()) === before; i++) await sleep(20);
    const retry = await env.call("POST", "/v1/tokens", { body: { scope: "daemon", label: "late" }, headers });
    expect(retry.status).toBe(201);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    expect(retry.body.token).toBeNull();
    expect(await countTokens()).toBe(before + 1);
  });

  it("exempts long polls up to their own timeout", async () => {
    const s = await registerSession(env, "manager");
    const res = await env.call("GET", `/v1/sessions/${s.session.name}/inbox?wait=true&timeout=0.6`, { token: s.token });
    expect(res.status).toBe(200);
    expect(res.body.timed_out).toBe(true);
  });

  it("is off with requestTimeoutMs 0, and defaults to a minute", async () => {
    expect(DEFAULT_REQUEST_TIMEOUT_MS).toBe(60_000);
    env.services.requestTimeoutMs = 0;
    inspectDelayMs = 300;
    const res = await env.call("POST", "/v1/sessions", { body: { name: "patient", role: "worker", codex_session: codexRollout(env, "patient") } });
    expect(res.status).toBe(201);
  });

  it("publishes each route's deadline as x-deadline, and the 504 where one applies", async () => {
    const doc = (await env.call("GET", "/v1/openapi.json", { token: null })).body;
    expect(doc.paths["/v1/sessions"].post["x-deadline"]).toBe("default");
    expect(doc.paths["/v1/sessions"].post.responses["504"]).toBeDefined();
    expect(doc.paths["/v1/sessions/{name}/inbox"].get["x-deadline"]).toBe("long-poll:240s");
    expect(doc.paths["/v1/sessions/spawn"].post["x-deadline"]).toBe("own");
    expect(doc.paths["/v1/sessions/spawn"].post.responses["504"]).toBeUndefined();
  });
});
