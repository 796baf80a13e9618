import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { boundPair, createTask, insertEvent, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("GET /v1/tasks/{name}/audit", () => {
  it("lists the task's own events oldest first", async () => {
    const { task } = await boundPair(env);
    await createTask(env, { name: "unrelated" });
    env.clock.advance(1);
    await env.call("POST", "/v1/bindings/unbind", { body: { task: task.task.name } });
    const res = await env.call("GET", `/v1/tasks/${task.task.name}/audit`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ task: task.task.name, task_id: task.task_id, count: 3, content_redacted: true });
    expect(res.body.events.map((e: any) => e.kind)).toEqual(["task_created", "task_bound", "task_unbound"]);
    expect(res.body.events.every((e: any) => e.task_id === task.task_id)).toBe(true);
  });

  it("redacts content fields by default, at any depth, and shows them with include_content=true", async () => {
    const t = await createTask(env);
    const payload = { message: "please rotate the keys", nested: { prompt: "do it", pane: "$ ls" }, list: [{ text: "hi" }], count: 2, worker: "w1" };
    await insertEvent(env, { kind: "message_sent", taskId: t.task_id, payload });

    const redacted = await env.call("GET", `/v1/tasks/${t.task.name}/audit`);
    const ev = redacted.body.events.find((e: any) => e.kind === "message_sent");
    expect(ev.payload).toEqual({
      message: "[redacted 22 chars]",
      nested: { prompt: "[redacted 5 chars]", pane: "[redacted 4 chars]" },
      list: [{ text: "[redacted 2 chars]" }],
      count: 2,
      worker: "w1",
    });
    expect(JSON.stringify(redacted.body)).not.toContain("rotate the keys");

    const full = await env.call("GET", `/v1/tasks/${t.task.name}/audit?include_content=true`);
    expect(full.body.content_redacted).toBe(false);
    expect(full.body.events.find((e: any) => e.kind === "message_sent").payload).toEqual(payload);
  });

  it("honours limit and rejects a bad one", async () => {
    const { task } = await boundPair(env);
    expect((await env.call("GET", `/v1/tasks/${task.task.name}/audit?limit=1`)).body.events.map((e: any) => e.kind)).toEqual(["task_created"]);
    const bad = await env.call("GET", `/v1/tasks/${task.task.name}/audit?limit=abc`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields).toEqual([expect.objectContaining({ field: "limit" })]);
  });

  it("answers NOT_FOUND for an unknown task", async () => {
    const res = await env.call("GET", "/v1/tasks/ghost/audit");
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("NOT_FOUND");
  });

  it("is for the owner and daemons only", async () => {
    const t = await createTask(env);
    const w = await registerSession(env, "worker");
    expect((await env.call("GET", `/v1/tasks/${t.task.name}/audit`, { token: await env.mint("daemon") })).status).toBe(200);
    expect((await env.call("GET", `/v1/tasks/${t.task.name}/audit`, { token: w.token })).status).toBe(403);
    expect((await env.call("GET", `/v1/tasks/${t.task.name}/audit`, { token: await env.mint("runner", "h") })).status).toBe(403);
  });
});
