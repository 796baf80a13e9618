import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { adviceRequests } from "../../../../schema/broker.ts";
import { registerSession } from "../../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../../helpers/services.ts";
import { brokerFlow, type AdviceFlow } from "../../../../functions/broker/tick/flow.ts";
import { createRun, requestMessage, runAdvice, runEventRows, runRow, startedRun, tick } from "../runs/fixtures.ts";

let env: TestEnv;
let daemon: string;
let lily: { session_id: string; session: { name: string } };
let peer: { session_id: string };
beforeEach(async () => {
  env = await makeTestEnv();
  daemon = await env.mint("daemon");
  lily = await registerSession(env, "manager");
  peer = await registerSession(env, "worker");
});
afterEach(() => env.close());

const tickApi = (body: Record<string, unknown>, token = daemon) => env.call("POST", "/v1/broker/tick", { body, token });

describe("broker tick without a run", () => {
  it("polls, ingests and drafts in one visible cycle, and sends nothing", async () => {
    const msg = await requestMessage(env, { from: peer.session_id, to: lily.session_id, project: "/p" });
    await requestMessage(env, { from: peer.session_id, to: lily.session_id, project: "/other" });
    const res = await tickApi({ project: "/p", to_session: lily.session.name });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ run_id: null, processed: true, candidates: 1, sends: 0, stopped: null, errors: [] });
    expect(res.body.ingested).toEqual([expect.objectContaining({ message_id: msg })]);
    expect(res.body.drafted.map((d: any) => d.state)).toEqual(["draft_ready"]);
    const advice = await env.services.database.db.select().from(adviceRequests);
    expect(advice.map((a) => [a.state, a.sentAt])).toEqual([["draft_ready", null]]);
  });

  it("is refused to sessions and runners", async () => {
    const session = await registerSession(env, "worker");
    expect((await tickApi({}, session.token)).status).toBe(403);
    expect((await tickApi({}, await env.mint("runner", "test-host"))).status).toBe(403);
  });
});

describe("broker tick with a run", () => {
  it("ingests only the run's scope, attributes advice to the run and counts it", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run", project: "/p", target_session: lily.session.name });
    await requestMessage(env, { from: peer.session_id, to: lily.session_id, project: "/p" });
    await requestMessage(env, { from: peer.session_id, to: lily.session_id, project: "/elsewhere" });
    const res = await tickApi({ run_id: id, holder: "daemon-a" });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ run_id: id, processed: true, candidates: 1, stopped: null, lease: { holder: "daemon-a", released: false } });
    expect(res.body.run.counters).toMatchObject({ requests_total: 1, drafts_total: 1, sends_total: 0 });
    expect((await runAdvice(env, id)).map((a) => a.state)).toEqual(["draft_ready"]);
    expect(res.body.run.lease).toMatchObject({ owner: "daemon-a", live: true });
  });

  it("refuses flags that contradict the run's scope", async () => {
    const id = await startedRun(env, { mode: "supervised", project: "/p" });
    const res = await tickApi({ run_id: id, project: "/q" });
    expect(res.status).toBe(400);
    expect(res.body.error.fields).toEqual([{ field: "project", message: "the run is scoped to '/p'" }]);
  });

  it("refuses a run that was not started, and does nothing for a stopped one", async () => {
    const created = await createRun(env, { mode: "supervised" });
    const notStarted = await tickApi({ run_id: created });
    expect(notStarted.status).toBe(409);
    expect(notStarted.body.error.hint).toContain("run-start");

    const id = await startedRun(env, { mode: "supervised" });
    await env.call("POST", `/v1/broker/runs/${id}/stop`, { body: { reason: "enough" } });
    await requestMessage(env, { from: peer.session_id, to: lily.session_id });
    const res = await tickApi({ run_id: id });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ processed: false, ingested: [], stopped: { reason: "owner_kill_switch" } });
    expect(await runAdvice(env, id)).toEqual([]);
  });

  it("holds the lease: a second holder is refused until the lease expires, then takes over", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run" });
    expect((await tickApi({ run_id: id, holder: "daemon-a", lease_seconds: 60 })).status).toBe(200);
    const refused = await tickApi({ run_id: id, holder: "daemon-b", lease_seconds: 60 });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain("leased to 'daemon-a'");
    // Renewal by the holder pushes the expiry out again.
    env.clock.advance(45);
    expect((await tickApi({ run_id: id, holder: "daemon-a", lease_seconds: 60 })).status).toBe(200);
    env.clock.advance(45);
    expect((await tickApi({ run_id: id, holder: "daemon-b", lease_seconds: 60 })).status).toBe(409);
    env.clock.advance(16);
    const takeover = await tickApi({ run_id: id, holder: "daemon-b", lease_seconds: 60 });
    expect(takeover.status).toBe(200);
    expect(takeover.body.lease).toMatchObject({ holder: "daemon-b", taken_over_from: "daemon-a" });
    const kinds = (await runEventRows(env, id)).map((e) => e.kind).filter((k) => k.startsWith("lease"));
    // One refusal is recorded per lease owner, not one per attempt.
    expect(kinds).toEqual(["lease_acquired", "lease_refused", "lease_taken_over"]);
  });

  it("a holder whose lease expired mid-tick cannot overwrite the counts of the daemon that took over", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run" });
    await requestMessage(env, { from: peer.session_id, to: lily.session_id });
    const slow: AdviceFlow = {
      ...brokerFlow,
      async candidates(ctx, filter) {
        // daemon-a stalls past its lease; daemon-b takes the run over and does the work meanwhile.
        env.clock.advance(121);
        const b = await tick(env, id, undefined, { holder: "daemon-b" });
        expect(b.lease?.taken_over_from).toBe("daemon-a");
        return brokerFlow.candidates(ctx, filter);
      },
    };
    await tick(env, id, slow);
    const row = await runRow(env, id);
    expect({ owner: row.leaseOwner, requests: row.requestsTotal, drafts: row.draftsTotal }).toEqual({ owner: "daemon-b", requests: 1, drafts: 1 });
  });

  it("a one-shot tick gives the lease back so a daemon can take it at once", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run" });
    const res = await tickApi({ run_id: id, holder: "cli", release_lease: true }, env.owner);
    expect(res.body.lease.released).toBe(true);
    expect((await runRow(env, id)).leaseOwner).toBeNull();
    expect((await tickApi({ run_id: id, holder: "daemon-a" })).status).toBe(200);
  });

  it("releases a lease only for its holder", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run" });
    await tickApi({ run_id: id, holder: "daemon-a" });
    const wrong = await env.call("POST", `/v1/broker/runs/${id}/release-lease`, { body: { holder: "daemon-b" }, token: daemon });
    expect(wrong.status).toBe(409);
    const right = await env.call("POST", `/v1/broker/runs/${id}/release-lease`, { body: { holder: "daemon-a" }, token: daemon });
    expect(right.status).toBe(200);
    expect(right.body.run.lease).toEqual({ owner: null, expires_at: null, live: false });
  });
});
