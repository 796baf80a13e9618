import { and, eq, isNotNull, like } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adviceRequests, brokerRuns } from "../../../schema/broker.ts";
import { messages } from "../../../schema/messages.ts";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { requestMessage, runAdvice } from "./runs/fixtures.ts";

/**
 * The broker's safety contract, across the manual loop and the run side: only the owner
 * approves, rejects, edits, sends, starts runs and mints approval tokens; sending needs an
 * approval and happens once; an overnight_dry_run never sends, whatever anyone does.
 */

let env: TestEnv;
let daemon: string;
let runner: string;
let session: string;
let advisor: { session_id: string; session: { name: string } };
let requester: { session_id: string; token: string };
beforeAll(async () => {
  env = await makeTestEnv();
  daemon = await env.mint("daemon");
  runner = await env.mint("runner", "test-host");
  advisor = await registerSession(env, "manager");
  requester = await registerSession(env, "worker");
  session = requester.token;
});
afterAll(() => env.close());

/** A drafted advice request (draft_ready) attributed to a fresh run of `mode`. */
async function draftedInRun(mode: string, extra: Record<string, unknown> = {}) {
  const project = `/p-${Math.random().toString(36).slice(2)}`;
  const run = (await env.call("POST", "/v1/broker/runs", { body: { mode, objective: "safety", project, ...extra } })).body.run_id as string;
  await env.call("POST", `/v1/broker/runs/${run}/start`);
  const threadId = `thr_${project.slice(3)}`;
  await requestMessage(env, { from: requester.session_id, to: advisor.session_id, project, threadId });
  const tick = await env.call("POST", "/v1/broker/tick", { body: { run_id: run, holder: "daemon-safety", release_lease: true }, token: daemon });
  expect(tick.status).toBe(200);
  const [advice] = await runAdvice(env, run);
  expect(advice?.state).toBe("draft_ready");
  return { run, project, threadId, adviceId: advice!.id };
}

/** Reply messages the broker delivered for advice (their ids derive from the advice id). */
async function deliveries(adviceId: string) {
  return env.services.database.db
    .select()
    .from(messages)
    .where(eq(messages.inReplyTo, (await adviceRow(adviceId)).sourceMessageId));
}

async function adviceRow(id: string) {
  const [row] = await env.services.database.db.select().from(adviceRequests).where(eq(adviceRequests.id, id));
  return row!;
}

describe("only the owner decides", () => {
  const callers = () => ({ daemon, session, runner });

  it("daemon, session and runner tokens are refused approve, reject, edit, send-approved, run-start and token-create", async () => {
    const { adviceId, threadId } = await draftedInRun("supervised");
    const created = (await env.call("POST", "/v1/broker/runs", { body: { mode: "scoped_auto_send", objective: "tokens" } })).body.run_id as string;
    const attempts = [
      ["approve", "POST", `/v1/broker/advice/${adviceId}/approve`, {}],
      ["reject", "POST", `/v1/broker/advice/${adviceId}/reject`, { reason: "no" }],
      ["edit", "POST", `/v1/broker/advice/${adviceId}/approve`, { edit: "my own words" }],
      ["send-approved", "POST", `/v1/broker/advice/${adviceId}/send-approved`, undefined],
      ["run-start", "POST", `/v1/broker/runs/${created}/start`, undefined],
      [
        "token-create",
        "POST",
        "/v1/broker/tokens",
        { run_id: created, to_session: requester.session_id, thread_id: threadId, max_uses: 1, expires_minutes: 30 },
      ],
    ] as const;
    const outcomes: string[] = [];
    for (const [who, token] of Object.entries(callers())) {
      for (const [what, method, path, body] of attempts) {
        const res = await env.call(method, path, { token, body });
        outcomes.push(`${who} ${what}: ${res.status} ${res.body?.error?.code}`);
      }
    }
    expect(outcomes).toEqual(Object.keys(callers()).flatMap((who) => attempts.map(([what]) => `${who} ${what}: 403 FORBIDDEN`)));
    // Nothing moved: the draft still waits for the owner, the run was never started, no token exists.
    expect((await adviceRow(adviceId)).state).toBe("draft_ready");
    expect((await env.call("GET", `/v1/broker/runs/${created}`)).body.run.state).toBe("created");
    expect(await deliveries(adviceId)).toEqual([]);
  });
});

describe("sending", () => {
  it("is refused before approval and delivers nothing", async () => {
    const { adviceId } = await draftedInRun("supervised");
    const res = await env.call("POST", `/v1/broker/advice/${adviceId}/send-approved`);
    expect(res.status).toBe(409);
    expect(await deliveries(adviceId)).toEqual([]);
  });

  it("twice delivers once", async () => {
    const { adviceId, run } = await draftedInRun("supervised");
    expect((await env.call("POST", `/v1/broker/advice/${adviceId}/approve`, { body: { edit: "Use exponential backoff." } })).status).toBe(200);
    const first = await env.call("POST", `/v1/broker/advice/${adviceId}/send-approved`);
    const second = await env.call("POST", `/v1/broker/advice/${adviceId}/send-approved`);
    expect([first.status, first.body.already_sent, second.status, second.body.already_sent]).toEqual([200, false, 200, true]);
    expect(second.body.message_id).toBe(first.body.message_id);
    expect((await deliveries(adviceId)).map((m) => m.body)).toEqual(["Use exponential backoff."]);
    const [row] = await env.services.database.db.select().from(brokerRuns).where(eq(brokerRuns.id, run));
    expect(row!.sendsTotal).toBe(1);
  });
});

