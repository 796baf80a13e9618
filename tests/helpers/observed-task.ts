import { appendFileSync, writeFileSync } from "node:fs";
import { DISPATCH_PLUGINS } from "../../functions/executors.ts";
import { makeCtx } from "../../functions/lib/ctx.ts";
import { dispatchPass } from "../../functions/queue/dispatch-pass.ts";
import { createTask, registerSession, uniqueName } from "./factories.ts";
import type { TestEnv } from "./services.ts";
import { codexMeta, codexRollout, holdOpen, type Holder } from "./transcripts.ts";

/** Secrets a test plants where content lives: in the worker's transcript and in a prompt. */
export const TRANSCRIPT_SECRET = "sk-transcript-7f3a9c1e5b";
export const PROMPT_SECRET = "sk-prompt-4d2b8e6a0c";

/** A task driven through the API and the dispatcher, as a manager and worker would. */
export interface ObservedTask {
  task: string;
  taskId: string;
  worker: { name: string; token: string; id: string };
  manager: { name: string; token: string; id: string };
  advisor: { name: string; token: string; id: string };
  rollout: string;
  holder: Holder;
  adviceId: string;
  approvedText: string;
  /** Kills the manager's stand-in process. */
  stop(): Promise<void>;
}

const ago = (env: TestEnv, s: number) => new Date(env.clock.ms - s * 1000).toISOString();
const line = (ts: string, payload: Record<string, unknown>) => `${JSON.stringify({ timestamp: ts, type: "event_msg", payload })}\n`;

/** Calls the API and fails loudly on anything but the expected status. */
async function ok(env: TestEnv, method: string, path: string, opts: { body?: unknown; token?: string } = {}, status = [200, 201]) {
  const res = await env.call(method, path, opts);
  if (!status.includes(res.status)) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/**
 * Registers a worker (Codex rollout, no tmux) and a manager (a live process holding its rollout),
 * binds them, and drives the task through real commands: the worker's transcript gains a turn
 * whose message carries TRANSCRIPT_SECRET; a cycle ingests it; a dispatch pass routes the
 * completion to the manager's inbox, which the manager consumes; the manager records a decision
 * and a criterion; the owner queues a nudge whose text carries PROMPT_SECRET, which the next pass
 * delivers to the worker's inbox; the worker asks an advisor, and the owner approves an edited
 * draft and sends it.
 */
export async function driveObservedTask(env: TestEnv): Promise<ObservedTask> {
  const rollout = codexRollout(env, uniqueName("observed"), null);
  writeFileSync(rollout, codexMeta());
  const worker = await registerSession(env, "worker", { codex_session: rollout });
  const mPath = codexRollout(env, uniqueName("observed-manager"));
  const holder = await holdOpen(mPath);
  const manager = await registerSession(env, "manager", { pid: holder.pid, codex_session: mPath });
  const advisor = await registerSession(env, "manager");
  const t = await createTask(env, { goal: "ship the observed thing" });
  await ok(env, "POST", "/v1/bindings", { body: { task: t.task.name, worker: worker.session.name, manager: manager.session.name } });
  const task = t.task.name;

  env.clock.advance(5);
  appendFileSync(
    rollout,
    line(ago(env, 4), { type: "user_message", message: "please rotate the keys" }) +
      line(ago(env, 3), { type: "task_started" }) +
      line(ago(env, 2), { type: "agent_message", message: `I rotated them; the new key is ${TRANSCRIPT_SECRET}` }) +
      line(ago(env, 1), { type: "task_complete", last_agent_message: `done: ${TRANSCRIPT_SECRET}` }),
  );
  await ok(env, "POST", `/v1/tasks/${task}/cycle`, { body: {} });

  const daemon = makeCtx(env.services, { kind: "daemon", tokenId: "tok_test_daemon" });
  env.clock.advance(1);
  await dispatchPass(daemon, DISPATCH_PLUGINS, { dispatcherId: "obs-dispatch", route: true });
  await ok(env, "POST", `/v1/sessions/${manager.session.name}/inbox/consume`, { token: manager.token, body: {} });

  env.clock.advance(1);
  await ok(env, "POST", `/v1/tasks/${task}/decisions`, { token: manager.token, body: { decision: "nudge", reason: "ask for the test run" } });
  await ok(env, "POST", `/v1/tasks/${task}/criteria`, { token: manager.token, body: { criterion: "the tests pass", source: "manager_inferred" } });
  await ok(env, "POST", `/v1/tasks/${task}/nudge-worker`, { body: { message: `run the tests with token ${PROMPT_SECRET}` } });
  env.clock.advance(1);
  await dispatchPass(daemon, DISPATCH_PLUGINS, { dispatcherId: "obs-dispatch", route: true });

  env.clock.advance(1);
  const sent = await ok(env, "POST", "/v1/messages", {
    token: worker.token,
    body: { to: advisor.session.name, body: "How should I split the session module?", msg_type: "request", subject: "module split" },
  });
  const ingested = await ok(env, "POST", `/v1/broker/messages/${sent.message_id}/ingest`, { body: {} });
  await ok(env, "POST", "/v1/orchestrator/watch", { body: { once: true } });
  const approvedText = "Split by route; keep the shared types in one file.";
  await ok(env, "POST", `/v1/broker/advice/${ingested.advice_id}/approve`, { body: { edit: approvedText } });
  await ok(env, "POST", `/v1/broker/advice/${ingested.advice_id}/send-approved`, { body: {} });

  return {
    task,
    taskId: t.task_id,
    worker: { name: worker.session.name, token: worker.token, id: worker.session_id },
    manager: { name: manager.session.name, token: manager.token, id: manager.session_id },
    advisor: { name: advisor.session.name, token: advisor.token, id: advisor.session_id },
    rollout,
    holder,
    adviceId: ingested.advice_id,
    approvedText,
    stop: () => holder.stop(),
  };
}
