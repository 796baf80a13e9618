import { makeId } from "../../functions/lib/ids.ts";
import { events, type EventRow } from "../../schema/events.ts";
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

/** Every events row in the database. */
export async function eventRows(env: TestEnv): Promise<EventRow[]> {
  return env.services.database.db.select().from(events);
}

/** Runs `fn` and returns its result with the events rows it wrote. */
export async function withNewEvents<T>(env: TestEnv, fn: () => Promise<T>): Promise<{ result: T; events: EventRow[] }> {
  const before = new Set((await eventRows(env)).map((e) => e.id));
  const result = await fn();
  return { result, events: (await eventRows(env)).filter((e) => !before.has(e.id)) };
}

/** Writes an events row directly, e.g. one carrying content that no current route writes yet. */
export async function insertEvent(env: TestEnv, row: { kind: string; taskId?: string | null; sessionId?: string | null; payload: Record<string, unknown> }) {
  const id = makeId("evt", env.clock.ms);
  await env.services.database.db.insert(events).values({
    id,
    kind: row.kind,
    taskId: row.taskId ?? null,
    sessionId: row.sessionId ?? null,
    actor: "owner:test",
    payload: row.payload,
    createdAt: env.clock.ms,
  });
  return id;
}

/** Deregisters a session through the API. */
export async function deregister(env: TestEnv, name: string) {
  const res = await env.call("POST", `/v1/sessions/${name}/deregister`);
  if (res.status !== 200) throw new Error(`deregister failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}
