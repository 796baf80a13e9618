import { createClient } from "@libsql/client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KNOWN_MIGRATIONS, SCHEMA_TABLES } from "../../../functions/admin/db-doctor.ts";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("GET /v1/admin/db-doctor", () => {
  it("reports a freshly migrated database as healthy", async () => {
    const res = await env.call("GET", "/v1/admin/db-doctor");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      ok: true,
      url: env.services.home.dbUrl,
      schema_version: KNOWN_MIGRATIONS.at(-1)!.tag,
      pending_migrations: [],
      unknown_migrations: [],
      missing_tables: [],
      integrity_check: "ok",
      journal_mode: "wal",
    });
    expect(res.body.applied_migrations).toEqual(KNOWN_MIGRATIONS);
  });

  it("stays healthy while another process writes the full-text indexed audit trail between checks", async () => {
    // SQLite's FTS5 answers PRAGMA integrity_check from the index structure a connection read
    // before: on the server's own long-lived connection, once another process's audit inserts had
    // merged telemetry_fts segments, it reported a sound file "malformed" (after 11 inserts here).
    // The doctor checks on a connection opened for the check.
    const other = createClient({ url: env.services.database.url });
    try {
      for (let i = 0; i < 60; i++) {
        await other.execute({
          sql: "INSERT INTO events (id, kind, task_id, session_id, actor, payload_json, created_at) VALUES (?, 'note_added', NULL, NULL, 'owner', ?, ?)",
          args: [`evt_other_${i}`, JSON.stringify({ n: i, name: `note${i}` }), env.clock.ms],
        });
        if (i % 10 === 0) {
          const res = await env.call("GET", "/v1/admin/db-doctor");
          expect(res.body, `after ${i + 1} inserts`).toMatchObject({ ok: true, integrity_check: "ok" });
        }
      }
    } finally {
      other.close();
    }
  });

  it("reports a migration missing from the ledger as pending and an unknown one as unknown", async () => {
    const last = KNOWN_MIGRATIONS.at(-1)!;
    await env.services.database.client.execute({ sql: "DELETE FROM __drizzle_migrations WHERE created_at = ?", args: [last.created_at] });
    await env.services.database.client.execute({ sql: "INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('x', 1)", args: [] });
    const res = await env.call("GET", "/v1/admin/db-doctor");
    expect(res.body.ok).toBe(false);
    expect(res.body.pending_migrations).toEqual([last]);
    expect(res.body.unknown_migrations).toEqual([{ tag: "(unknown to this build)", created_at: 1 }]);
  });

  it("names a table of the schema dropped by hand while the ledger says every migration ran", async () => {
    expect((await env.call("GET", "/v1/admin/db-doctor")).body.missing_tables).toEqual([]);
    expect(SCHEMA_TABLES).toEqual(expect.arrayContaining(["sessions", "commands", "dispatch_leases", "telemetry_events"]));
    // What a hand-edited file looks like: the dispatcher's lease table gone, its migration recorded.
    await env.services.database.client.execute("DROP TABLE dispatch_leases");
    const res = await env.call("GET", "/v1/admin/db-doctor");
    expect(res.body).toMatchObject({ ok: false, pending_migrations: [], missing_tables: ["dispatch_leases"], integrity_check: "ok" });
  });

  it("is owner-only", async () => {
    const w = await registerSession(env, "worker");
    for (const token of [w.token, await env.mint("daemon"), await env.mint("runner", "h")]) {
      expect((await env.call("GET", "/v1/admin/db-doctor", { token })).status).toBe(403);
    }
    expect((await env.call("GET", "/v1/admin/db-doctor", { token: null })).status).toBe(401);
  });
});
