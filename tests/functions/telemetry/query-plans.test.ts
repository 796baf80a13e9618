import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { driveObservedTask, type ObservedTask } from "../../helpers/observed-task.ts";
import { captureStatements, planProblems } from "../../helpers/query-plans.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
let t: ObservedTask | undefined;
afterEach(async () => {
  await t?.stop();
  env?.close();
});

/**
 * Tables bounded by configuration or by the number of sessions (one ingest cursor each), and the
 * partial indexes that hold only open work (active bindings, segments that still hold text).
 */
const SMALL = new Set(["patrol_state", "plugin_states", "dispatchers", "cron_slots", "__drizzle_migrations", "ingest_totals"]);
const OPEN_WORK_INDEXES = ["bindings_active_task_uq", "transcript_segments_content_idx"];

describe("query plans of replay, audit, telemetry, export and the dashboard", () => {
  it("serve every read from an index: no SCAN of a growing table, no temp B-tree", async () => {
    env = await makeTestEnv();
    t = await driveObservedTask(env);
    const seen = captureStatements(env);
    expect((await env.call("POST", `/v1/tasks/${t.task}/transcript-capture`, { body: {} })).status).toBe(200);
    const task = t.task;
    for (const path of [
      `/v1/tasks/${task}/replay?format=transcript&limit=3`,
      `/v1/tasks/${task}/audit`,
      "/v1/telemetry",
      `/v1/telemetry?task=${task}`,
      "/v1/telemetry?run=obs-dispatch",
      `/v1/telemetry?session=${t.worker.name}`,
      `/v1/telemetry?search=nudge&task=${task}`,
      `/v1/telemetry/summary?task=${task}`,
      "/v1/telemetry/summary",
      `/v1/telemetry/tasks/${task}`,
      "/v1/telemetry/failures",
      `/v1/telemetry/failures?task=${task}&active_only=true`,
      "/v1/telemetry/metrics",
      `/v1/telemetry/snapshot?task=${task}`,
      `/v1/tasks/${task}/transcript-segments`,
      "/v1/dashboard/overview",
      "/v1/dashboard/stream",
      "/v1/admin/doctor",
    ]) {
      expect((await env.call("GET", path)).status, path).toBe(200);
    }
    const replay = await env.call("GET", `/v1/tasks/${task}/replay?limit=3`);
    expect((await env.call("GET", `/v1/tasks/${task}/replay?limit=3&cursor=${replay.body.next_cursor}`)).status).toBe(200);
    const out = join(env.dir, "export");
    mkdirSync(out);
    expect((await env.call("POST", `/v1/tasks/${task}/export`, { body: { dir: out } })).status).toBe(201);
    expect((await env.call("POST", `/v1/tasks/${task}/transcript-prune`, { body: { keep_latest: 0, dry_run: true } })).status).toBe(200);
    expect((await env.call("POST", "/v1/admin/prune", { body: { keep_latest: 0 } })).body.segments_pruned).toBe(1);

    const { explained, problems } = await planProblems(env, seen, { small: SMALL, openWorkIndexes: OPEN_WORK_INDEXES });
    expect(explained).toBeGreaterThan(40);
    expect(problems).toEqual([]);
  });
});
