import type { TestEnv } from "./services.ts";

let seq = 0;
/** A unique, valid name for a row in one test file. */
export function uniqueName(prefix: string): string {
  seq += 1;
  return `${prefix}-${seq}`;
}

/** Registers a session through the API and returns the wire result (including its token). */
export async function registerSession(env: TestEnv, role: "worker" | "manager", over: Record<string, unknown> = {}) {
  const res = await env.call("POST", "/v1/sessions", { body: { name: uniqueName(role), role, ...over } });
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { session_id: string; token: string; session: { name: string } };
}

/** Creates a task through the API. */
export async function createTask(env: TestEnv, over: Record<string, unknown> = {}) {
  const res = await env.call("POST", "/v1/tasks", { body: { name: uniqueName("task"), goal: "a goal", ...over } });
  if (res.status !== 201) throw new Error(`create task failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { task_id: string; task: { name: string } };
}

/** Creates a task with a bound worker and manager. */
export async function boundPair(env: TestEnv, over: { worker?: Record<string, unknown>; manager?: Record<string, unknown> } = {}) {
  const task = await createTask(env);
  const worker = await registerSession(env, "worker", over.worker);
  const manager = await registerSession(env, "manager", over.manager);
  const res = await env.call("POST", "/v1/bindings", { body: { task: task.task.name, worker: worker.session.name, manager: manager.session.name } });
  if (res.status !== 201) throw new Error(`bind failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { task, worker, manager, binding: res.body };
}
