// Crash safety of Idempotency-Key, with real processes and kill -9: the request's write and its
// key's final response commit together, so a retry after a crash either replays the committed
// request exactly once or runs a request that never committed — never twice, never a 409.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createApp } from "../../functions/app.ts";
import { tokenInsert } from "../../functions/lib/auth.ts";
import { makeCtx } from "../../functions/lib/ctx.ts";
import { openDatabase, type Database } from "../../functions/lib/db.ts";
import { registerSession as registerDirect } from "../../functions/sessions/register.ts";
import { migrateDatabase } from "../../local-runner/migrate.ts";
import { appPair } from "../functions/app-loop/loop-fixtures.ts";
import { draftedAdvice } from "../functions/broker/fixtures.ts";
import { boundPair, createTask, registerSession } from "../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";
import { spawnWorker } from "../helpers/worker-process.ts";

const WORKER = fileURLToPath(new URL("./idempotency-crash-worker.ts", import.meta.url));

let dir: string | undefined;
let database: Database | undefined;
afterEach(() => {
  database?.close();
  database = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

async function setup() {
  dir = mkdtempSync(join(tmpdir(), "switchyard-crash-"));
  const url = `file:${join(dir, "switchyard.db")}`;
  database = await openDatabase({ url });
  await migrateDatabase(database);
  const owner = await tokenInsert(database.db, { id: "tok_owner", kind: "owner", nowMs: Date.now() });
  await owner.stmt;
  await registerDirect(makeCtx({ database, hostName: "crash-host" }, { kind: "owner", tokenId: "tok_owner" }), { name: "inbox", role: "manager" });
  const app = createApp({ database, hostName: "crash-host" });
  const call = async (method: string, path: string, key: string, body: unknown) => {
    const res = await app.request(path, {
      method,
      headers: { Authorization: `Bearer ${owner.secret}`, "Idempotency-Key": key, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: res.status, headers: res.headers, body: await res.json() };
  };
  return { url, owner: owner.secret, call };
}

/** Runs the request in a child that kill -9s itself at the hook; resolves with how it ended. */
async function crashDuring(url: string, when: "before" | "after", token: string, key: string, method: string, path: string, body: unknown) {
  const child = spawnWorker<{ ready?: true; survived?: boolean }>(WORKER, [url, when, token, key, method, path, JSON.stringify(body)]);
  await child.exit;
  return { signal: child.child.signalCode, lines: child.lines, stderr: child.stderr.join("") };
}

const count = async (sql: string) => Number((await database!.client.execute(sql)).rows[0]!.n);

describe("Idempotency-Key across a crash (kill -9)", () => {
  it("replays a message whose write committed just before the process died, exactly once", async () => {
    const { url, owner, call } = await setup();
    const body = { to: "inbox", body: "deploy finished" };
    const crash = await crashDuring(url, "after", owner, "send-1", "POST", "/v1/messages", body);
    expect(crash).toMatchObject({ signal: "SIGKILL", lines: [] });
    // The write committed with its key: one message, a done key.
    expect(await count("SELECT count(*) AS n FROM messages")).toBe(1);
    expect(await count("SELECT count(*) AS n FROM idempotency_keys WHERE state = 'done'")).toBe(1);

    const retry = await call("POST", "/v1/messages", "send-1", body);
    expect(retry.status).toBe(201);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    const stored = await database!.client.execute("SELECT id FROM messages");
    expect(retry.body.message_id).toBe(stored.rows[0]!.id);
    const again = await call("POST", "/v1/messages", "send-1", body);
    expect(again.body).toEqual(retry.body);
    expect(await count("SELECT count(*) AS n FROM messages")).toBe(1);
    expect(await count("SELECT count(*) AS n FROM inbox_items")).toBe(1);
    expect(await count("SELECT count(*) AS n FROM events WHERE kind = 'message_sent'")).toBe(1);
  });

  it("replays a registration whose write committed (no NAME_TAKEN, no lost session), withholding its token", async () => {
    const { url, owner, call } = await setup();
    const body = { name: "crash-worker", role: "worker" };
    expect((await crashDuring(url, "after", owner, "reg-1", "POST", "/v1/sessions", body)).signal).toBe("SIGKILL");
    const retry = await call("POST", "/v1/sessions", "reg-1", body);
    expect(retry.status).toBe(201);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    expect(retry.body).toMatchObject({ session: { name: "crash-worker" }, token: null });
    expect(await count("SELECT count(*) AS n FROM sessions WHERE name = 'crash-worker'")).toBe(1);
    expect(await count("SELECT count(*) AS n FROM tokens WHERE kind = 'session'")).toBe(2);
  });

  it("runs a request that died before its write committed afresh, once, without a 409", async () => {
    const { url, owner, call } = await setup();
    const body = { to: "inbox", body: "second try" };
    const crash = await crashDuring(url, "before", owner, "send-2", "POST", "/v1/messages", body);
    expect(crash.signal).toBe("SIGKILL");
    expect(await count("SELECT count(*) AS n FROM messages")).toBe(0);
    expect(await count("SELECT count(*) AS n FROM idempotency_keys")).toBe(0);
    const retry = await call("POST", "/v1/messages", "send-2", body);
    expect(retry.status).toBe(201);
    expect(retry.headers.get("Idempotent-Replayed")).toBeNull();
    expect((await call("POST", "/v1/messages", "send-2", body)).headers.get("Idempotent-Replayed")).toBe("true");
    expect(await count("SELECT count(*) AS n FROM messages")).toBe(1);
  });
});

/**
 * The routes made atomic after the first set (supervision, gates, broker, sessions): each is
 * killed between its commit and its answer, and before its commit, and retried with the key.
 */
describe("Idempotency-Key across a crash, for database-only routes", () => {
  let env: TestEnv | undefined;
  afterEach(() => {
    env?.close();
    env = undefined;
  });

  const n = async (q: string) => Number((await env!.services.database.client.execute(q)).rows[0]!.n);
  const keyed = (key: string) => ({ headers: { "Idempotency-Key": key } });

  /** Crashes the request at `when`, then retries it in this process; returns the retry and a second retry. */
  async function crashThenRetry(when: "before" | "after", key: string, method: string, path: string, body: unknown) {
    const crash = await crashDuring(env!.services.database.url, when, env!.owner, key, method, path, body);
    expect(crash).toMatchObject({ signal: "SIGKILL", lines: [] });
    const keys = await n(`SELECT count(*) AS n FROM idempotency_keys WHERE key = '${key}'`);
    // After the commit the key is done; before it, nothing of the request exists, not even a pending key.
    expect(keys).toBe(when === "after" ? 1 : 0);
    const retry = await env!.call(method, path, { body, ...keyed(key) });
    const again = await env!.call(method, path, { body, ...keyed(key) });
    expect(retry.status).toBeLessThan(300);
    expect(retry.headers.get("Idempotent-Replayed")).toBe(when === "after" ? "true" : null);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(again.body).toEqual(retry.body);
    return retry;
  }

  for (const when of ["after", "before"] as const) {
    it(`criteria add: a crash ${when} the commit leaves exactly one criterion, and its id in the answer`, async () => {
      env = await makeTestEnv();
      const pair = await boundPair(env);
      const path = `/v1/tasks/${pair.task.task.name}/criteria`;
      const retry = await crashThenRetry(when, `crit-${when}`, "POST", path, { criterion: "tests pass", source: "manager_inferred", status: "accepted" });
      expect(retry.status).toBe(201);
      const rows = (await env.services.database.client.execute("SELECT id FROM acceptance_criteria")).rows;
      expect(rows).toHaveLength(1);
      // The stored answer carries the id SQLite assigned in the same batch.
      expect(retry.body.affected_criterion).toMatchObject({ id: Number(rows[0]!.id), criterion: "tests pass", status: "accepted" });
      expect(await n("SELECT count(*) AS n FROM events WHERE kind = 'criterion_added'")).toBe(1);
    });

    it(`gate create: a crash ${when} the commit leaves exactly one gate`, async () => {
      env = await makeTestEnv();
      const retry = await crashThenRetry(when, `gate-${when}`, "POST", "/v1/gates", { type: "human", title: "release sign-off" });
      expect(retry.status).toBe(201);
      const rows = (await env.services.database.client.execute("SELECT id FROM gates")).rows;
      expect(rows.map((r) => r.id)).toEqual([retry.body.gate_id]);
      expect(await n("SELECT count(*) AS n FROM events WHERE kind = 'gate_created'")).toBe(1);
    });

    it(`broker approve: a crash ${when} the commit approves once, and the retry is not a CONFLICT`, async () => {
      env = await makeTestEnv();
      const advice = await draftedAdvice(env);
      const path = `/v1/broker/advice/${advice.adviceId}/approve`;
      const retry = await crashThenRetry(when, `approve-${when}`, "POST", path, { edit: "Split by route." });
      expect(retry.status).toBe(200);
      expect(retry.body.advice).toMatchObject({ id: advice.adviceId, state: "approved" });
      expect(await n("SELECT count(*) AS n FROM events WHERE kind = 'advice_approved'")).toBe(1);
      expect(await n("SELECT count(*) AS n FROM broker_events WHERE kind = 'advice_approved'")).toBe(1);
    });

    it(`session deregister: a crash ${when} the commit deregisters once, and the retry is not NOT_FOUND`, async () => {
      env = await makeTestEnv();
      const s = await registerSession(env, "worker");
      const retry = await crashThenRetry(when, `dereg-${when}`, "POST", `/v1/sessions/${s.session.name}/deregister`, {});
      expect(retry.status).toBe(200);
      expect(retry.body).toMatchObject({ session_id: s.session_id, session: { state: "gone" } });
      expect(await n("SELECT count(*) AS n FROM events WHERE kind = 'session_deregistered'")).toBe(1);
    });
  }

  for (const when of ["after", "before"] as const) {
    it(`app wake-up dispatch and delivery record: a crash ${when} the commit leaves one receipt each, and the retry answers its id`, async () => {
      env = await makeTestEnv();
      const p = await appPair(env);
      const plan = await crashThenRetry(when, `plan-${when}`, "POST", `/v1/tasks/${p.task}/app-loop/wakeup-dispatch`, {});
      expect(plan.status).toBe(200);
      const plans = (await env.services.database.client.execute("SELECT id FROM events WHERE kind = 'app_wakeup_dispatch_planned'")).rows;
      expect(plans.map((r) => r.id)).toEqual([plan.body.event_id]);
      // The worker has no app thread, so whatever its lease, the plan leaves it one recordable outcome.
      const worker = plan.body.actions.find((a: { role: string }) => a.role === "worker");
      const status = worker.status === "skipped_healthy" ? "skipped" : "blocked";
      const body = { role: "worker", dispatch_receipt: plan.body.event_id, delivery_status: status };
      const recorded = await crashThenRetry(when, `record-${when}`, "POST", `/v1/tasks/${p.task}/app-loop/wakeup-deliveries`, body);
      expect(recorded.status).toBe(201);
      const records = (await env.services.database.client.execute("SELECT id FROM events WHERE kind = 'app_wakeup_delivery_recorded'")).rows;
      expect(records.map((r) => r.id)).toEqual([recorded.body.event_id]);
    });

    it(`task reopen: a crash ${when} the commit reopens the task and its convoy once, and the retry is not a CONFLICT`, async () => {
      env = await makeTestEnv();
      const task = (await createTask(env)).task.name;
      const convoy = await env.call("POST", "/v1/convoys", { body: { title: "crash convoy", tracks: [task] } });
      expect((await env.call("POST", `/v1/tasks/${task}/finish`, { body: {} })).status).toBe(200);
      expect((await env.call("GET", `/v1/convoys/${convoy.body.convoy_id}`)).body.convoy.state).toBe("closed");
      const retry = await crashThenRetry(when, `reopen-${when}`, "POST", `/v1/tasks/${task}/reopen`, { reason: "regression" });
      expect(retry.status).toBe(200);
      expect(retry.body).toMatchObject({ task: { name: task, state: "active", finished_at: null }, reopened_convoys: [convoy.body.convoy_id] });
      expect(await n("SELECT count(*) AS n FROM events WHERE kind = 'task_reopened'")).toBe(1);
      expect((await env.call("GET", `/v1/tasks/${task}`)).body.task.state).toBe("active");
      expect((await env.call("GET", `/v1/convoys/${convoy.body.convoy_id}`)).body.convoy.state).toBe("open");
    });

    it(`inbox consume: a crash ${when} the commit hands the retry the item the first try took, and no other`, async () => {
      env = await makeTestEnv();
      const s = await registerSession(env, "manager");
      for (const body of ["first", "second"]) expect((await env.call("POST", "/v1/messages", { body: { to: s.session.name, body } })).status).toBe(201);
      const items = (await env.services.database.client.execute("SELECT id FROM inbox_items ORDER BY created_at, rowid")).rows.map((r) => String(r.id));
      const retry = await crashThenRetry(when, `consume-${when}`, "POST", `/v1/sessions/${s.session.name}/inbox/consume`, {});
      expect(retry.status).toBe(200);
      // Without the key stored in the consume's commit, the retry after the crash took the second
      // item and the first was consumed for nobody.
      expect(retry.body).toMatchObject({ item: { id: items[0], state: "consumed" }, has_more: true });
      const rows = (await env.services.database.client.execute("SELECT id, consumed_at FROM inbox_items ORDER BY created_at, rowid")).rows;
      expect(rows.map((r) => r.consumed_at !== null)).toEqual([true, false]);
      expect(await n("SELECT count(*) AS n FROM events WHERE kind = 'dispatch_inbox_consumed'")).toBe(1);
      expect((await env.call("POST", `/v1/sessions/${s.session.name}/inbox/consume`, { body: {} })).body.item).toMatchObject({ id: items[1] });
    });
  }

  it("concurrent duplicates of a criteria add both run to the batch; one commits and the other answers with its response", async () => {
    env = await makeTestEnv();
    const pair = await boundPair(env);
    // Both requests are held at the batch until both got there: neither saw the other's key first.
    let arrived = 0;
    let release!: () => void;
    const bothThere = new Promise<void>((r) => {
      release = r;
    });
    let committed = 0;
    const app = createApp({
      ...env.services,
      hooks: {
        beforeKeyCommit: async () => {
          if (++arrived === 2) release();
          await bothThere;
        },
        afterKeyCommit: () => {
          committed++;
        },
      },
    });
    const send = async () => {
      const res = await app.request(`/v1/tasks/${pair.task.task.name}/criteria`, {
        method: "POST",
        headers: { Authorization: `Bearer ${env!.owner}`, "Idempotency-Key": "crit-dup", "Content-Type": "application/json" },
        body: JSON.stringify({ criterion: "docs updated", source: "manager_inferred", status: "accepted" }),
      });
      return { status: res.status, replayed: res.headers.get("Idempotent-Replayed"), body: await res.json() };
    };
    const [a, b] = await Promise.all([send(), send()]);
    expect(arrived).toBe(2);
    expect(committed).toBe(1);
    expect([a.status, b.status]).toEqual([201, 201]);
    expect([a.replayed, b.replayed].sort()).toEqual([null, "true"]);
    expect(a.body).toEqual(b.body);
    expect(await n("SELECT count(*) AS n FROM acceptance_criteria")).toBe(1);
    expect(await n("SELECT count(*) AS n FROM events WHERE kind = 'criterion_added'")).toBe(1);
  });
});
