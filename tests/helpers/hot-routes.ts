import { writeFileSync } from "node:fs";
import { DISPATCH_PLUGINS } from "../../functions/executors.ts";
import { makeCtx } from "../../functions/lib/ctx.ts";
import { dispatchPass } from "../../functions/queue/dispatch-pass.ts";
import { boundPair, createTask, registerSession, uniqueName } from "./factories.ts";
import type { TestEnv } from "./services.ts";
import { codexRollout } from "./transcripts.ts";

/*
 * The hot operations of issue 10's round-trip budget, each as "set up, then one measured call".
 * The round-trip test (tests/functions/round-trips.test.ts) and the queue benchmark
 * (bench/queue-perf.ts) both run these, so the budget and the benchmark measure the same calls.
 */

/** One measured call; resolves once its answer has been checked. */
export type MeasuredCall = () => Promise<void>;

/** A hot operation: `prepare` builds what the call needs (not measured) and returns the call. */
export interface HotOperation {
  name: string;
  prepare(env: TestEnv): Promise<MeasuredCall>;
}

/** Calls the app and checks the status, so a measured call that failed never counts as fast. */
async function expectStatus(env: TestEnv, status: number, method: string, path: string, opts: Parameters<TestEnv["call"]>[2] = {}) {
  const res = await env.call(method, path, opts);
  if (res.status !== status) throw new Error(`${method} ${path}: expected ${status}, got ${res.status} ${JSON.stringify(res.body)}`);
  return res;
}

/** A worker registered on a host this process cannot reach, with a tmux pane: what runners serve. */
async function remoteWorker(env: TestEnv) {
  return registerSession(env, "worker", { host: "remote-b", tmux_session: uniqueName("pane") });
}

/** A session with one unread inbox item. */
async function withInboxItem(env: TestEnv) {
  const s = await registerSession(env, "manager");
  await expectStatus(env, 201, "POST", "/v1/messages", { body: { to: s.session.name, body: "hello" } });
  return s;
}

/**
 * A bound pair whose manager's inbox holds a message from its worker: an answer about it names a
 * sender and a task, which must not cost reads of their own.
 */
async function managerInboxWithItem(env: TestEnv) {
  const pair = await boundPair(env);
  await expectStatus(env, 201, "POST", `/v1/tasks/${pair.task.task.name}/notify-manager`, { token: pair.worker.token, body: { message: "done?" } });
  const dispatcher = makeCtx(env.services, { kind: "daemon", tokenId: "hot-routes" });
  const pass = await dispatchPass(dispatcher, DISPATCH_PLUGINS, { dispatcherId: "hot-routes", route: false, types: ["notify_manager"] });
  if (pass.succeeded !== 1) throw new Error(`notify_manager not delivered: ${JSON.stringify(pass)}`);
  return pair;
}

/** Queues a capture for a remote worker and returns a runner token for its host. */
async function queuedCapture(env: TestEnv) {
  const w = await remoteWorker(env);
  await expectStatus(env, 201, "POST", `/v1/sessions/${w.session.name}/commands`, { body: { type: "capture" } });
  return { runner: await env.mint("runner", "remote-b") };
}

