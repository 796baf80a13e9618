import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DISPATCH_PLUGINS } from "../../../functions/executors.ts";
import { makeCtx } from "../../../functions/lib/ctx.ts";
import { dispatchPass } from "../../../functions/queue/dispatch-pass.ts";
import { createCommand } from "../../../functions/queue/store.ts";
import { boundPair, uniqueName } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { attemptRows, commandRow, ownerCtx } from "./helpers.ts";

let env: TestEnv;
let runnerA: string;
let runnerB: string;
beforeEach(async () => {
  env = await makeTestEnv();
  runnerA = await env.mint("runner", "host-a");
  runnerB = await env.mint("runner", "host-b");
});
afterEach(() => env.close());

const capture = (host: string) => createCommand(ownerCtx(env), { type: "capture", host, payload: { tmux_session: "pane" }, maxAttempts: 2 });
const claimAs = (token: string, body: Record<string, unknown> = {}) => env.call("POST", "/v1/runner/claim", { token, body });

describe("runner claim / started / complete", () => {
  it("claims only the token's host's commands, with generation and attempt id", async () => {
    const a = await capture("host-a");
    const b = await capture("host-b");
    await createCommand(ownerCtx(env), { type: "notify_manager", payload: { message: "x" } });
    const res = await claimAs(runnerA, { runner_id: "r1", lease_seconds: 30 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ host: "host-a", count: 1 });
    expect(res.body.claims[0]).toMatchObject({ generation: 1, command: { id: a.id, state: "running", claimed_by: "runner:host-a:r1" } });
    expect((await claimAs(runnerA)).body.count).toBe(0);
    expect((await commandRow(env, b.id)).state).toBe("pending");
    expect((await claimAs(runnerB)).body.claims.map((c: any) => c.command.id)).toEqual([b.id]);
  });

  it("records started and a successful completion under the claim's generation", async () => {
    const a = await capture("host-a");
    const [claim] = (await claimAs(runnerA)).body.claims;
    const started = await env.call("POST", `/v1/runner/attempts/${claim.attempt_id}/started`, { token: runnerA });
    expect(started).toMatchObject({ status: 200, body: { started: true, command_id: a.id } });
    const done = await env.call("POST", `/v1/runner/commands/${a.id}/complete`, {
      token: runnerA,
      body: { attempt_id: claim.attempt_id, generation: claim.generation, ok: true, result: { pane: "$ " } },
    });
    expect(done.status).toBe(200);
    expect(done.body.command).toMatchObject({ state: "succeeded", result: { pane: "$ " } });
    expect((await attemptRows(env, a.id))[0]).toMatchObject({ side_effect_started: 1, side_effect_completed: 1 });
  });

  it("never lets host B's runner touch host A's attempt", async () => {
    const a = await capture("host-a");
    const [claim] = (await claimAs(runnerA)).body.claims;
    const started = await env.call("POST", `/v1/runner/attempts/${claim.attempt_id}/started`, { token: runnerB });
    expect(started.status).toBe(403);
    const done = await env.call("POST", `/v1/runner/commands/${a.id}/complete`, {
      token: runnerB,
      body: { attempt_id: claim.attempt_id, generation: 1, ok: true },
    });
    expect(done.status).toBe(403);
    expect((await commandRow(env, a.id)).state).toBe("running");
  });

  it("refuses to start after the lease ran out and refuses a stale completion", async () => {
    const a = await capture("host-a");
    const [stale] = (await claimAs(runnerA, { lease_seconds: 10 })).body.claims;
    env.clock.advance(10);
    expect((await env.call("POST", `/v1/runner/attempts/${stale.attempt_id}/started`, { token: runnerA })).status).toBe(409);
    // The lease sweep inside the next claim gives the command back; a new generation takes it.
    const [fresh] = (await claimAs(runnerA)).body.claims;
    expect(fresh.generation).toBe(2);
    const late = await env.call("POST", `/v1/runner/commands/${a.id}/complete`, {
      token: runnerA,
      body: { attempt_id: stale.attempt_id, generation: 1, ok: true },
    });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe("CONFLICT");
    expect(await commandRow(env, a.id)).toMatchObject({ state: "running", claim_generation: 2 });
  });

  it("retries a reported failure, dead-letters an invalid payload, and rejects a mismatched generation", async () => {
    const a = await capture("host-a");
    let [claim] = (await claimAs(runnerA)).body.claims;
    await env.call("POST", `/v1/runner/attempts/${claim.attempt_id}/started`, { token: runnerA });
    const failed = await env.call("POST", `/v1/runner/commands/${a.id}/complete`, {
      token: runnerA,
      body: { attempt_id: claim.attempt_id, generation: 1, ok: false, error: "tmux gone" },
    });
    expect(failed.body.command).toMatchObject({ state: "pending", error: "tmux gone" });
    const mismatch = await env.call("POST", `/v1/runner/commands/${a.id}/complete`, {
      token: runnerA,
      body: { attempt_id: claim.attempt_id, generation: 2, ok: true },
    });
    expect(mismatch.status).toBe(400);
    env.clock.advance(60);
    [claim] = (await claimAs(runnerA)).body.claims;
    const invalid = await env.call("POST", `/v1/runner/commands/${a.id}/complete`, {
      token: runnerA,
      body: { attempt_id: claim.attempt_id, generation: 2, ok: false, error: "invalid payload: tmux_session", invalid_payload: true },
    });
    expect(invalid.body.command).toMatchObject({ state: "dead", attempts: 2 });
  });

  it("answers 404 for unknown attempts and 403 for owner tokens", async () => {
    expect((await env.call("POST", "/v1/runner/attempts/att_nope/started", { token: runnerA })).status).toBe(404);
    expect((await claimAs(env.owner)).status).toBe(403);
  });
});

