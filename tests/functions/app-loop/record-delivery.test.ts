import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTask, insertEvent, registerSession, withNewEvents } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv, PINNED_EPOCH } from "../../helpers/services.ts";
import { appPair, beat } from "./loop-fixtures.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv({ host: null, clockAt: PINNED_EPOCH });
});
afterEach(() => env.close());

const record = (task: string, body: Record<string, unknown>, token?: string) =>
  env.call("POST", `/v1/tasks/${task}/app-loop/wakeup-deliveries`, { body, token });

/**
 * A pair whose dispatch receipt plans: manager ready_to_send (stale, thread thr_manager_1) and
 * worker blocked_missing_thread (stale, no thread); or, with `healthyWorker`, worker skipped_healthy.
 */
async function planned(opts: { healthyWorker?: boolean } = {}) {
  const p = await appPair(env);
  env.clock.advance(600);
  if (opts.healthyWorker) await beat(env, p.task, "worker");
  const res = await env.call("POST", `/v1/tasks/${p.task}/app-loop/wakeup-dispatch`, { body: {} });
  expect(res.status).toBe(200);
  return { ...p, receipt: res.body.event_id as string };
}

/** Expects a refusal that writes nothing and whose message names the rule. */
async function refused(task: string, body: Record<string, unknown>, status: number, code: string, message: RegExp) {
  const { result: res, events } = await withNewEvents(env, () => record(task, body));
  expect(res.status).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(res.body.error.message).toMatch(message);
  expect(events).toHaveLength(0);
  return res;
}

/** Stores a dispatch receipt with hand-written actions, as a tampered or older writer might. */
function forgedReceipt(taskId: string, actions: unknown[], extra: Record<string, unknown> = {}) {
  return insertEvent(env, {
    kind: "app_wakeup_dispatch_planned",
    taskId,
    payload: { actions, dispatcher: {}, summary: { dispatcher_required: false }, ...extra },
  });
}

