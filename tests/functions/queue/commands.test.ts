import { describe, expect, it } from "vitest";
import { createCommand } from "../../../functions/queue/store.ts";
import { DISPATCH_PLUGINS } from "../../../functions/executors.ts";
import { dispatchPass } from "../../../functions/queue/dispatch-pass.ts";
import { boundPair } from "../../helpers/factories.ts";
import { captureStatements, readSteps } from "../../helpers/query-plans.ts";
import { commandRow, ownerCtx, recordingQueue } from "./helpers.ts";

const q = recordingQueue();

/** A dead command: one attempt that failed with max_attempts 1. */
async function deadCommand(taskId: string | null = null) {
  const c = await createCommand(ownerCtx(q.env), { type: "notify_manager", taskId, payload: { n: 1, fail: true }, maxAttempts: 1 });
  await dispatchPass(ownerCtx(q.env), DISPATCH_PLUGINS, { dispatcherId: "d1" });
  return c;
}

describe("commands (list)", () => {
  it("lists newest first, filters by task, type and state, and adds attempt history on request", async () => {
    const { task } = await boundPair(q.env);
    const dead = await deadCommand(task.task_id);
    q.env.clock.advance(1);
    const pending = await q.env.call("POST", `/v1/tasks/${task.task.name}/nudge-worker`, { body: { message: "hi" } });
    const all = await q.env.call("GET", `/v1/commands?task=${task.task.name}`);
    expect(all.status).toBe(200);
    expect(all.body.commands.map((c: any) => c.id)).toEqual([pending.body.command_id, dead.id]);
    expect(all.body.commands[0].attempt_history).toBeUndefined();
    const deadOnly = await q.env.call("GET", "/v1/commands?state=dead&attempts=true");
    expect(deadOnly.body.count).toBe(1);
    expect(deadOnly.body.commands[0]).toMatchObject({ id: dead.id, state: "dead", error: "told to fail" });
    expect(deadOnly.body.commands[0].attempt_history).toEqual([
      expect.objectContaining({ dispatcher_id: "d1", claim_generation: 1, side_effect_started: true, side_effect_completed: true, error: "told to fail" }),
    ]);
    expect((await q.env.call("GET", "/v1/commands?type=nudge_worker")).body.commands.map((c: any) => c.id)).toEqual([pending.body.command_id]);
  });

  it("reads a task's commands of one state or type in the same steps however many other commands ran", async () => {
    const { task } = await boundPair(q.env);
    await createCommand(ownerCtx(q.env), { type: "notify_manager", taskId: task.task_id, payload: { n: 0 } });
    // Newer commands of other tasks, of the state and type the filters name.
    const grow = async (n: number) => {
      for (let i = 0; i < n; i++) await createCommand(ownerCtx(q.env), { type: "notify_manager", taskId: null, payload: { n: i } });
    };
    const paths = [`/v1/commands?task=${task.task.name}&state=pending`, `/v1/commands?task=${task.task.name}&type=notify_manager`];
    const steps = async () => {
      const seen = captureStatements(q.env);
      for (const path of paths) expect((await q.env.call("GET", path)).status, path).toBe(200);
      return [...readSteps(q.env, seen)].filter(([sql]) => /from "commands"/.test(sql));
    };
    await grow(5);
    const before = await steps();
    await grow(150);
    const after = await steps();
    expect(before.length).toBe(2);
    expect(after).toEqual(before);
  });

  it("answers 404 for an unknown task, 400 for an unknown state, 403 for a session", async () => {
    expect((await q.env.call("GET", "/v1/commands?task=nope")).status).toBe(404);
    expect((await q.env.call("GET", "/v1/commands?state=sleeping")).status).toBe(400);
    const { worker } = await boundPair(q.env);
    expect((await q.env.call("GET", "/v1/commands", { token: worker.token })).status).toBe(403);
  });
});

describe("commands requeue", () => {
  it("puts a dead command back to pending with its attempts reset, keeping the history", async () => {
    const dead = await deadCommand();
    const res = await q.env.call("POST", `/v1/commands/${dead.id}/requeue`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ command_id: dead.id, previous_state: "dead", command: { state: "pending", attempts: 0, error: null } });
    const report = await dispatchPass(ownerCtx(q.env), DISPATCH_PLUGINS, { dispatcherId: "d2" });
    expect(report.claimed).toBe(1);
    expect(q.runs.map((r) => r.generation)).toEqual([1, 2]);
    const ev = await q.env.services.database.client.execute("SELECT kind FROM events WHERE kind = 'command_requeued'");
    expect(ev.rows).toHaveLength(1);
  });

  it("refuses a pending command (409), an unknown id (404) and anyone but the owner (403)", async () => {
    const pending = await createCommand(ownerCtx(q.env), { type: "notify_manager", payload: { n: 1 } });
    const busy = await q.env.call("POST", `/v1/commands/${pending.id}/requeue`);
    expect(busy.status).toBe(409);
    expect(busy.body.error.hint).toMatch(/already queued/);
    expect((await q.env.call("POST", "/v1/commands/cmd_nope/requeue")).status).toBe(404);
    const dead = await deadCommand();
    expect((await q.env.call("POST", `/v1/commands/${dead.id}/requeue`, { token: await q.env.mint("daemon") })).status).toBe(403);
    expect((await commandRow(q.env, dead.id)).state).toBe("dead");
  });
});
