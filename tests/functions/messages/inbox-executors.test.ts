import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runInline } from "../../../functions/queue/inline.ts";
import { DISPATCH_PLUGINS, EXECUTORS } from "../../../functions/executors.ts";
import { dispatchPass } from "../../../functions/queue/dispatch-pass.ts";
import { createCommand } from "../../../functions/queue/store.ts";
import { routeCompletions } from "../../../functions/messages/routing.ts";
import { makeCtx, type Ctx } from "../../../functions/lib/ctx.ts";
import { commands } from "../../../schema/commands.ts";
import { boundPair, createTask, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { killTmux, startFakeTui, userMessages } from "../actuate/fake-tui.ts";

let env: TestEnv;
let ctx: Ctx;
const started: string[] = [];
beforeEach(async () => {
  env = await makeTestEnv();
  ctx = makeCtx(env.services, { kind: "daemon", tokenId: "tok_dispatch" });
});
afterEach(async () => {
  for (const t of started.splice(0)) await killTmux(env, t);
  env.close();
});

const rows = async (sql: string, args: Array<string | number> = []) => (await env.services.database.client.execute({ sql, args })).rows;

describe("notify_manager / nudge_worker executors", () => {
  it("registers with the shared executor table", () => {
    expect(Object.keys(EXECUTORS)).toEqual(expect.arrayContaining(["deliver", "notify_manager", "nudge_worker"]));
  });

  it("put the message in the bound manager's / worker's inbox, once even when run again", async () => {
    const { task, worker, manager } = await boundPair(env);
    const notify = await createCommand(ctx, { type: "notify_manager", taskId: task.task_id, payload: { message: "worker is stuck", correlation_id: "c-1" } });
    const done = await runInline(ctx, notify, EXECUTORS);
    expect(done.command.state).toBe("succeeded");
    expect(done.outcome.result).toMatchObject({
      target_session: manager.session.name,
      delivery_mode: "pull_required",
      deliver_command_id: null,
      created: true,
    });
    const nudge = await createCommand(ctx, { type: "nudge_worker", taskId: task.task_id, payload: { message: "please rebase" }, correlationId: "c-2" });
    await runInline(ctx, nudge, EXECUTORS);

    const m = await env.call("GET", `/v1/tasks/${task.task.name}/manager-inbox`);
    expect(m.body.items).toEqual([
      expect.objectContaining({
        signal_type: "notify_manager",
        correlation_id: "c-1",
        payload: { task: task.task.name, message: "worker is stuck", command_id: notify.id },
      }),
    ]);
    const w = await env.call("GET", `/v1/tasks/${task.task.name}/worker-inbox`);
    expect(w.body.items).toEqual([expect.objectContaining({ signal_type: "nudge_worker", correlation_id: "c-2", target_session: worker.session.name })]);

    // A retried attempt (same command) finds the item by its dedup key instead of adding one.
    const again = await EXECUTORS.notify_manager!.run(ctx, notify, { message: "worker is stuck", correlation_id: "c-1" });
    expect(again.result).toMatchObject({ inbox_item_id: done.outcome.result.inbox_item_id, created: false });
    expect(await rows("SELECT count(*) AS n FROM inbox_items")).toEqual([expect.objectContaining({ n: 2 })]);
  });

  it("fail an invalid payload before any side effect, and a task without a binding", async () => {
    const { task } = await boundPair(env);
    const bad = await createCommand(ctx, { type: "notify_manager", taskId: task.task_id, payload: { text: "wrong key" } });
    await expect(runInline(ctx, bad, EXECUTORS)).rejects.toThrow(/invalid payload: message/);
    const [attempt] = await rows("SELECT side_effect_started FROM command_attempts WHERE command_id = ?", [bad.id]);
    expect(attempt!.side_effect_started).toBe(0);
    const unbound = await createTask(env);
    const orphan = await createCommand(ctx, { type: "nudge_worker", taskId: unbound.task_id, payload: { message: "hi" } });
    await expect(runInline(ctx, orphan, EXECUTORS)).rejects.toThrow(/no active binding/);
    expect(await rows("SELECT id FROM inbox_items")).toEqual([]);
  });
});

describe("deliver executor (fake agent TUI in real tmux)", () => {
  async function tuiSession(role: "worker" | "manager") {
    const tui = await startFakeTui(env, 200);
    started.push(tui.tmux);
    const s = await registerSession(env, role, { tmux_session: tui.tmux, codex_session: tui.rollout });
    return { ...tui, ...s };
  }

  it("routes a real worker completion to a tmux manager and types it into the manager's pane", async () => {
    const worker = await tuiSession("worker");
    const manager = await tuiSession("manager");
    const task = await createTask(env);
    await env.call("POST", "/v1/bindings", { body: { task: task.task.name, worker: worker.session.name, manager: manager.session.name } });
    const nudged = await env.call("POST", `/v1/sessions/${worker.session.name}/nudge`, { body: { text: "say PONG" } });
    expect(nudged.body.submitted).toBe(true);
    // The fake TUI writes task_complete after its busy phase.
    let report = await routeCompletions(ctx);
    for (let i = 0; i < 50 && report.routed === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      report = await routeCompletions(ctx);
    }
    expect(report.routed).toBe(1);
    const [item] = await rows("SELECT id, delivery_command_id FROM inbox_items WHERE target_session_id = ?", [manager.session_id]);
    const { command, outcome } = await runInline(ctx, await commandRow(String(item!.delivery_command_id)), EXECUTORS);
    expect(command.state).toBe("succeeded");
    expect(outcome.result).toMatchObject({ inbox_item_id: item!.id, delivered: true, delivery_mode: "push", submitted: true, verified_by: "transcript" });
    const [after] = await rows("SELECT delivery_mode, delivered_at, consumed_at FROM inbox_items WHERE id = ?", [String(item!.id)]);
    expect(after).toMatchObject({ delivery_mode: "push", consumed_at: null });
    expect(after!.delivered_at).not.toBeNull();
    const typed = userMessages(manager.rollout);
    expect(typed).toHaveLength(1);
    expect(typed[0]).toMatch(
      new RegExp(`^\\[switchyard\\] worker ${worker.session.name} finished a turn on task ${task.task.name} \\(event \\d+\\)\\. Last message: `),
    );
    const delivered = await rows("SELECT payload_json FROM events WHERE kind = 'dispatch_inbox_delivered'");
    expect(JSON.parse(String(delivered[0]!.payload_json))).toMatchObject({ inbox_item_id: item!.id, delivery_mode: "push" });
  });

  it("does not type a message whose sender stopped managing the target before the dispatcher ran", async () => {
    const worker = await tuiSession("worker");
    const manager = await registerSession(env, "manager");
    const task = await createTask(env);
    await env.call("POST", "/v1/bindings", { body: { task: task.task.name, worker: worker.session.name, manager: manager.session.name } });
    const sent = await env.call("POST", "/v1/messages", { token: manager.token, body: { to: worker.session.name, body: "typed-after-unbind" } });
    expect(sent.body).toMatchObject({ delivery_command_id: expect.any(String) });
    expect((await env.call("POST", "/v1/bindings/unbind", { body: { task: task.task.name } })).status).toBe(200);
    const report = await dispatchPass(ctx, DISPATCH_PLUGINS, { dispatcherId: "after-unbind", route: false });
    expect(report).toMatchObject({ claimed: 1, refused: 1 });
    const command = await commandRow(sent.body.delivery_command_id);
    expect(command.state).toBe("failed");
    expect(command.result).toMatchObject({ policy_receipt: { policy: "push_authority", command_type: "deliver" } });
    // Still in the worker's inbox to be read by polling, and never typed.
    const [item] = await rows("SELECT delivered_at, consumed_at FROM inbox_items WHERE id = ?", [sent.body.inbox_item_id]);
    expect(item).toMatchObject({ delivered_at: null, consumed_at: null });
    await new Promise((r) => setTimeout(r, 300));
    expect(userMessages(worker.rollout)).toEqual([]);
  });

  it("skips typing an item that was already consumed by polling", async () => {
    const manager = await tuiSession("manager");
    const sent = await env.call("POST", "/v1/messages", { body: { to: manager.session.name, body: "read me" } });
    await env.call("POST", `/v1/sessions/${manager.session.name}/inbox/consume`, { body: {} });
    const { command, outcome } = await runInline(ctx, await commandRow(sent.body.delivery_command_id), EXECUTORS);
    expect(command.state).toBe("succeeded");
    expect(outcome.result).toEqual({ inbox_item_id: sent.body.inbox_item_id, delivered: false, reason: "already consumed" });
    expect(userMessages(manager.rollout)).toEqual([]);
  });
});

async function commandRow(id: string) {
  const [row] = await env.services.database.db.select().from(commands).where(eq(commands.id, id));
  return row!;
}
