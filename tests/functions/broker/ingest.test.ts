import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { adviceRequests, brokerEvents, orchestratorJobs } from "../../../schema/broker.ts";
import { events } from "../../../schema/events.ts";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { ingest, insertMessage, requesterAndAdvisor } from "./fixtures.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const db = () => env.services.database.db;

describe("POST /v1/broker/poll-messages", () => {
  it("lists only un-ingested, non-empty requests matching the filters, and a dry run ingests nothing", async () => {
    const { requester, advisor } = await requesterAndAdvisor(env);
    const other = await registerSession(env, "worker");
    const wanted = await insertMessage(env, { from: requester.session_id, to: advisor.session_id, body: "Which approach?", project: "/src/app" });
    await insertMessage(env, { from: requester.session_id, to: advisor.session_id, body: "fyi", msgType: "notify", project: "/src/app" });
    await insertMessage(env, { from: requester.session_id, to: advisor.session_id, body: "   \n ", project: "/src/app" });
    await insertMessage(env, { from: requester.session_id, to: advisor.session_id, body: "other project", project: "/src/other" });
    await insertMessage(env, { from: requester.session_id, to: other.session_id, body: "to someone else", project: "/src/app" });

    const res = await env.call("POST", "/v1/broker/poll-messages", { body: { project: "/src/app", to_session: advisor.session.name, dry_run: true } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ dry_run: true, count: 1, ingested: [] });
    expect(res.body.candidates.map((c: any) => c.message_id)).toEqual([wanted.id]);
    expect(await db().select().from(adviceRequests)).toHaveLength(0);

    const unfiltered = await env.call("POST", "/v1/broker/poll-messages", { body: { dry_run: true } });
    expect(unfiltered.body.count).toBe(3);
  });

  it("ingests every candidate once; a second poll finds nothing new", async () => {
    const { requester, advisor } = await requesterAndAdvisor(env);
    const a = await insertMessage(env, { from: requester.session_id, to: advisor.session_id, body: "first?" });
    const b = await insertMessage(env, { from: requester.session_id, to: advisor.session_id, body: "second?" });
    const res = await env.call("POST", "/v1/broker/poll-messages", { body: {}, token: await env.mint("daemon") });
    expect(res.status).toBe(200);
    expect(res.body.ingested.map((i: any) => [i.advice.source_message_id, i.already_ingested, i.advice.state])).toEqual([
      [a.id, false, "queued"],
      [b.id, false, "queued"],
    ]);
    const again = await env.call("POST", "/v1/broker/poll-messages", { body: {} });
    expect(again.body).toMatchObject({ count: 0, ingested: [] });
    expect(await db().select().from(adviceRequests)).toHaveLength(2);
    expect(await db().select().from(orchestratorJobs)).toHaveLength(2);
  });

  it("refuses an unknown --to-session instead of silently matching nothing", async () => {
    const res = await env.call("POST", "/v1/broker/poll-messages", { body: { to_session: "nobody" } });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("NOT_FOUND");
  });

  it("is refused to session and runner tokens", async () => {
    const s = await registerSession(env, "worker");
    for (const token of [s.token, await env.mint("runner", "test-host")]) {
      const res = await env.call("POST", "/v1/broker/poll-messages", { body: {}, token });
      expect(res.status).toBe(403);
    }
  });
});

describe("POST /v1/broker/messages/{id}/ingest", () => {
  it("creates one queued advice request and one queued job, with events, carrying the request's fields", async () => {
    const { requester, advisor } = await requesterAndAdvisor(env);
    const msg = await insertMessage(env, { from: requester.session_id, to: advisor.session_id, body: "Help?", project: "/p" });
    const res = await env.call("POST", `/v1/broker/messages/${msg.id}/ingest`, { body: {} });
    expect(res.status).toBe(201);
    expect(res.body.already_ingested).toBe(false);
    expect(res.body.advice).toMatchObject({
      state: "queued",
      source_message_id: msg.id,
      thread_id: msg.threadId,
      requester_session_id: requester.session_id,
      to_session_id: advisor.session_id,
      project: "/p",
      request_text: "Help?",
      research_policy: "deny",
      job_id: res.body.job_id,
      job_state: "queued",
    });
    const [job] = await db().select().from(orchestratorJobs).where(eq(orchestratorJobs.id, res.body.job_id));
    expect(job).toMatchObject({ adviceId: res.body.advice_id, state: "queued", attempts: 0, maxAttempts: 3 });
    const kinds = (await db().select().from(brokerEvents).where(eq(brokerEvents.adviceId, res.body.advice_id))).map((e) => e.kind);
    expect(kinds).toEqual(["advice_ingested", "job_queued"]);
    expect((await db().select().from(events)).filter((e) => e.kind === "advice_ingested")).toHaveLength(1);
  });

  it("returns the existing request, flagged, on every later call, concurrent ones included", async () => {
    const { requester, advisor } = await requesterAndAdvisor(env);
    const msg = await insertMessage(env, { from: requester.session_id, to: advisor.session_id, body: "Help?" });
    const first = await ingest(env, msg.id);
    const later = await Promise.all(
      Array.from({ length: 5 }, () => env.call("POST", `/v1/broker/messages/${msg.id}/ingest`, { body: { research_policy: "allow" } })),
    );
    for (const r of later) {
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ advice_id: first.advice_id, job_id: first.job_id, already_ingested: true });
      // The first ingest's policy stands; a re-ingest cannot widen it.
      expect(r.body.advice.research_policy).toBe("deny");
    }
    expect(await db().select().from(adviceRequests)).toHaveLength(1);
    expect(await db().select().from(orchestratorJobs)).toHaveLength(1);
  });

  it("creates exactly one request when the first calls race", async () => {
    const { requester, advisor } = await requesterAndAdvisor(env);
    const msg = await insertMessage(env, { from: requester.session_id, to: advisor.session_id, body: "Race?" });
    const results = await Promise.all(Array.from({ length: 6 }, () => env.call("POST", `/v1/broker/messages/${msg.id}/ingest`, { body: {} })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(new Set(results.map((r) => r.body.advice_id)).size).toBe(1);
    expect(await db().select().from(adviceRequests)).toHaveLength(1);
  });

  it("refuses messages that are not requests, empty requests and unknown ids", async () => {
    const { requester, advisor } = await requesterAndAdvisor(env);
    const notify = await insertMessage(env, { from: requester.session_id, to: advisor.session_id, body: "fyi", msgType: "notify" });
    const empty = await insertMessage(env, { from: requester.session_id, to: advisor.session_id, body: "  " });
    for (const id of [notify.id, empty.id]) {
      const res = await env.call("POST", `/v1/broker/messages/${id}/ingest`, { body: {} });
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe("NOT_ADVICE_REQUEST");
    }
    const missing = await env.call("POST", "/v1/broker/messages/msg_nope/ingest", { body: {} });
    expect(missing.status).toBe(404);
    const badRun = await env.call("POST", `/v1/broker/messages/${notify.id}/ingest`, { body: { run_id: "run_nope" } });
    expect(badRun.status).toBe(422);
    expect(await db().select().from(adviceRequests)).toHaveLength(0);
  });
});
