import { makeCtx } from "../../../functions/lib/ctx.ts";
import { boundPair } from "../../helpers/factories.ts";
import type { TestEnv } from "../../helpers/services.ts";

/** A bound task with its session tokens, plus short helpers for its supervision routes. */
export async function supervised(env: TestEnv) {
  const pair = await boundPair(env);
  const task = pair.task.task.name;
  const path = (rest: string) => `/v1/tasks/${task}/${rest}`;
  return {
    ...pair,
    name: task,
    taskId: pair.task.task_id,
    path,
    /** POST as the owner (or the given token). */
    post: (rest: string, body: unknown = {}, token?: string | null) => env.call("POST", path(rest), { body, token }),
    get: (rest: string, token?: string | null) => env.call("GET", path(rest), { token }),
  };
}

/** A daemon ctx for calling domain functions directly (dispatch passes). */
export const daemonCtx = (env: TestEnv) => makeCtx(env.services, { kind: "daemon", tokenId: "tok_test_daemon" });

/** Events rows of a task of one kind, oldest first. */
export async function eventsOf(env: TestEnv, taskId: string, kind: string) {
  const rs = await env.services.database.client.execute({
    sql: "SELECT * FROM events WHERE task_id = ? AND kind = ? ORDER BY created_at, id",
    args: [taskId, kind],
  });
  return rs.rows.map((r) => ({ ...r, payload: JSON.parse(String(r.payload_json)) })) as Array<Record<string, any>>;
}
