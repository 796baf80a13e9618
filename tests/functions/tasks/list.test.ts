import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tasks } from "../../../schema/tasks.ts";
import { createTask, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv, PINNED_EPOCH } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv({ clockAt: PINNED_EPOCH });
});
afterEach(() => env.close());

describe("GET /v1/tasks", () => {
  it("lists every task oldest first and filters by state", async () => {
    await createTask(env, { name: "a" });
    env.clock.advance(1);
    await createTask(env, { name: "b" });
    // No route finishes tasks yet; set the state directly to exercise the filter.
    await env.services.database.db.update(tasks).set({ state: "finished", finishedAt: env.clock.ms }).where(eq(tasks.name, "a"));

    const all = await env.call("GET", "/v1/tasks");
    expect(all.status).toBe(200);
    expect(all.body.tasks.map((t: any) => t.name)).toEqual(["a", "b"]);
    expect(all.body.count).toBe(2);
    expect((await env.call("GET", "/v1/tasks?state=active")).body.tasks.map((t: any) => t.name)).toEqual(["b"]);
    const finished = await env.call("GET", "/v1/tasks?state=finished");
    expect(finished.body.tasks).toEqual([expect.objectContaining({ name: "a", state: "finished", finished_at: "2026-11-21T12:00:01.000Z" })]);
  });

  it("answers an empty list on a fresh database", async () => {
    expect((await env.call("GET", "/v1/tasks")).body).toEqual({ tasks: [], count: 0, next_cursor: null });
  });

  it("rejects an unknown state", async () => {
    const res = await env.call("GET", "/v1/tasks?state=paused");
    expect(res.status).toBe(400);
    expect(res.body.error.fields).toEqual([expect.objectContaining({ field: "state" })]);
  });

  it("is readable by daemon and session, not by a runner", async () => {
    await createTask(env);
    const w = await registerSession(env, "worker");
    expect((await env.call("GET", "/v1/tasks", { token: w.token })).body.count).toBe(1);
    expect((await env.call("GET", "/v1/tasks", { token: await env.mint("daemon") })).status).toBe(200);
    expect((await env.call("GET", "/v1/tasks", { token: await env.mint("runner", "h") })).status).toBe(403);
  });
});
