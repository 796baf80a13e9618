import type { InArgs, InStatement, Transaction } from "@libsql/client";
import { afterEach, describe, expect, it } from "vitest";
import { createConvoy } from "../../../functions/convoys/create.ts";
import { createGate } from "../../../functions/gates/create.ts";
import { runPatrol } from "../../../functions/patrol/run.ts";
import { boundPair, createTask, registerSession } from "../../helpers/factories.ts";
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
  "task_deps_unresolved_idx",
  "spawns_pending_idx",
  "notifications_undelivered_idx",
  "file_claims_live_base_idx",
  "spawns_live_idx",
];

type Captured = { sql: string; args: unknown[] };

/** Records every statement the app sends to the database client, including inside transactions. */
function capture(e: TestEnv): Captured[] {
  const seen: Captured[] = [];
  const client = e.services.database.client as any;
  const norm = (s: InStatement | string, args?: InArgs): Captured =>
    typeof s === "string" ? { sql: s, args: (args as unknown[]) ?? [] } : { sql: s.sql, args: (s.args as unknown[]) ?? [] };
  const exec = client.execute.bind(client);
  client.execute = (s: InStatement | string, args?: InArgs) => {
    seen.push(norm(s, args));
    return exec(s, args);
  };
  const batch = client.batch.bind(client);
  client.batch = (stmts: Array<InStatement | [string, InArgs?]>, mode?: unknown) => {
    for (const s of stmts) seen.push(Array.isArray(s) ? norm(s[0], s[1]) : norm(s));
    return batch(stmts, mode);
  };
  const transaction = client.transaction.bind(client);
  client.transaction = async (mode?: unknown) => {
    const tx: Transaction = await transaction(mode);
    const txExec = tx.execute.bind(tx);
    (tx as any).execute = (s: InStatement) => {
      seen.push(norm(s));
      return txExec(s);
    };
    return tx;
  };
  return seen;
}

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

    const seen = capture(env);
    const run = await runPatrol(daemonCtx(env), { trigger: "cli" });
    expect(run.run.state).toBe("succeeded");
    await env.call("GET", "/v1/patrol/status");

    const problems: string[] = [];
    const explained = new Set<string>();
    for (const { sql, args } of seen) {
      if (!/^\s*(select|update|delete|insert\s+(or\s+\w+\s+)?into\s+\S+\s*\([^)]*\)\s*select)/i.test(sql) || explained.has(sql)) continue;
      explained.add(sql);
      const plan = await env.services.database.client.execute({ sql: `EXPLAIN QUERY PLAN ${sql}`, args: args as InArgs });
      for (const row of plan.rows) {
        const detail = String(row.detail);
        const scan = /^SCAN (\w+)/.exec(detail);
        const table = scan?.[1];
        const viaOpenWork = OPEN_WORK_INDEXES.some((ix) => detail.includes(ix));
        // The newest rows read straight off an index in its order (ORDER BY … LIMIT, no filter): a top-N, not a scan.
        const topN = /USING (COVERING )?INDEX/.test(detail) && /order by[\s\S]*limit \?\s*$/i.test(sql) && !/ where /i.test(sql);
        if (scan && !SMALL.has(table!) && !viaOpenWork && !topN && !/^SCAN (CONSTANT ROW|\w+ VIRTUAL)/.test(detail))
          problems.push(`${detail}\n    in: ${sql.trim()}`);
        if (/USE TEMP B-TREE/.test(detail)) problems.push(`${detail}\n    in: ${sql.trim()}`);
      }
    }
    expect(explained.size).toBeGreaterThan(30);
    expect(problems).toEqual([]);
  });
});