describe("the dispatch policy on a runner's commands", () => {
  it("fails a nudge its manager queued once the binding ended, before the runner types it", async () => {
    const pair = await boundPair(env, { worker: { host: "host-a", tmux_session: uniqueName("pane") } });
    const nudge = async () => {
      const res = await env.call("POST", `/v1/sessions/${pair.worker.session.name}/commands`, {
        token: pair.manager.token,
        body: { type: "nudge", text: "keep going" },
      });
      expect(res.status).toBe(201);
      return res.body.command_id as string;
    };
    // While the manager manages the worker, its nudge may start.
    const kept = await nudge();
    const [first] = (await claimAs(runnerA)).body.claims;
    expect(first.command.id).toBe(kept);
    expect((await env.call("POST", `/v1/runner/attempts/${first.attempt_id}/started`, { token: runnerA })).status).toBe(200);

    const queued = await nudge();
    expect((await env.call("POST", "/v1/bindings/unbind", { body: { task: pair.task.task.name } })).status).toBe(200);
    const [claim] = (await claimAs(runnerA)).body.claims;
    expect(claim.command.id).toBe(queued);
    const started = await env.call("POST", `/v1/runner/attempts/${claim.attempt_id}/started`, { token: runnerA });
    expect(started.status).toBe(409);
    expect(started.body.error.message).toContain(`session:${pair.manager.session_id} no longer manages the session this nudge was for`);
    const row = await commandRow(env, queued);
    expect(row.state).toBe("failed");
    expect(JSON.parse(String(row.result_json ?? row.result))).toMatchObject({
      policy_receipt: { policy: "push_authority", decision: "blocked", created_by: `session:${pair.manager.session_id}` },
    });
    expect((await attemptRows(env, queued))[0]).toMatchObject({ side_effect_started: 0 });
    // Nothing is left for a runner to claim.
    expect((await claimAs(runnerA)).body.count).toBe(0);
  });

  it("checks a delivery a dispatcher made for a manager's nudge_worker against that manager, not the dispatcher", async () => {
    const pair = await boundPair(env, { worker: { host: "host-a", tmux_session: uniqueName("pane") } });
    const queued = await env.call("POST", `/v1/tasks/${pair.task.task.name}/nudge-worker`, { token: pair.manager.token, body: { message: "do the thing" } });
    expect(queued.status).toBe(201);
    // A dispatcher turns the signal into the worker's inbox item and the delivery that types it.
    const ctx = makeCtx(env.services, { kind: "daemon", tokenId: "dispatcher-t" });
    expect(await dispatchPass(ctx, DISPATCH_PLUGINS, { dispatcherId: "t", route: false, types: ["nudge_worker"] })).toMatchObject({ succeeded: 1 });
    const [deliver] = (await env.services.database.client.execute("SELECT id, created_by FROM commands WHERE type = 'deliver'")).rows;
    expect(String(deliver!.created_by)).not.toContain(pair.manager.session_id);
    expect((await env.call("POST", "/v1/bindings/unbind", { body: { task: pair.task.task.name } })).status).toBe(200);
    // Deliveries run in a dispatcher on the target's host (they read and mark the inbox), which
    // puts them to the policy before typing.
    const onHostA = makeCtx({ ...env.services, hostName: "host-a" }, { kind: "daemon", tokenId: "dispatcher-a" });
    expect(await dispatchPass(onHostA, DISPATCH_PLUGINS, { dispatcherId: "a", route: false, types: ["deliver"] })).toMatchObject({ claimed: 1, refused: 1 });
    const row = await commandRow(env, String(deliver!.id));
    expect(row.state).toBe("failed");
    expect(JSON.parse(String(row.result_json ?? row.result))).toMatchObject({
      policy_receipt: { policy: "push_authority", on_behalf_of: `session:${pair.manager.session_id}`, command_type: "deliver" },
    });
  });
});