describe("POST /v1/tasks/{name}/app-loop/wakeup-deliveries", () => {
  it("records sent for a ready_to_send action on its own thread, as an app_wakeup_delivery_recorded receipt", async () => {
    const p = await planned();
    const { result: res, events } = await withNewEvents(env, () =>
      record(
        p.task,
        { role: "manager", dispatch_receipt: p.receipt, delivery_status: "sent", thread_id: "thr_manager_1", reason: "sent by app automation" },
        p.manager.token,
      ),
    );
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      task: { id: p.taskId, name: p.task },
      delivery: {
        role: "manager",
        status: "sent",
        reason: "sent by app automation",
        thread_id: "thr_manager_1",
        source_action_status: "ready_to_send",
        source_send_ready: true,
      },
      source: { dispatch_receipt: p.receipt, dispatch_required: true, dispatcher: { dispatcher_id: "dispatch-local", state: "missing" } },
      receipt: { event_id: res.body.event_id, event_type: "app_wakeup_delivery_recorded", recorded_at: "2026-11-21T12:10:00.000Z" },
    });
    expect(events).toEqual([
      expect.objectContaining({
        id: res.body.event_id,
        kind: "app_wakeup_delivery_recorded",
        taskId: p.taskId,
        actor: `session:${p.manager.session_id}`,
        payload: {
          dispatch_receipt: p.receipt,
          role: "manager",
          delivery_status: "sent",
          reason: "sent by app automation",
          source_action_status: "ready_to_send",
          source_send_ready: true,
          thread_id: "thr_manager_1",
          thread_title: "Manager: ship it",
          dispatch_required: true,
        },
      }),
    ]);
  });

  it("records skipped for a skipped_healthy action and blocked for a blocked_missing_thread one", async () => {
    const healthy = await planned({ healthyWorker: true });
    const skipped = await record(healthy.task, { role: "worker", dispatch_receipt: healthy.receipt, delivery_status: "skipped" });
    expect(skipped.status).toBe(201);
    expect(skipped.body.delivery).toMatchObject({ status: "skipped", source_action_status: "skipped_healthy", thread_id: null, reason: null });
    const stale = await planned();
    const blocked = await record(stale.task, { role: "worker", dispatch_receipt: stale.receipt, delivery_status: "blocked", reason: "no thread" });
    expect(blocked.status).toBe(201);
    expect(blocked.body.delivery).toMatchObject({ status: "blocked", source_action_status: "blocked_missing_thread" });
  });

  describe("refuses, writing nothing, when", () => {
    it("the receipt does not exist (404)", async () => {
      const p = await planned();
      await refused(
        p.task,
        { role: "manager", dispatch_receipt: "evt_nope", delivery_status: "sent", thread_id: "thr_manager_1" },
        404,
        "NOT_FOUND",
        /receipt 'evt_nope' not found/,
      );
    });

    it("the receipt is not an app_wakeup_dispatch_planned receipt", async () => {
      const p = await planned();
      const heartbeat = (await beat(env, p.task, "manager")).event_id;
      await refused(
        p.task,
        { role: "manager", dispatch_receipt: heartbeat, delivery_status: "skipped" },
        409,
        "CONFLICT",
        /is app_heartbeat, expected app_wakeup_dispatch_planned/,
      );
    });

    it("the receipt belongs to another task", async () => {
      const p = await planned();
      const other = await createTask(env);
      await refused(
        other.task.name,
        { role: "manager", dispatch_receipt: p.receipt, delivery_status: "sent", thread_id: "thr_manager_1" },
        409,
        "CONFLICT",
        /does not belong to task/,
      );
    });

    it("the receipt was planned for an earlier binding of the task", async () => {
      const p = await planned();
      expect((await env.call("POST", "/v1/bindings/unbind", { body: { task: p.task } })).status).toBe(200);
      const rebound = await env.call("POST", "/v1/bindings", { body: { task: p.task, worker: p.worker.session.name, manager: p.manager.session.name } });
      expect(rebound.status).toBe(201);
      await refused(
        p.task,
        { role: "manager", dispatch_receipt: p.receipt, delivery_status: "sent", thread_id: "thr_manager_1" },
        409,
        "CONFLICT",
        /was planned for binding .* not the task's current binding/,
      );
    });

    it("the receipt has no action for the role", async () => {
      const p = await planned();
      const onlyManager = await forgedReceipt(p.taskId, [
        { role: "manager", status: "skipped_healthy", send_ready: false, thread_id: null, thread_title: null },
      ]);
      await refused(p.task, { role: "worker", dispatch_receipt: onlyManager, delivery_status: "skipped" }, 409, "CONFLICT", /has no worker wake action/);
    });

    it("the receipt is malformed", async () => {
      const p = await planned();
      const broken = await insertEvent(env, { kind: "app_wakeup_dispatch_planned", taskId: p.taskId, payload: { actions: "nope" } });
      await refused(p.task, { role: "manager", dispatch_receipt: broken, delivery_status: "skipped" }, 409, "CONFLICT", /not a well-formed/);
    });

    it("the receipt's action has a status this version does not know", async () => {
      const p = await planned();
      const odd = await forgedReceipt(p.taskId, [{ role: "manager", status: "queued", send_ready: true, thread_id: "t", thread_title: null }]);
      await refused(
        p.task,
        { role: "manager", dispatch_receipt: odd, delivery_status: "sent", thread_id: "t" },
        409,
        "CONFLICT",
        /unsupported manager action status 'queued'/,
      );
    });

    it("sent is recorded against a skipped_healthy action", async () => {
      const p = await planned({ healthyWorker: true });
      await refused(
        p.task,
        { role: "worker", dispatch_receipt: p.receipt, delivery_status: "sent", thread_id: "thr_x" },
        409,
        "CONFLICT",
        /cannot record sent for the worker: .* planned skipped_healthy/,
      );
    });

    it("sent is recorded against a blocked_missing_thread action", async () => {
      const p = await planned();
      await refused(
        p.task,
        { role: "worker", dispatch_receipt: p.receipt, delivery_status: "sent", thread_id: "thr_x" },
        409,
        "CONFLICT",
        /planned blocked_missing_thread/,
      );
    });

    it("sent is recorded against a ready_to_send action whose send_ready is false", async () => {
      const p = await planned();
      const notReady = await forgedReceipt(p.taskId, [
        { role: "manager", status: "ready_to_send", send_ready: false, thread_id: "thr_manager_1", thread_title: null },
      ]);
      await refused(
        p.task,
        { role: "manager", dispatch_receipt: notReady, delivery_status: "sent", thread_id: "thr_manager_1" },
        409,
        "CONFLICT",
        /planned ready_to_send without send_ready/,
      );
    });

    it("sent comes without a thread id (400, naming the field)", async () => {
      const p = await planned();
      const res = await refused(
        p.task,
        { role: "manager", dispatch_receipt: p.receipt, delivery_status: "sent" },
        400,
        "VALIDATION_FAILED",
        /sent requires thread_id/,
      );
      expect(res.body.error.fields).toEqual([{ field: "thread_id", message: "required when delivery_status is sent" }]);
    });

    it("sent names a different thread than the action targets", async () => {
      const p = await planned();
      await refused(
        p.task,
        { role: "manager", dispatch_receipt: p.receipt, delivery_status: "sent", thread_id: "thr_other" },
        409,
        "CONFLICT",
        /thread mismatch for the manager: .* targets thr_manager_1, not thr_other/,
      );
    });

    it("skipped is recorded against anything but skipped_healthy", async () => {
      const p = await planned();
      await refused(
        p.task,
        { role: "manager", dispatch_receipt: p.receipt, delivery_status: "skipped" },
        409,
        "CONFLICT",
        /cannot record skipped for the manager: .* planned ready_to_send/,
      );
      await refused(p.task, { role: "worker", dispatch_receipt: p.receipt, delivery_status: "skipped" }, 409, "CONFLICT", /planned blocked_missing_thread/);
    });

    it("blocked is recorded against anything but blocked_missing_thread", async () => {
      const p = await planned({ healthyWorker: true });
      await refused(
        p.task,
        { role: "manager", dispatch_receipt: p.receipt, delivery_status: "blocked" },
        409,
        "CONFLICT",
        /cannot record blocked for the manager: .* planned ready_to_send/,
      );
      await refused(p.task, { role: "worker", dispatch_receipt: p.receipt, delivery_status: "blocked" }, 409, "CONFLICT", /planned skipped_healthy/);
    });

    it("the delivery status or role is not one of the known values (400)", async () => {
      const p = await planned();
      const res = await refused(p.task, { role: "auditor", dispatch_receipt: p.receipt, delivery_status: "lost" }, 400, "VALIDATION_FAILED", /invalid json/);
      expect(res.body.error.fields.map((f: any) => f.field)).toEqual(["role", "delivery_status"]);
    });
  });

  it("refuses the bound worker, other sessions and a daemon; only the owner and the bound manager record", async () => {
    const p = await planned();
    const body = { role: "worker", dispatch_receipt: p.receipt, delivery_status: "blocked" };
    const stranger = await registerSession(env, "manager");
    for (const token of [p.worker.token, stranger.token, await env.mint("daemon")]) {
      const { result: res, events } = await withNewEvents(env, () => record(p.task, body, token));
      expect(res.status).toBe(403);
      expect(events).toHaveLength(0);
    }
    expect((await record(p.task, body, p.manager.token)).status).toBe(201);
    expect((await record(p.task, body)).status).toBe(201);
  });
});
