import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tasks } from "../../../schema/tasks.ts";
import { registerSession, withNewEvents } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv, PINNED_EPOCH } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv({ clockAt: PINNED_EPOCH });
});
afterEach(() => env.close());

describe("POST /v1/tasks", () => {
  it("creates an active task and writes exactly one task_created event", async () => {
    const { result: res, events } = await withNewEvents(env, () =>
      env.call("POST", "/v1/tasks", { body: { name: "auth-refactor", goal: "Refactor auth", summary: "split module" } }),
    );
    expect(res.status).toBe(201);
    expect(res.body.task).toMatchObject({ name: "auth-refactor", goal: "Refactor auth", summary: "split module", state: "active", finished_at: null });
    expect(res.body.task.created_at).toBe("2026-11-21T12:00:00.000Z");
    const [row] = await env.services.database.db.select().from(tasks).where(eq(tasks.id, res.body.task_id));
    expect(row).toMatchObject({ name: "auth-refactor", state: "active" });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ id: res.body.event_id, kind: "task_created", taskId: res.body.task_id, actor: expect.stringMatching(/^owner:tok_/) });
  });

  it("accepts a task with only a name", async () => {
    const res = await env.call("POST", "/v1/tasks", { body: { name: "bare" } });
    expect(res.status).toBe(201);
    expect(res.body.task).toMatchObject({ goal: null, summary: null });
  });

  it("refuses a duplicate name with NAME_TAKEN and writes nothing", async () => {
    await env.call("POST", "/v1/tasks", { body: { name: "t1" } });
    const { result: res, events } = await withNewEvents(env, () => env.call("POST", "/v1/tasks", { body: { name: "t1", goal: "other" } }));
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("NAME_TAKEN");
    expect(res.body.error.hint).toContain("task show t1");
    expect(events).toHaveLength(0);
    expect(await env.services.database.db.select().from(tasks)).toHaveLength(1);
  });

  it("lists every invalid field", async () => {
    const res = await env.call("POST", "/v1/tasks", { body: { name: "has space", goal: "", summary: 3, owner: "me" } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("VALIDATION_FAILED");
    expect(res.body.error.fields.map((f: any) => f.field).sort()).toEqual(["goal", "name", "owner", "summary"]);
  });

  it("is owner-only", async () => {
    const w = await registerSession(env, "worker");
    for (const token of [w.token, await env.mint("daemon"), await env.mint("runner", "h")]) {
      const res = await env.call("POST", "/v1/tasks", { token, body: { name: "nope" } });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe("FORBIDDEN");
    }
    expect(await env.services.database.db.select().from(tasks)).toHaveLength(0);
  });
});
