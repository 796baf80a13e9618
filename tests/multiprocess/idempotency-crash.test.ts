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
import { registerSession } from "../../functions/sessions/register.ts";
import { migrateDatabase } from "../../local-runner/migrate.ts";
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
  await registerSession(makeCtx({ database, hostName: "crash-host" }, { kind: "owner", tokenId: "tok_owner" }), { name: "inbox", role: "manager" });
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
