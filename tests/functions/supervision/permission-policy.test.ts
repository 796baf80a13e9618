import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DISPATCH_PLUGINS } from "../../../functions/executors.ts";
import { dispatchPass } from "../../../functions/queue/dispatch-pass.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { daemonCtx, eventsOf, supervised } from "./helpers.ts";

/*
 * The queue honours required_permission: a command naming a permission the task's manager
 * config does not grant is failed with a policy receipt before any side effect; granted, it runs.
 */

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const inboxCount = async (sessionId: string) =>
  Number(
    (await env.services.database.client.execute({ sql: "SELECT count(*) AS n FROM inbox_items WHERE target_session_id = ?", args: [sessionId] })).rows[0]!.n,
  );
const commandRow = async (id: string) =>
  (await env.services.database.client.execute({ sql: "SELECT * FROM commands WHERE id = ?", args: [id] })).rows[0] as unknown as Record<string, any>;
const attempts = async (id: string) =>
  (await env.services.database.client.execute({ sql: "SELECT * FROM command_attempts WHERE command_id = ?", args: [id] })).rows as unknown as Array<
    Record<string, any>
  >;

describe("required_permission at dispatch", () => {
  it("refuses an ungranted permission before the side effect, with a receipt naming it; runs once granted", async () => {
    const t = await supervised(env);
    const enqueue = (key: string, permission = "repo.open_pr") =>
      t.post("nudge-worker", { message: "open the PR", required_permission: permission, idempotency_key: key });
    const blocked = await enqueue("k1");
    expect(blocked.status).toBe(201);

    // A dry run says what the policy would refuse, and changes nothing.
    const dry = await dispatchPass(daemonCtx(env), DISPATCH_PLUGINS, { dispatcherId: "d1", dryRun: true });
    expect(dry.would_run).toEqual([
      expect.objectContaining({ command_id: blocked.body.command_id, policy_refusal: "manager permission required for dispatch command: repo.open_pr" }),
    ]);
    expect((await commandRow(blocked.body.command_id)).state).toBe("pending");
    const pass = await dispatchPass(daemonCtx(env), DISPATCH_PLUGINS, { dispatcherId: "d1" });
    expect(pass).toMatchObject({ claimed: 1, failed: 1, refused: 1, succeeded: 0 });
    const row = await commandRow(blocked.body.command_id);
    expect(row.state).toBe("failed");
    expect(row.error).toBe("manager permission required for dispatch command: repo.open_pr");
    expect(JSON.parse(row.result_json).policy_receipt).toMatchObject({
      policy: "manager_permission",
      decision: "blocked",
      required_permission: "repo.open_pr",
      granted: [],
      config_revision: null,
    });
    // No side effect: no inbox item, and the attempt never reached side_effect_started.
    expect(await inboxCount(t.worker.session_id)).toBe(0);
    expect((await attempts(blocked.body.command_id)).map((a) => a.side_effect_started)).toEqual([0]);
    const refused = await eventsOf(env, t.taskId, "dispatch_policy_refused");
    expect(refused).toHaveLength(1);
    expect(refused[0]!.payload).toMatchObject({ command_id: blocked.body.command_id, policy_receipt: { required_permission: "repo.open_pr" } });

    // Granting something else is not enough; the receipt lists what is granted.
    await t.post("manager-config", { permit: ["verification.run_tests"] });
    const still = await enqueue("k2");
    await dispatchPass(daemonCtx(env), DISPATCH_PLUGINS, { dispatcherId: "d1" });
    expect(JSON.parse((await commandRow(still.body.command_id)).result_json).policy_receipt).toMatchObject({
      granted: ["verification.run_tests"],
      config_revision: 1,
    });

    await t.post("manager-config", { permit: ["repo.open_pr"] });
    const allowed = await enqueue("k3");
    const ok = await dispatchPass(daemonCtx(env), DISPATCH_PLUGINS, { dispatcherId: "d1" });
    expect(ok).toMatchObject({ claimed: 1, succeeded: 1, refused: 0 });
    expect((await commandRow(allowed.body.command_id)).state).toBe("succeeded");
    expect(await inboxCount(t.worker.session_id)).toBe(1);
  });

  it("accepts a category-wide grant, refuses an unknown permission, and leaves commands without one alone", async () => {
    const t = await supervised(env);
    await t.post("manager-config", { permit: ["communication"] });
    const wide = await t.post("notify-manager", { message: "fyi", required_permission: "communication.notify_operator" });
    const unknown = await t.post("notify-manager", { message: "fyi", required_permission: "repo.force_push" });
    const plain = await t.post("notify-manager", { message: "fyi" });
    const pass = await dispatchPass(daemonCtx(env), DISPATCH_PLUGINS, { dispatcherId: "d1" });
    expect(pass).toMatchObject({ claimed: 3, succeeded: 2, refused: 1 });
    expect((await commandRow(wide.body.command_id)).state).toBe("succeeded");
    expect((await commandRow(plain.body.command_id)).state).toBe("succeeded");
    const bad = await commandRow(unknown.body.command_id);
    expect(bad.state).toBe("failed");
    expect(bad.error).toMatch(/^manager permission required for dispatch command: repo\.force_push \(unknown action 'force_push'/);
    expect(await inboxCount(t.manager.session_id)).toBe(2);
  });

  it("checks the config in force when the command runs, not when it was queued", async () => {
    const t = await supervised(env);
    await t.post("manager-config", { permit: ["repo.open_pr"] });
    const queued = await t.post("nudge-worker", { message: "open it", required_permission: "repo.open_pr" });
    await t.post("manager-config", { revoke: ["repo.open_pr"] });
    await dispatchPass(daemonCtx(env), DISPATCH_PLUGINS, { dispatcherId: "d1" });
    expect((await commandRow(queued.body.command_id)).state).toBe("failed");
  });
});
