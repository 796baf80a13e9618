import { dispatchers } from "../../../schema/commands.ts";
import { inboxItems } from "../../../schema/messages.ts";
import { makeId } from "../../../functions/lib/ids.ts";
import { boundPair } from "../../helpers/factories.ts";
import type { TestEnv } from "../../helpers/services.ts";

/**
 * A bound app pair: the manager has an app thread, the worker has none unless asked, so
 * both wake outcomes (ready and blocked) are reachable from one fixture.
 */
export async function appPair(env: TestEnv, opts: { workerThread?: boolean } = {}) {
  const pair = await boundPair(env, {
    manager: { thread_id: "thr_manager_1", thread_title: "Manager: ship it" },
    worker: opts.workerThread ? { thread_id: "thr_worker_1", thread_title: "Worker: ship it" } : {},
  });
  return { ...pair, task: pair.task.task.name, taskId: pair.task.task_id };
}

/** Records an app heartbeat for a role as the owner, at the current fake time. */
export async function beat(env: TestEnv, task: string, role: "manager" | "worker") {
  const res = await env.call("POST", `/v1/tasks/${task}/app-loop/heartbeat`, { body: { role } });
  if (res.status !== 200) throw new Error(`heartbeat failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Writes a dispatcher row as the dispatcher engineer's watch loop would. */
export async function dispatcherAt(env: TestEnv, id: string, heartbeatAt: number, state: "running" | "stopped" = "running") {
  await env.services.database.db.insert(dispatchers).values({ id, state, startedAt: heartbeatAt, heartbeatAt, host: "test-host", pid: 1 });
}

/** Queues one unconsumed pull-required inbox item for a session. */
export async function pendingInboxItem(env: TestEnv, targetSessionId: string, taskId: string) {
  await env.services.database.db.insert(inboxItems).values({
    id: makeId("inb", env.clock.ms),
    targetSessionId,
    taskId,
    signalType: "notify_manager",
    payload: {},
    deliveryMode: "pull_required",
    createdAt: env.clock.ms,
  });
}
