import { appendFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { CRON_NAMES } from "../../../crons/index.ts";
import { DISPATCH_PLUGINS } from "../../../functions/executors.ts";
import { makeCtx } from "../../../functions/lib/ctx.ts";
import { dispatchPass } from "../../../functions/queue/dispatch-pass.ts";
import { HeartbeatThrottle } from "../../../functions/queue/dispatchers.ts";
import { DrainLease } from "../../../functions/queue/drain-lease.ts";
import { routeCompletions } from "../../../functions/messages/routing.ts";
import { reserveRunSend } from "../../../functions/broker/runs/send-budget.ts";
import { brokerTick } from "../../../functions/broker/tick/tick.ts";
import { claimNextJob } from "../../../functions/orchestrator/claim.ts";
import { brokerEventValues } from "../../../functions/broker/wire.ts";
import { makeId } from "../../../functions/lib/ids.ts";
import { adviceRequests, brokerEvents, orchestratorJobs } from "../../../schema/broker.ts";
import { startedRun } from "../broker/runs/fixtures.ts";
import { boundPair, createTask } from "../../helpers/factories.ts";
import { type Captured, captureStatements, planProblems, readSteps, rebindProblems } from "../../helpers/query-plans.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { codexMeta, codexRollout } from "../../helpers/transcripts.ts";

let env: TestEnv;
afterEach(() => env?.close());

/**
 * Tables bounded by configuration or by the number of live things (one state row per plugin,
 * one row per dispatcher or cron slot), which may be scanned.
 */
const SMALL = new Set([
  "__drizzle_migrations",
  "patrol_state",
  "plugin_states",
  "dispatchers",
  // One row, kept by triggers (ingest_cursors itself has a row per session ever ingested).
  "ingest_totals",
  "patrol_config",
  "manager_configs",
  // One row per job state, kept by triggers.
  "orchestrator_job_counts",
]);
/** Partial indexes that hold only open work: scanning one costs what is open, not what happened. */
const OPEN_WORK_INDEXES = [
  "bindings_active_task_uq",
  "bindings_active_worker_uq",
  "bindings_active_created_idx",
  "transcript_segments_content_idx",
  "task_deps_unresolved_idx",
  "file_claims_live_base_idx",
  "spawns_pending_idx",
  "spawns_live_idx",
  "notifications_undelivered_idx",
  "advice_requests_open_idx",
  "messages_unadvised_idx",
  "file_claims_live_list_idx",
  "file_claims_live_session_idx",
];

function line(type: string, payload: Record<string, unknown>): string {
  return `${JSON.stringify({ timestamp: new Date().toISOString(), type, payload })}\n`;
}

describe("hot query plans across routes, crons and the cycle", () => {
  it("serve every read from an index: no SCAN of a growing table, no temp B-tree", async () => {
    env = await makeTestEnv();
    // History first, so the planner sees tables with rows and indexes worth choosing.
    for (let i = 0; i < 3; i++) await boundPair(env);
    await createTask(env);
    const rollout = codexRollout(env, "plans", codexMeta("thread-plans"));
    const pair = await boundPair(env, { worker: { codex_session: rollout } });
    const task = pair.task.task.name;
    const w = pair.worker.session.name;
    const m = pair.manager.session.name;
    appendFileSync(rollout, line("event_msg", { type: "user_message", message: "do the thing" }));
    appendFileSync(rollout, line("event_msg", { type: "task_started", turn_id: "t1" }));
    appendFileSync(rollout, line("event_msg", { type: "user_message", message: "and then this" }));
    appendFileSync(rollout, line("event_msg", { type: "agent_message", message: "done it" }));
    appendFileSync(rollout, line("event_msg", { type: "task_complete", turn_id: "t1", last_agent_message: "done it" }));

    const seen = captureStatements(env);
    const ok = async (method: string, path: string, body?: unknown, token?: string, expectStatus = 300, headers?: Record<string, string>) => {
      const res = await env.call(method, path, { body, token, headers });
      expect(res.status, `${method} ${path}: ${JSON.stringify(res.body).slice(0, 300)}`).toBeLessThan(expectStatus);
      return res.body;
    };
    // Sessions, tasks, bindings.
    await ok("GET", "/v1/sessions");
    await ok("GET", `/v1/sessions/${w}`);
    await ok("POST", `/v1/sessions/${w}/heartbeat`, {});
    await ok("GET", "/v1/tasks");
    await ok("GET", `/v1/tasks/${task}`);
    await ok("GET", "/v1/bindings");
    await ok("GET", "/v1/bindings?state=active");
    // Observe: ingest, cycle, tail, idle-check, divergences.
    await ok("POST", `/v1/sessions/${w}/ingest`, {});
    await ok("POST", `/v1/tasks/${task}/cycle`, {});
    await ok("POST", `/v1/tasks/${task}/cycle`, {});
    await ok("GET", `/v1/sessions/${w}/events?limit=5`);
    await ok("GET", `/v1/sessions/${w}/events?limit=5&kind=agent_message`);
    await ok("GET", `/v1/sessions/${w}/idle-check`);
    await ok("GET", `/v1/tasks/${task}/divergences`);
    await routeCompletions(makeCtx(env.services, { kind: "daemon", tokenId: "tok_plans" }));
    // Discover, with and without a query.
    await ok("GET", "/v1/discover");
    await ok("GET", "/v1/discover?q=task");
    await ok("GET", "/v1/discover?q=worker&all=true");
    // A session caller matches hidden fields only on the sessions it may see.
    await ok("GET", "/v1/discover?q=worker&all=true", undefined, pair.worker.token);
    await ok("GET", "/v1/discover?q=worker-zqxj&all=true", undefined, pair.worker.token);
    // Messages and inboxes.
    const sent = await ok("POST", "/v1/messages", { to: w, body: "hello", msg_type: "request", from: m });
    await ok("GET", "/v1/messages");
    await ok("GET", `/v1/sessions/${w}/inbox`);
    await ok("GET", `/v1/tasks/${task}/manager-inbox`);
    await ok("POST", `/v1/sessions/${w}/inbox/consume`, {});
    // Keyed consumes read the oldest item with the inbox's owner (by name, and through the binding).
    await ok("POST", "/v1/messages", { to: w, body: "keyed" });
    await ok("POST", `/v1/sessions/${w}/inbox/consume`, {}, undefined, 300, { "Idempotency-Key": "plans-1" });
    await ok("POST", "/v1/messages", { to: m, body: "keyed too" });
    await ok("POST", `/v1/tasks/${task}/manager-inbox/consume`, {}, undefined, 300, { "Idempotency-Key": "plans-2" });
    await ok("POST", `/v1/messages/${sent.message?.id ?? sent.id}/reply`, { body: "hi back" }, pair.worker.token);
    // A session's own messages (sent and received), and one session's as the owner asks for them.
    await ok("GET", "/v1/messages", undefined, pair.worker.token);
    await ok("GET", `/v1/messages?session=${m}`);
    await ok("GET", `/v1/messages?session=${m}&msg_type=request`, undefined, pair.worker.token);
    // A thread and a type: off the thread's index, not a walk of every message of that type.
    await ok("GET", `/v1/messages?thread_id=${sent.message?.thread_id ?? sent.thread_id}&msg_type=request`);
    // Queue.
    await ok("GET", "/v1/commands");
    await ok("GET", "/v1/commands?state=pending");
    await ok("GET", "/v1/commands?type=nudge_worker");
    // A task's commands, also of one state or type: off the task's index, not a walk of that state's history.
    await ok("GET", `/v1/commands?task=${task}&attempts=true`);
    await ok("GET", `/v1/commands?task=${task}&state=succeeded`);
    await ok("GET", `/v1/commands?task=${task}&type=nudge_worker`);
    // Audit, replay, events.
    await ok("GET", `/v1/tasks/${task}/audit`);
    await ok("GET", `/v1/tasks/${task}/replay?limit=5`);
    // Broker.
    await ok("GET", "/v1/broker/advice");
    // The broker's poll (each running broker run's tick): only requests not yet taken up.
    await ok("POST", "/v1/broker/poll-messages", { dry_run: true });
    await ok("POST", "/v1/broker/poll-messages", { dry_run: true, project: "plans", to_session: m });
    await ok("GET", "/v1/broker/runs");
    // One advice request's and one job's show and events, a run's events: each pages its own history.
    const ingested = await ok("POST", `/v1/broker/messages/${sent.message?.id ?? sent.id}/ingest`, {});
    const histories = [`/v1/broker/advice/${ingested.advice_id}/events`, `/v1/orchestrator/jobs/${ingested.job_id}/events`, `/v1/tasks/${task}/bindings`];
    await ok("GET", `/v1/broker/advice/${ingested.advice_id}`);
    await ok("GET", `/v1/orchestrator/jobs/${ingested.job_id}`);
    // Patrol, gates, convoys, coordination.
    await ok("GET", "/v1/gates");
    await ok("GET", "/v1/convoys");
    // A blocked task, so the page's blockers are read too.
    const blocker = (await createTask(env)).task.name;
    await ok("POST", `/v1/tasks/${task}/depends`, { on: blocker });
    await ok("GET", "/v1/blocked-tasks");
    const convoy = (await ok("POST", "/v1/convoys", { title: "plans", tracks: [task, blocker] })).convoy_id;
    await ok("GET", `/v1/convoys/${convoy}`);
    histories.push(`/v1/convoys/${convoy}/tasks`);
    await ok("GET", "/v1/claims");
    await ok("GET", `/v1/claims?session=${w}`);
    await ok("GET", `/v1/claims?session=${w}&state=all`);
    await ok("GET", "/v1/notes");
    await ok("GET", "/v1/plans");
    await ok("GET", "/v1/board");
    await ok("GET", "/v1/notices");
    await ok("GET", "/v1/notices?state=all");
    await ok("GET", "/v1/notices?state=acked");
    await ok("GET", "/v1/telemetry/failures");
    // One outcome or one message type alone, newest first, and the next page: read off their
    // indexes in order, never a walk of every event or a sort of equal timestamps.
    for (const path of ["/v1/telemetry?outcome=ok&limit=1", "/v1/telemetry?outcome=failed&limit=1", "/v1/messages?msg_type=request&limit=1"]) {
      const first = await ok("GET", path);
      if (first.next_cursor) await ok("GET", `${path}&cursor=${first.next_cursor}`);
    }
    await ok("GET", "/v1/telemetry/failures?run=plans-run");
    await ok("GET", `/v1/dispatch-status/${w}`);
    await ok("GET", "/v1/patrol/runs");
    await ok("GET", "/v1/patrol/status");
    await ok("GET", "/v1/patrol/pending-spawns");
    // Supervision and loops.
    await ok("GET", `/v1/tasks/${task}/acks`);
    await ok("GET", `/v1/tasks/${task}/handoffs`);
    await ok("GET", `/v1/tasks/${task}/decisions`);
    await ok("GET", `/v1/tasks/${task}/continuations`);
    await ok("GET", `/v1/tasks/${task}/criteria`);
    // No config yet: a 404 still runs the lookup.
    await ok("GET", `/v1/tasks/${task}/manager-config`, undefined, undefined, 405);
    await ok("GET", `/v1/tasks/${task}/manager-config/revisions`);
    await ok("GET", `/v1/tasks/${task}/mutation-audit`);
    await ok("GET", `/v1/tasks/${task}/epilogues`);
    await ok("GET", `/v1/tasks/${task}/loop-runs`);
    await ok("GET", "/v1/loop-templates");
    await ok("GET", "/v1/qa-plans");
    await ok("GET", "/v1/loop-triggers");
    // Admin.
    await ok("GET", "/v1/tokens");
    await ok("GET", "/v1/crons");
    await ok("GET", "/v1/admin/reconcile");
    await ok("GET", "/v1/orchestrator/jobs");
    await ok("GET", "/v1/orchestrator/status");
    // A job claim, run-less and for a run: the oldest queued and the oldest expired job are each
    // read in order, never every open job sorted.
    const claimer = makeCtx(env.services, { kind: "daemon", tokenId: "tok_plans_claim" });
    await claimNextJob(claimer, { processorId: "plans" });
    await claimNextJob(claimer, { processorId: "plans", runId: "run_plans" });
    // Every cron once.
    for (const name of CRON_NAMES) await ok("POST", `/v1/crons/${name}`, {});
    // Looping dispatchers under a drain lease: the holder's lease write and gated claim, then a
    // standby's read of the lease and of the due commands it may claim without it.
    const daemon = makeCtx(env.services, { kind: "daemon", tokenId: "plans-dispatch" });
    for (const id of ["plans-holder", "plans-standby"]) {
      const r = await dispatchPass(daemon, DISPATCH_PLUGINS, { dispatcherId: id, route: false, heartbeat: new HeartbeatThrottle(), drain: new DrainLease() });
      expect(r.drain_lease).toBe(id === "plans-holder" ? "held" : "standby");
    }
    expect(seen.some((c) => /^select \(select "holder" from "dispatch_leases"/i.test(c.sql) && / exists \(select 1 from "commands"/i.test(c.sql))).toBe(true);

    // Second pages: the keyset condition must be index-served too.
    for (const path of [
      "/v1/sessions?limit=1",
      "/v1/sessions?limit=1&state=all",
      "/v1/sessions?limit=1&role=worker",
      "/v1/sessions?limit=1&role=worker&state=all",
      // Several names, each registered more than once over time: read name by name, never sorted together.
      `/v1/sessions?limit=1&state=all&name=${w}&name=${m}`,
      `/v1/sessions?limit=1&name=${w}&name=${m}`,
      "/v1/tasks?limit=1",
      "/v1/tasks?limit=1&state=active",
      "/v1/bindings?limit=1",
      "/v1/bindings?limit=1&state=all",
      "/v1/messages?limit=1",
      `/v1/messages?limit=1&session=${w}`,
      "/v1/commands?limit=1",
      "/v1/commands?limit=1&state=succeeded",
      "/v1/tokens?limit=1",
      `/v1/sessions/${w}/events?limit=1`,
      `/v1/sessions/${w}/events?limit=1&subtype=user_message`,
      `/v1/sessions/${w}/events?limit=1&kind=user_message`,
    ]) {
      const first = await ok("GET", path);
      if (!path.startsWith("/v1/commands")) expect(first.next_cursor, path).toEqual(expect.any(String));
      if (first.next_cursor) await ok("GET", `${path}&cursor=${first.next_cursor}`);
    }
    // A started run has two events. Started only now, after the crons: its tick is not what this covers.
    const run = (await ok("POST", "/v1/broker/runs", { objective: "plans", mode: "supervised" })).run_id;
    await ok("POST", `/v1/broker/runs/${run}/start`);
    await ok("GET", `/v1/broker/runs/${run}/events?after_id=1`);
    histories.push(`/v1/broker/runs/${run}/events`);
    // An entity's own history, on its second page too (a task with three bindings: show counts them).
    const rebound = await boundPair(env);
    for (let i = 0; i < 2; i++) {
      await ok("POST", "/v1/bindings/unbind", { task: rebound.task.task.name });
      await ok("POST", "/v1/bindings", { task: rebound.task.task.name, worker: rebound.worker.session.name, manager: rebound.manager.session.name });
    }
    await ok("GET", `/v1/tasks/${rebound.task.task.name}`);
    for (const path of [...histories, `/v1/tasks/${rebound.task.task.name}/bindings`]) {
      const first = await ok("GET", `${path}?limit=1`);
      if (!path.startsWith("/v1/orchestrator/jobs/") && path !== `/v1/tasks/${task}/bindings`) expect(first.next_cursor, path).toEqual(expect.any(String));
      if (first.next_cursor) await ok("GET", `${path}?limit=1&cursor=${first.next_cursor}`);
    }
    await ok("GET", "/v1/discover?q=ta");
    // Common trigrams (every worker's name) and a rare part: the driven search and its row sample.
    await ok("GET", "/v1/discover?q=worker-zqxj&all=true");
    // A gone session's name: show falls back to its newest gone row.
    const gone = (await ok("POST", "/v1/sessions", { name: "plans-gone", role: "worker" })).session.name;
    await ok("POST", `/v1/sessions/${gone}/deregister`);
    await ok("GET", `/v1/sessions/${gone}`);
    const { explained, problems } = await planProblems(env, seen, { small: SMALL, openWorkIndexes: OPEN_WORK_INDEXES });
    expect(explained).toBeGreaterThan(80);
    expect(problems).toEqual([]);
    // And none of them binds the value of a partial index's predicate column (a re-prepare per call).
    expect(await rebindProblems(env, seen)).toEqual([]);
  }, 60_000);

  it("cost the same per status read however much history there is: no read walks finished rows", async () => {
    env = await makeTestEnv();
    const ctx = makeCtx(env.services, { kind: "daemon", tokenId: "tok_flat" });
    const limits = { max_requests_total: 100_000, max_drafts_total: 100_000, max_sends_total: 100_000, max_sends_per_thread: 100_000 };
    const run = await startedRun(env, { mode: "supervised", limits });
    const thread = "thr_flat";
    const db = env.services.database.db;
    let seq = 0;
    // Finished history of every kind the status reads count: jobs done and failed, a run's ticks,
    // conditions met and send reservations, and advice the run drafted and sent.
    const grow = async (n: number) => {
      const at = env.clock.ms;
      const ids = Array.from({ length: n }, () => `flat_${++seq}`);
      await db.insert(adviceRequests).values(
        ids.map((id) => ({
          id: `adv_${id}`,
          sourceMessageId: `msg_${id}`,
          threadId: thread,
          toSessionId: "ses_flat",
          runId: run,
          state: "sent" as const,
          requestText: "q",
          draftText: `d ${id}`,
          approvedAt: at,
          sentAt: at,
          createdAt: at,
          updatedAt: at,
        })),
      );
      await db.insert(orchestratorJobs).values(
        ids.map((id, i) => ({
          id: `job_${id}`,
          adviceId: `adv_${id}`,
          state: i % 2 ? ("failed" as const) : ("draft_ready" as const),
          createdAt: at,
          updatedAt: at,
        })),
      );
      await db
        .insert(brokerEvents)
        .values(
          ids.flatMap((id) => [
            brokerEventValues(ctx, { kind: "tick", runId: run, payload: {} }),
            brokerEventValues(ctx, { kind: "stop_condition_met", runId: run, payload: { condition: "owner_input_required", stopped: false } }),
            brokerEventValues(ctx, { kind: "send_reserved", runId: run, adviceId: `adv_${id}`, payload: { thread_id: thread } }),
          ]),
        );
    };
    const all: Captured[] = [];
    const stepsOfReads = async () => {
      const seen = captureStatements(env);
      for (const path of ["/v1/orchestrator/status", `/v1/broker/runs/${run}`, `/v1/broker/runs/${run}/digest`]) {
        const res = await env.call("GET", path);
        expect(res.status, path).toBe(200);
      }
      const ticked = await brokerTick(ctx, { run_id: run, holder: "flat-daemon" });
      expect(ticked.stopped).toBeNull();
      await reserveRunSend(ctx, { runId: run, threadId: thread, adviceId: makeId("adv", env.clock.ms) });
      all.push(...seen);
      // The digest too: its counts by state are kept, and it lists only what still waits (none of the finished history).
      return readSteps(env, seen);
    };
    await grow(20);
    const before = await stepsOfReads();
    await grow(200);
    const after = await stepsOfReads();
    expect(before.size).toBeGreaterThan(5);
    const grew = [...before].filter(([sql, n]) => (after.get(sql) ?? 0) > n).map(([sql, n]) => `${n} -> ${after.get(sql)} steps: ${sql}`);
    expect(grew).toEqual([]);
    // And each of them is index-served.
    expect((await planProblems(env, all, { small: SMALL, openWorkIndexes: OPEN_WORK_INDEXES })).problems).toEqual([]);
  }, 60_000);
});
