import { createClient, type Client } from "@libsql/client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { captureStatements, type Captured } from "../../helpers/query-plans.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

// The token row a request resolves is kept while nothing commits to the database file
// (lib/auth.ts principalForRequest). These tests change the file behind the app's back, through
// a connection of their own as another process would, and check the very next request sees it.

let env: TestEnv;
let other: Client;
let seen: Captured[];
beforeEach(async () => {
  env = await makeTestEnv();
  other = createClient({ url: env.services.database.url });
  seen = captureStatements(env);
});
afterEach(() => {
  other.close();
  env.close();
});

const tokenReads = () => seen.filter((s) => /from "tokens"/.test(s.sql)).length;

async function mintDaemon(): Promise<{ token: string; id: string }> {
  const minted = await env.call("POST", "/v1/tokens", { body: { scope: "daemon" } });
  expect(minted.status).toBe(201);
  return { token: minted.body.token, id: minted.body.token_id };
}

describe("kept token rows", () => {
  it("skip the token query while nothing commits, and read it again after any commit", async () => {
    if (env.services.database.changeStamp() === null) return; // a remote test database keeps nothing
    await env.call("POST", "/v1/sessions", { body: { name: "seen", role: "worker" } });
    const { token } = await mintDaemon();
    const show = () => env.call("GET", "/v1/sessions/seen", { token });
    expect((await show()).status).toBe(200);
    const before = tokenReads();
    for (let i = 0; i < 3; i++) expect((await show()).status).toBe(200);
    expect(tokenReads()).toBe(before);
    // Any commit, even one that touches no token, and the row is read afresh.
    await other.execute("UPDATE sessions SET updated_at = updated_at + 1");
    expect((await show()).status).toBe(200);
    expect(tokenReads()).toBe(before + 1);
  });

  it("refuse a token revoked through another connection on the next request", async () => {
    await env.call("POST", "/v1/sessions", { body: { name: "seen", role: "worker" } });
    const { token, id } = await mintDaemon();
    const show = () => env.call("GET", "/v1/sessions/seen", { token });
    for (let i = 0; i < 3; i++) expect((await show()).status).toBe(200);
    await other.execute({ sql: "UPDATE tokens SET revoked_at = ? WHERE id = ?", args: [env.clock.ms, id] });
    const denied = await show();
    expect(denied.status).toBe(401);
    expect(denied.body.error).toMatchObject({ code: "UNAUTHENTICATED", message: "this token has been revoked" });
  });

  it("end a rotation's grace period by the clock, with nothing committed in between", async () => {
    await env.call("POST", "/v1/sessions", { body: { name: "seen", role: "worker" } });
    const { token, id } = await mintDaemon();
    const rotated = await env.call("POST", `/v1/tokens/${id}/rotate`, { body: { grace_seconds: 120 } });
    expect(rotated.status).toBe(201);
    const show = () => env.call("GET", "/v1/sessions/seen", { token });
    for (let i = 0; i < 3; i++) expect((await show()).status).toBe(200);
    env.clock.advance(121);
    const denied = await show();
    expect(denied.status).toBe(401);
    expect(denied.body.error.message).toBe("this token has been revoked");
  });

  it("refuse a session token once its session is deregistered elsewhere", async () => {
    const reg = await env.call("POST", "/v1/sessions", { body: { name: "me", role: "worker" } });
    expect(reg.status).toBe(201);
    const own = () => env.call("GET", "/v1/sessions/me", { token: reg.body.token });
    for (let i = 0; i < 3; i++) expect((await own()).status).toBe(200);
    await other.execute({ sql: "UPDATE sessions SET state = 'gone', gone_at = ? WHERE name = 'me'", args: [env.clock.ms] });
    const denied = await own();
    expect(denied.status).toBe(401);
    expect(denied.body.error.message).toBe("this session token belongs to a deregistered session");
  });

  it("keep the row across requests whose reads come in one batch (discover): a read commits nothing", async () => {
    if (env.services.database.changeStamp() === null) return; // a remote test database keeps nothing
    await env.call("POST", "/v1/tasks", { body: { name: "found-task", goal: "be found" } });
    const discover = () => env.call("GET", "/v1/discover?q=found");
    expect((await discover()).body.tasks).toHaveLength(1);
    // That search first fed the task's queued audit event to telemetry (a commit); the next
    // request reads the token again once, and from then on nothing commits.
    await discover();
    const before = tokenReads();
    for (let i = 0; i < 3; i++) expect((await discover()).status).toBe(200);
    expect(tokenReads()).toBe(before);
    // A write batch of this very process (on the same kept connection) is seen on the next request.
    const { token, id } = await mintDaemon();
    const asDaemon = () => env.call("GET", "/v1/discover?q=found", { token });
    for (let i = 0; i < 3; i++) expect((await asDaemon()).status).toBe(200);
    await env.services.database.client.batch([
      { sql: "SELECT count(*) FROM tokens", args: [] },
      { sql: "UPDATE tokens SET revoked_at = ? WHERE id = ?", args: [env.clock.ms, id] },
    ]);
    expect((await asDaemon()).status).toBe(401);
  });

  it("never keep a token nobody holds: each guess is looked up", async () => {
    await env.call("POST", "/v1/sessions", { body: { name: "seen", role: "worker" } });
    const before = tokenReads();
    for (let i = 0; i < 3; i++) expect((await env.call("GET", "/v1/sessions/seen", { token: "sy_guess" })).status).toBe(401);
    expect(tokenReads()).toBe(before + 3);
  });
});
