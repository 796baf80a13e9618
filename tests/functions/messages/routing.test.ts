import { appendFileSync, rmSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { consumeNext } from "../../../functions/messages/inbox-consume.ts";
import { routeCompletions } from "../../../functions/messages/routing.ts";
import { DISPATCH_PLUGINS } from "../../../functions/executors.ts";
import { dispatchPass } from "../../../functions/queue/dispatch-pass.ts";
import { makeCtx, type Ctx } from "../../../functions/lib/ctx.ts";
import { openDatabase } from "../../../functions/lib/db.ts";
import { createTask, registerSession, uniqueName } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { codexMeta, codexRollout } from "../../helpers/transcripts.ts";
import { firstPollDone, observeNotifier } from "./waiting.ts";

let env: TestEnv;
let ctx: Ctx;
beforeEach(async () => {
  env = await makeTestEnv();
  ctx = makeCtx(env.services, { kind: "daemon", tokenId: "tok_dispatch" });
});
afterEach(() => env.close());

/** A worker whose Codex rollout the test appends to, and helpers to complete turns in it. */
async function rolloutWorker() {
  const rollout = codexRollout(env, uniqueName("rollout"), codexMeta("w", env.dir));
  const worker = await registerSession(env, "worker", { codex_session: rollout });
  let turn = 0;
  const complete = () => {
    turn++;
    appendFileSync(
      rollout,
      [
        { type: "event_msg", payload: { type: "user_message", message: `do part ${turn}` } },
        { type: "event_msg", payload: { type: "task_complete", last_agent_message: `done ${turn}` } },
      ]
        .map((l) => `${JSON.stringify({ timestamp: "2026-11-21T12:00:01.000Z", ...l })}\n`)
        .join(""),
    );
  };
  return { worker, rollout, complete };
}

async function bind(task: string, worker: string, manager: string) {
  const res = await env.call("POST", "/v1/bindings", { body: { task, worker, manager } });
  expect(res.status).toBe(201);
  return res.body.binding_id as string;
}

const itemsOf = async (sessionId: string) =>
  (await env.services.database.client.execute({ sql: "SELECT * FROM inbox_items WHERE target_session_id = ? ORDER BY rowid", args: [sessionId] })).rows;

describe("routeCompletions", () => {
  it("ingests the worker, routes each new task_complete to the bound manager once, and reports it", async () => {
    const { worker, complete } = await rolloutWorker();
    const manager = await registerSession(env, "manager");
    const task = await createTask(env);
    const bindingId = await bind(task.task.name, worker.session.name, manager.session.name);
    complete();
    complete();

    const report = await routeCompletions(ctx);
    expect(report).toMatchObject({ bindings: 1, ingested: 1, ingest_errors: [], routed: 2, suppressed_duplicates: 0 });
    const items = await itemsOf(manager.session_id);
    expect(items.map((i) => JSON.parse(String(i.payload_json)).last_agent_message)).toEqual(["done 1", "done 2"]);
    expect(items[0]).toMatchObject({
      signal_type: "worker_task_complete",
      source_session_id: worker.session_id,
      task_id: task.task_id,
      binding_id: bindingId,
      delivery_mode: "pull_required",
      dedup_key: `worker_task_complete:${bindingId}:${items[0]!.source_event_id}`,
    });
    expect(report.items.map((i) => i.correlation_id)).toEqual(items.map((i) => i.correlation_id));
    expect(new Set(items.map((i) => i.correlation_id)).size).toBe(2);
    const audited = await env.services.database.client.execute("SELECT count(*) AS n FROM events WHERE kind = 'dispatch_completion_routed'");
    expect(audited.rows[0]!.n).toBe(2);

    expect(await routeCompletions(ctx)).toMatchObject({ routed: 0, suppressed_duplicates: 0 });
    complete();
    expect((await routeCompletions(ctx)).routed).toBe(1);
    expect(await itemsOf(manager.session_id)).toHaveLength(3);
  });

  it("never routes a completion from an earlier binding to a new manager", async () => {
    const { worker, complete } = await rolloutWorker();
    const first = await registerSession(env, "manager");
    const second = await registerSession(env, "manager");
    const task = await createTask(env);
    await bind(task.task.name, worker.session.name, first.session.name);
    complete();
    expect((await routeCompletions(ctx)).routed).toBe(1);
    // A completion of the first binding that no pass routed before it ended.
    complete();
    await env.call("POST", `/v1/sessions/${worker.session.name}/ingest`);
    expect((await env.call("POST", "/v1/bindings/unbind", { body: { task: task.task.name } })).status).toBe(200);
    await bind(task.task.name, worker.session.name, second.session.name);

    expect((await routeCompletions(ctx)).routed).toBe(0);
    expect(await itemsOf(second.session_id)).toHaveLength(0);
    complete();
    expect((await routeCompletions(ctx)).routed).toBe(1);
    const items = await itemsOf(second.session_id);
    expect(items.map((i) => JSON.parse(String(i.payload_json)).last_agent_message)).toEqual(["done 3"]);
    expect(await itemsOf(first.session_id)).toHaveLength(1);
  });

  it("does not route to a new manager a completion written before the bind but never ingested", async () => {
    const { worker, complete } = await rolloutWorker();
    const manager = await registerSession(env, "manager");
    complete();
    const task = await createTask(env);
    // bind ingests the worker first, so this completion sits under the new binding's watermark.
    await bind(task.task.name, worker.session.name, manager.session.name);
    expect((await routeCompletions(ctx)).routed).toBe(0);
    complete();
    expect((await routeCompletions(ctx)).routed).toBe(1);
    expect((await itemsOf(manager.session_id)).map((i) => JSON.parse(String(i.payload_json)).last_agent_message)).toEqual(["done 2"]);
  });

  it("creates one item per completion when passes in two connections race", async () => {
    const { worker, complete } = await rolloutWorker();
    const manager = await registerSession(env, "manager");
    const task = await createTask(env);
    await bind(task.task.name, worker.session.name, manager.session.name);
    for (let i = 0; i < 5; i++) complete();
    await env.call("POST", `/v1/sessions/${worker.session.name}/ingest`);
    const second = await openDatabase({ url: env.services.database.url });
    try {
      const other = makeCtx({ ...env.services, database: second }, ctx.auth);
      const reports = await Promise.all([routeCompletions(ctx), routeCompletions(other), routeCompletions(ctx)]);
      expect(reports.reduce((n, r) => n + r.routed, 0)).toBe(5);
      expect(await itemsOf(manager.session_id)).toHaveLength(5);
    } finally {
      second.close();
    }
  });

  it("reports a worker transcript it cannot read and still routes the events already stored", async () => {
    const { worker, rollout, complete } = await rolloutWorker();
    const manager = await registerSession(env, "manager", { host: "elsewhere", tmux_session: "mgr-pane" });
    const task = await createTask(env);
    await bind(task.task.name, worker.session.name, manager.session.name);
    complete();
    await env.call("POST", `/v1/sessions/${worker.session.name}/ingest`);
    rmSync(rollout);
    const report = await routeCompletions(ctx);
    expect(report).toMatchObject({
      ingested: 0,
      routed: 1,
      ingest_errors: [{ session: worker.session.name, error: expect.stringMatching(/not readable/) }],
    });
    // The manager has a pane: the item also gets a deliver command.
    const [item] = await itemsOf(manager.session_id);
    expect(item!.delivery_command_id).toMatch(/^cmd_/);
  });

  it("skips ingest for a worker on another host and routes what is stored", async () => {
    const worker = await registerSession(env, "worker", { host: "elsewhere", codex_session: "/nowhere/rollout.jsonl" });
    const manager = await registerSession(env, "manager");
    const task = await createTask(env);
    await bind(task.task.name, worker.session.name, manager.session.name);
    expect(await routeCompletions(ctx)).toMatchObject({ bindings: 1, ingested: 0, ingest_errors: [], routed: 0 });
  });

  // What `switchyard up` does all day: the dispatch-pass cron and an app manager's long poll share
  // one process, so the consumer wakes and writes while the pass goes on to claim commands. Their
  // writes must not collide: a write issued while the pass holds an interactive transaction open
  // across awaits freezes the process for the busy timeout, then fails with TRANSACTION_CLOSED.
  it("runs inside a dispatch pass: an app manager long-polling its inbox is woken with the completion", async () => {
    const { worker, complete } = await rolloutWorker();
    const manager = await registerSession(env, "manager");
    const task = await createTask(env);
    await bind(task.task.name, worker.session.name, manager.session.name);
    const listening = observeNotifier(env).listening(manager.session_id);
    const waiting = consumeNext(
      makeCtx(env.services, { kind: "owner", tokenId: "tok_app" }),
      { task: task.task.name, role: "manager" },
      { wait: true, timeout: 240, interval: 60 },
    );
    await listening;
    await firstPollDone();
    complete();
    const pass = await dispatchPass(makeCtx(env.services, { kind: "daemon", tokenId: "tok_dispatch" }), DISPATCH_PLUGINS, { dispatcherId: "dispatch-test" });
    expect(pass.routing).toMatchObject({ routed: 1 });
    const got = await waiting;
    expect(got).toMatchObject({
      task: task.task.name,
      woken_by: "notifier",
      item: { signal_type: "worker_task_complete", delivery_mode: "pull_required", payload: { last_agent_message: "done 1" } },
    });
  });
});
