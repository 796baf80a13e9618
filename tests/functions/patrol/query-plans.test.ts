import { afterEach, describe, expect, it } from "vitest";
import { createConvoy } from "../../../functions/convoys/create.ts";
import { createGate } from "../../../functions/gates/create.ts";
import { runPatrol } from "../../../functions/patrol/run.ts";
import { boundPair, createTask, registerSession } from "../../helpers/factories.ts";
import { captureStatements, planProblems } from "../../helpers/query-plans.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { daemonCtx, ownerCtx } from "./helpers.ts";

let env: TestEnv;
afterEach(() => env?.close());

/** Tables whose size is fixed or bounded by configuration, not by use. */
const SMALL = new Set(["patrol_state", "plugin_states", "dispatchers", "cron_slots", "__drizzle_migrations"]);

/**
 * Partial indexes hold only open work (active bindings, unresolved dependencies, pending
 * spawns, undelivered notifications, live claims): walking one costs what is open, not what
 * the table has accumulated, so a SCAN through one is allowed.
 */
const OPEN_WORK_INDEXES = [
  "bindings_active_task_uq",
  "bindings_active_worker_uq",
  "bindings_active_created_idx",
  "task_deps_unresolved_idx",
  "spawns_pending_idx",
  "notifications_undelivered_idx",
  "file_claims_live_base_idx",
  "spawns_live_idx",
];

describe("the patrol's query plans", () => {
  it("serve every patrol query from an index: no SCAN of a growing table, no temp B-tree", async () => {
    env = await makeTestEnv();
    const ctx = ownerCtx(env);
    // A little of everything the patrol walks.
    for (let i = 0; i < 4; i++) await boundPair(env);
    const extra = await registerSession(env, "worker");
    const tasks = [];
    for (let i = 0; i < 4; i++) tasks.push((await createTask(env)).task.name);
    await createConvoy(ctx, { title: "c", tracks: tasks.slice(0, 2) });
    await env.call("POST", `/v1/tasks/${tasks[2]}/depends`, { body: { on: tasks[3] } });
    await createGate(ctx, { type: "timer", timeout_seconds: 1, waiters: [extra.session.name] });
    await createGate(ctx, { type: "human", waiters: [] });
    await env.call("POST", "/v1/claims", { body: { path: "src/**", session: extra.session.name, ttl_seconds: 60, exclusive: true } });
    await env.call("POST", `/v1/tasks/${tasks[3]}/finish`, { body: {} });
    env.clock.advance(5);

    const seen = captureStatements(env);
    const run = await runPatrol(daemonCtx(env), { trigger: "cli" });
    expect(run.run.state).toBe("succeeded");
    await env.call("GET", "/v1/patrol/status");

    const { explained, problems } = await planProblems(env, seen, { small: SMALL, openWorkIndexes: OPEN_WORK_INDEXES });
    expect(explained).toBeGreaterThan(30);
    expect(problems).toEqual([]);
  });
});