/** mulberry32: a small seeded PRNG, so a failing sequence can be replayed from its seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEQUENCES = 300;
const STEPS = 12;

/** Commands a sequence draws from, weighted towards the ones that lead to a send. */
const WEIGHTED = [
  ...Array(3).fill("request"),
  ...Array(3).fill("tick-daemon"),
  "tick-owner",
  ...Array(3).fill("approve"),
  "approve-edit",
  "reject",
  ...Array(4).fill("send-approved"),
  "token-create",
  "run-stop",
  "advance",
  "poll-ingest",
  "retry",
] as const;

describe("overnight_dry_run never sends", () => {
  // A few hundred sequences of real requests take a while on a loaded machine; give them room.
  it(`under ${SEQUENCES} random command sequences (seeded)`, { timeout: 180_000 }, async () => {
    const violations: string[] = [];
    // How often a sequence tried to send advice the owner had approved: the property means little unless this is common.
    let sendsOfApproved = 0;
    for (let seed = 1; seed <= SEQUENCES; seed++) {
      const rand = prng(seed);
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
      const project = `/dry-${seed}`;
      const run = (
        await env.call("POST", "/v1/broker/runs", { body: { mode: "overnight_dry_run", objective: `seq ${seed}`, project, limits: { max_drafts_total: 6 } } })
      ).body.run_id as string;
      await env.call("POST", `/v1/broker/runs/${run}/start`);
      const trace: string[] = [];
      for (let step = 0; step < STEPS; step++) {
        const cmd = pick(WEIGHTED);
        const advice = await runAdvice(env, run);
        // Approvals aim at drafts and sends at approved advice when there are some, so the
        // dangerous path (draft → approve → send) is walked often, not by luck.
        const approved = advice.filter((a) => a.state === "approved");
        const drafts = advice.filter((a) => a.state === "draft_ready");
        const pool = cmd === "send-approved" && approved.length ? approved : cmd.startsWith("approve") && drafts.length ? drafts : advice;
        const target = pool.length ? pick(pool).id : "adv_none";
        if (cmd === "send-approved" && approved.length) sendsOfApproved++;
        trace.push(cmd);
        switch (cmd) {
          case "request":
            await requestMessage(env, { from: requester.session_id, to: advisor.session_id, project, threadId: `thr_dry_${seed}_${step % 2}` });
            break;
          case "tick-daemon":
            await env.call("POST", "/v1/broker/tick", { body: { run_id: run, holder: "d", release_lease: true }, token: daemon });
            break;
          case "tick-owner":
            await env.call("POST", "/v1/broker/tick", { body: { run_id: run, holder: "o", release_lease: true } });
            break;
          case "approve":
            await env.call("POST", `/v1/broker/advice/${target}/approve`, { body: {} });
            break;
          case "approve-edit":
            await env.call("POST", `/v1/broker/advice/${target}/approve`, { body: { edit: `edited ${seed}` } });
            break;
          case "reject":
            await env.call("POST", `/v1/broker/advice/${target}/reject`, { body: { reason: "no" } });
            break;
          case "send-approved":
            await env.call("POST", `/v1/broker/advice/${target}/send-approved`);
            break;
          case "token-create":
            await env.call("POST", "/v1/broker/tokens", {
              body: { run_id: run, to_session: requester.session_id, thread_id: `thr_dry_${seed}_0`, max_uses: 5, expires_minutes: 60 },
            });
            break;
          case "run-stop":
            await env.call("POST", `/v1/broker/runs/${run}/stop`, { body: { reason: "random stop" } });
            break;
          case "advance":
            env.clock.advance(Math.floor(rand() * 600));
            break;
          case "poll-ingest":
            await env.call("POST", "/v1/broker/poll-messages", { body: { project, run_id: run } });
            break;
          case "retry":
            await env.call("POST", `/v1/broker/advice/${target}/retry`, { body: {} });
            break;
        }
      }
      const sent = await env.services.database.db
        .select({ id: adviceRequests.id })
        .from(adviceRequests)
        .where(and(eq(adviceRequests.runId, run), isNotNull(adviceRequests.sentAt)));
      const replies = await env.services.database.db
        .select({ id: messages.id })
        .from(messages)
        .where(and(eq(messages.project, project), like(messages.threadId, `thr_dry_${seed}_%`), eq(messages.msgType, "reply")));
      const [row] = await env.services.database.db.select().from(brokerRuns).where(eq(brokerRuns.id, run));
      if (sent.length || replies.length || row!.sendsTotal)
        violations.push(`seed ${seed}: ${trace.join(" ")} -> ${sent.length} sent, ${replies.length} replies, sends_total ${row!.sendsTotal}`);
    }
    expect(violations).toEqual([]);
    expect(sendsOfApproved).toBeGreaterThan(SEQUENCES / 10);
  });
});
