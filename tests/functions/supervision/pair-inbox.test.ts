import { appendFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DISPATCH_PLUGINS } from "../../../functions/executors.ts";
import { dispatchPass } from "../../../functions/queue/dispatch-pass.ts";
import { createTask, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { codexRollout } from "../../helpers/transcripts.ts";
import { daemonCtx } from "./helpers.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("pair --dry-run", () => {
  it("reports the config, seeded criteria and dispatcher it would use, and changes nothing", async () => {
    const plan = await env.call("POST", "/v1/pairs", {
      body: {
        task: "dry",
        task_goal: "g",
        worker_name: "w",
        manager_name: "m",
        cwd: env.dir,
        dry_run: true,
        manager_config: { objective: "ship", acceptance: ["tests pass"], permit: ["repo.open_pr"] },
      },
    });
    expect(plan.status, JSON.stringify(plan.body)).toBe(201);
    expect(plan.body).toMatchObject({
      task: "dry",
      task_created: true,
      dry_run: true,
      worker: null,
      manager: null,
      binding: null,
      manager_config: { mode: "guided", objective: "ship", granted: ["repo.open_pr"], revision: null },
      seeded_criteria: ["tests pass"],
      dispatcher: { id: "dispatch-local", live: false },
    });
    expect((await env.call("GET", "/v1/tasks/dry")).status).toBe(404);
    const bad = await env.call("POST", "/v1/pairs", {
      body: { task: "dry", task_goal: "g", worker_name: "w", manager_name: "m", cwd: env.dir, dry_run: true, manager_config: { permit: ["x.y"] } },
    });
    expect(bad.status).toBe(400);
  });

  it("sees a live dispatcher heartbeat with the same id, and skips acceptance already in the ledger", async () => {
    const t = await createTask(env);
    await env.call("POST", `/v1/tasks/${t.task.name}/criteria`, { body: { criterion: "Tests pass", source: "manager_inferred" } }).catch(() => {});
    await dispatchPass(daemonCtx(env), DISPATCH_PLUGINS, { dispatcherId: "qa-d", route: false });
    const plan = await env.call("POST", "/v1/pairs", {
      body: {
        task: t.task.name,
        worker_name: "w",
        manager_name: "m",
        cwd: env.dir,
        dry_run: true,
        dispatcher_id: "qa-d",
        manager_config: { acceptance: ["tests pass", "docs"] },
      },
    });
    expect(plan.body.dispatcher).toMatchObject({ id: "qa-d", live: true });
    expect(plan.body.task_created).toBe(false);
    env.clock.advance(60);
    const stale = await env.call("POST", "/v1/pairs", {
      body: { task: t.task.name, worker_name: "w", manager_name: "m", cwd: env.dir, dry_run: true, dispatcher_id: "qa-d" },
    });
    expect(stale.body.dispatcher.live).toBe(false);
  });
});