/** The operations issue 10 lists, in its order. */
export const HOT_OPERATIONS: HotOperation[] = [
  {
    name: "register",
    prepare: async (env) => () => expectStatus(env, 201, "POST", "/v1/sessions", { body: { name: uniqueName("reg"), role: "worker" } }).then(() => {}),
  },
  {
    name: "bind",
    async prepare(env) {
      const t = await createTask(env);
      const w = await registerSession(env, "worker");
      const m = await registerSession(env, "manager");
      return async () => {
        await expectStatus(env, 201, "POST", "/v1/bindings", { body: { task: t.task.name, worker: w.session.name, manager: m.session.name } });
      };
    },
  },
  {
    name: "heartbeat",
    async prepare(env) {
      const s = await registerSession(env, "worker");
      return async () => {
        await expectStatus(env, 200, "POST", `/v1/sessions/${s.session.name}/heartbeat`, { token: s.token });
      };
    },
  },
  {
    name: "send",
    async prepare(env) {
      const s = await registerSession(env, "manager");
      return async () => {
        await expectStatus(env, 201, "POST", "/v1/messages", { body: { to: s.session.name, body: "hello" } });
      };
    },
  },
  {
    name: "inbox list",
    async prepare(env) {
      const s = await withInboxItem(env);
      return async () => {
        await expectStatus(env, 200, "GET", `/v1/sessions/${s.session.name}/inbox`, { token: s.token });
      };
    },
  },
  {
    name: "inbox consume",
    async prepare(env) {
      const s = await withInboxItem(env);
      return async () => {
        const res = await expectStatus(env, 200, "POST", `/v1/sessions/${s.session.name}/inbox/consume`, { token: s.token, body: {} });
        if (!res.body.item) throw new Error("consume returned no item");
      };
    },
  },
  {
    name: "inbox list, a task's items from its worker",
    async prepare(env) {
      const pair = await managerInboxWithItem(env);
      return async () => {
        const res = await expectStatus(env, 200, "GET", `/v1/tasks/${pair.task.task.name}/manager-inbox`, { token: pair.manager.token });
        const [item] = res.body.items;
        if (item?.source_session !== pair.worker.session.name || item.task !== pair.task.task.name)
          throw new Error(`list returned no named item: ${JSON.stringify(res.body.items)}`);
      };
    },
  },
  {
    name: "inbox consume, a task's item from its worker",
    async prepare(env) {
      const pair = await managerInboxWithItem(env);
      return async () => {
        const res = await expectStatus(env, 200, "POST", `/v1/tasks/${pair.task.task.name}/manager-inbox/consume`, { token: pair.manager.token, body: {} });
        if (res.body.item?.source_session !== pair.worker.session.name || res.body.item.task !== pair.task.task.name)
          throw new Error(`consume returned no named item: ${JSON.stringify(res.body.item)}`);
      };
    },
  },
  {
    name: "send, as a session",
    async prepare(env) {
      const from = await registerSession(env, "worker");
      const to = await registerSession(env, "manager");
      return async () => {
        const res = await expectStatus(env, 201, "POST", "/v1/messages", { token: from.token, body: { to: to.session.name, body: "hello" } });
        if (res.body.message.from_session !== from.session.name) throw new Error(`sent as ${res.body.message.from_session}`);
      };
    },
  },
  {
    name: "register, with a transcript",
    async prepare(env) {
      const name = uniqueName("reg-t");
      const path = codexRollout(env, name);
      return async () => {
        await expectStatus(env, 201, "POST", "/v1/sessions", { body: { name, role: "worker", codex_session: path } });
      };
    },
  },
  {
    name: "enqueue",
    async prepare(env) {
      const w = await remoteWorker(env);
      return async () => {
        await expectStatus(env, 201, "POST", `/v1/sessions/${w.session.name}/commands`, { body: { type: "capture" } });
      };
    },
  },
  {
    name: "runner claim",
    async prepare(env) {
      const { runner } = await queuedCapture(env);
      return async () => {
        const res = await expectStatus(env, 200, "POST", "/v1/runner/claim", { token: runner, body: { runner_id: "r1", limit: 1 } });
        if (res.body.count !== 1) throw new Error(`claimed ${res.body.count} commands, expected 1`);
      };
    },
  },
  {
    name: "runner started",
    async prepare(env) {
      const { runner } = await queuedCapture(env);
      const [claim] = (await expectStatus(env, 200, "POST", "/v1/runner/claim", { token: runner, body: { runner_id: "r1", limit: 1 } })).body.claims;
      return async () => {
        const res = await expectStatus(env, 200, "POST", `/v1/runner/attempts/${claim.attempt_id}/started`, { token: runner });
        if (res.body.started !== true) throw new Error("started was refused");
      };
    },
  },
  {
    name: "runner complete",
    async prepare(env) {
      const { runner } = await queuedCapture(env);
      const [claim] = (await expectStatus(env, 200, "POST", "/v1/runner/claim", { token: runner, body: { runner_id: "r1", limit: 1 } })).body.claims;
      await expectStatus(env, 200, "POST", `/v1/runner/attempts/${claim.attempt_id}/started`, { token: runner });
      return async () => {
        await expectStatus(env, 200, "POST", `/v1/runner/commands/${claim.command.id}/complete`, {
          token: runner,
          body: { attempt_id: claim.attempt_id, generation: claim.generation, ok: true, result: { pane: "$ " } },
        });
      };
    },
  },
  {
    name: "cycle, nothing new",
    async prepare(env) {
      const path = codexRollout(env, uniqueName("cycle"));
      const w = await registerSession(env, "worker", { codex_session: path });
      writeFileSync(path, `${JSON.stringify({ timestamp: new Date(env.clock.ms).toISOString(), type: "event_msg", payload: { type: "task_started" } })}\n`, {
        flag: "a",
      });
      const m = await registerSession(env, "manager");
      const t = await createTask(env);
      await expectStatus(env, 201, "POST", "/v1/bindings", { body: { task: t.task.name, worker: w.session.name, manager: m.session.name } });
      await expectStatus(env, 200, "POST", `/v1/tasks/${t.task.name}/cycle`, { body: {} });
      return async () => {
        await expectStatus(env, 200, "POST", `/v1/tasks/${t.task.name}/cycle`, { body: {} });
      };
    },
  },
  {
    // Not in the list, but every cycle that finds new lines pays it: the cursor moves and
    // the chunk's events are stored in one batch, never in a transaction held across round trips.
    name: "ingest, new lines",
    async prepare(env) {
      const path = codexRollout(env, uniqueName("ingest"));
      const w = await registerSession(env, "worker", { codex_session: path });
      await expectStatus(env, 200, "POST", `/v1/sessions/${w.session.name}/ingest`);
      return async () => {
        writeFileSync(path, `${JSON.stringify({ timestamp: new Date(env.clock.ms).toISOString(), type: "event_msg", payload: { type: "task_started" } })}\n`, {
          flag: "a",
        });
        const res = await expectStatus(env, 200, "POST", `/v1/sessions/${w.session.name}/ingest`);
        if (res.body.new_events !== 1) throw new Error(`ingest stored ${res.body.new_events} events, expected 1`);
      };
    },
  },
  {
    name: "auth + idempotency (send, new key)",
    async prepare(env) {
      const s = await registerSession(env, "manager");
      return async () => {
        await expectStatus(env, 201, "POST", "/v1/messages", { body: { to: s.session.name, body: "once" }, headers: { "Idempotency-Key": uniqueName("key") } });
      };
    },
  },
  {
    name: "auth + idempotency (inbox consume, new key)",
    async prepare(env) {
      const pair = await managerInboxWithItem(env);
      return async () => {
        const res = await expectStatus(env, 200, "POST", `/v1/tasks/${pair.task.task.name}/manager-inbox/consume`, {
          token: pair.manager.token,
          body: {},
          headers: { "Idempotency-Key": uniqueName("key") },
        });
        if (!res.body.item?.source_session || !res.body.item.task) throw new Error(`consume returned no named item: ${JSON.stringify(res.body.item)}`);
      };
    },
  },
  {
    name: "auth + idempotency (replay)",
    async prepare(env) {
      const s = await registerSession(env, "manager");
      const key = uniqueName("key");
      const opts = { body: { to: s.session.name, body: "once" }, headers: { "Idempotency-Key": key } };
      await expectStatus(env, 201, "POST", "/v1/messages", opts);
      return async () => {
        const res = await expectStatus(env, 201, "POST", "/v1/messages", opts);
        if (res.headers.get("Idempotent-Replayed") !== "true") throw new Error("the retry was not a replay");
      };
    },
  },
  {
    // Not in the list, but polled: a watch with nothing queued reads and writes nothing.
    name: "orchestrator watch, nothing queued",
    prepare: async (env) => async () => {
      const res = await expectStatus(env, 200, "POST", "/v1/orchestrator/watch", { body: { once: true } });
      if (res.body.count !== 0) throw new Error(`processed ${res.body.count} jobs, expected none`);
    },
  },
  // Refusals of the same operations: an agent's typo or a stale name must not cost more trips.
  {
    name: "send, unknown recipient (404)",
    prepare: async (env) => async () => {
      await expectStatus(env, 404, "POST", "/v1/messages", { body: { to: uniqueName("nobody"), body: "hello" } });
    },
  },
  {
    name: "enqueue, deregistered session (refused)",
    async prepare(env) {
      const w = await remoteWorker(env);
      await expectStatus(env, 200, "POST", `/v1/sessions/${w.session.name}/deregister`, { body: {} });
      return async () => {
        const res = await env.call("POST", `/v1/sessions/${w.session.name}/commands`, { body: { type: "capture" } });
        if (res.body.error?.code !== "SESSION_INACTIVE") throw new Error(`expected SESSION_INACTIVE, got ${res.status} ${JSON.stringify(res.body)}`);
      };
    },
  },
  {
    name: "bind, task already bound (409)",
    async prepare(env) {
      const pair = await boundPair(env);
      const w = await registerSession(env, "worker");
      return async () => {
        await expectStatus(env, 409, "POST", "/v1/bindings", {
          body: { task: pair.task.task.name, worker: w.session.name, manager: pair.manager.session.name },
        });
      };
    },
  },
];
