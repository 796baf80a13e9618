import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTask, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

/*
 * A task's history names the sessions of its bindings. taskSessions reads the newest 50 bindings;
 * a task rebound more often than that must still name, and filter by role, what its older
 * sessions did, and the audit must say its sessions section is cut.
 */
let env: TestEnv;
let task: string;
let first: string;
let current: string;
const REBINDS = 52;

beforeAll(async () => {
  env = await makeTestEnv();
  task = (await createTask(env)).task.name;
  const worker = await registerSession(env, "worker");
  for (let i = 0; i < REBINDS; i++) {
    const m = await registerSession(env, "manager");
    expect((await env.call("POST", "/v1/bindings", { body: { task, worker: worker.session.name, manager: m.session.name } })).status).toBe(201);
    if (i === 0) {
      first = m.session.name;
      // A command for the first manager, while it was bound.
      expect((await env.call("POST", `/v1/tasks/${task}/notify-manager`, { body: { message: "from the start" } })).status).toBe(201);
    }
    current = m.session.name;
    if (i < REBINDS - 1) expect((await env.call("POST", "/v1/bindings/unbind", { body: { task } })).status).toBe(200);
    env.clock.advance(1);
  }
  expect((await env.call("POST", `/v1/tasks/${task}/notify-manager`, { body: { message: "now" } })).status).toBe(201);
}, 120_000);
afterAll(() => env.close());

describe("a task rebound more than 50 times", () => {
  it("replay names the first manager's command and keeps it under role=manager", async () => {
    const r = await env.call("GET", `/v1/tasks/${task}/replay?role=manager&limit=500`);
    expect(r.status).toBe(200);
    const commands = r.body.entries.filter((e: any) => e.source === "command" && e.detail.type === "notify_manager");
    expect(commands.map((e: any) => [e.role, e.session])).toEqual([
      ["manager", first],
      ["manager", current],
    ]);
  });

  it("a role-filtered page reads on past the other role's entries instead of answering empty", async () => {
    const r = await env.call("GET", `/v1/tasks/${task}/replay?role=manager&limit=1`);
    expect(r.status).toBe(200);
    expect(r.body.entries.map((e: any) => [e.role, e.session])).toEqual([["manager", first]]);
    expect(r.body.next_cursor).toEqual(expect.any(String));
  });

  it("the audit names the sessions section as cut, and still holds the current manager", async () => {
    const r = await env.call("GET", `/v1/tasks/${task}/audit`);
    expect(r.status).toBe(200);
    expect(r.body.truncated).toContain("sessions");
    expect(r.body.sessions.map((s: any) => s.name)).toContain(current);
  });
});