describe("create-disposable-binding", () => {
  it("binds a no-tmux pair to a new task with a loop run and a worker handoff prompt", async () => {
    const r = await env.call("POST", "/v1/tasks/ctl/disposable-binding", { body: { template: "adversarial_ralph_loop" } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({
      task: "ctl",
      task_created: true,
      worker: { session: { name: "ctl-worker", tmux_session: null }, communication: { delivery_mode: "pull_required" } },
      manager: { session: { name: "ctl-manager" }, communication: { delivery_mode: "pull_required" } },
      loop_run: { template: "adversarial_ralph_loop", current_iteration: 1 },
    });
    expect(r.body.worker_handoff).toContain("switchyard worker-inbox ctl --consume-next --wait");
    expect(r.body.commands.loop_status).toBe(`switchyard loop-status ctl --run ${r.body.loop_run.id} --json`);
    expect((await env.call("GET", "/v1/tasks/ctl/manager-config")).body.mode).toBe("guided");
    // The worker's own token reaches its inbox.
    expect((await env.call("POST", "/v1/tasks/ctl/worker-inbox/consume", { body: {}, token: r.body.worker.token })).status).toBe(200);
    expect((await env.call("POST", "/v1/tasks/ctl/disposable-binding", { body: {} })).status).toBe(409);
    const plain = await env.call("POST", "/v1/tasks/plain/disposable-binding", { body: { required_before_continue: ["smoke"], adversarial: true } });
    expect(plain.body.loop_run.required_before_continue).toEqual(["smoke", "adversarial_check"]);
    const session = await registerSession(env, "worker");
    expect((await env.call("POST", "/v1/tasks/x/disposable-binding", { body: {}, token: session.token })).status).toBe(403);
  });
});

describe("create-disposable-binding refusals", () => {
  const counts = async () => {
    const r = await env.services.database.client.execute(
      "SELECT (SELECT count(*) FROM tasks) AS t, (SELECT count(*) FROM sessions) AS s, (SELECT count(*) FROM tokens) AS k, (SELECT count(*) FROM events) AS e",
    );
    return r.rows[0];
  };

  it("refuses an unknown template, a taken name and equal names before writing anything", async () => {
    await registerSession(env, "worker", { name: "busy-worker" });
    const before = await counts();
    const unknown = await env.call("POST", "/v1/tasks/fresh/disposable-binding", { body: { template: "no-such-template" } });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.hint).toContain("Templates:");
    const taken = await env.call("POST", "/v1/tasks/fresh/disposable-binding", { body: { worker: "busy-worker" } });
    expect(taken.status).toBe(409);
    expect(taken.body.error.code).toBe("NAME_TAKEN");
    const same = await env.call("POST", "/v1/tasks/fresh/disposable-binding", { body: { worker: "twin", manager: "twin" } });
    expect(same.status).toBe(400);
    expect(await counts()).toEqual(before);
  });
});

describe("inbox contract", () => {
  it("items carry state, dedupe_key, the worker receipt and an instruction; consumed_by says who consumed for whom", async () => {
    // Under the test host's Codex root, empty until the worker's turn is appended below.
    const path = codexRollout(env, "pair-inbox", "");
    const w = await registerSession(env, "worker", { codex_session: path });
    const m = await registerSession(env, "manager");
    const t = await createTask(env);
    await env.call("POST", "/v1/bindings", { body: { task: t.task.name, worker: w.session.name, manager: m.session.name } });
    const at = (s: number) => new Date(env.clock.ms - s * 1000).toISOString();
    const line = (ts: string, payload: Record<string, unknown>) => `${JSON.stringify({ timestamp: ts, type: "event_msg", payload })}\n`;
    appendFileSync(path, line(at(40), { type: "task_started" }) + line(at(10), { type: "task_complete", last_agent_message: "done" }));
    await dispatchPass(daemonCtx(env), DISPATCH_PLUGINS, { dispatcherId: "d" });

    const listed = await env.call("GET", `/v1/tasks/${t.task.name}/manager-inbox`);
    const item = listed.body.items[0];
    expect(item).toMatchObject({
      signal_type: "worker_task_complete",
      state: "pending",
      dedupe_key: expect.stringMatching(/^worker_task_complete:/),
      worker_receipt: { turn_id: item.source_event_id, started_at: at(40), completed_at: at(10), duration_seconds: 30 },
      consumed_by: null,
      consumed_on_behalf: null,
    });
    expect(item.instruction).toBe(
      `Worker ${w.session.name} finished a turn on ${t.task.name}. Review it with \`switchyard cycle ${t.task.name} --json\`, then satisfy, nudge, or finish.`,
    );

    // The owner consumes on the manager's behalf: recorded as such.
    const byOwner = await env.call("POST", `/v1/tasks/${t.task.name}/manager-inbox/consume`, { body: {} });
    expect(byOwner.body.item).toMatchObject({ state: "consumed", consumed_by_session: m.session.name, consumed_on_behalf: true });
    expect(byOwner.body.item.consumed_by).toMatch(new RegExp(`^owner:tok_\\S+ for session:${m.session_id}$`));

    await env.call("POST", `/v1/tasks/${t.task.name}/notify-manager`, { body: { message: "heads up" } });
    await dispatchPass(daemonCtx(env), DISPATCH_PLUGINS, { dispatcherId: "d" });
    const bySelf = await env.call("POST", `/v1/tasks/${t.task.name}/manager-inbox/consume`, { body: {}, token: m.token });
    expect(bySelf.body.item).toMatchObject({
      signal_type: "notify_manager",
      consumed_by: `session:${m.session_id}`,
      consumed_on_behalf: false,
      worker_receipt: null,
      instruction: `Note for the manager of ${t.task.name}: heads up`,
    });
  });
});
