import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openDatabase, type Database } from "../../functions/lib/db.ts";
import { resolveHome } from "../../local-runner/home.ts";
import { migrateDatabase, schemaIsCurrent } from "../../local-runner/migrate.ts";
import { openLocalServices } from "../../local-runner/services.ts";
import journal from "../../schema/migrations/meta/_journal.json" with { type: "json" };

const opened: Database[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const d of opened.splice(0)) d.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function fileDatabase(): Promise<{ url: string; db: Database }> {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-migrate-"));
  dirs.push(dir);
  const url = `file:${join(dir, "db.sqlite")}`;
  const db = await openDatabase({ url });
  opened.push(db);
  return { url, db };
}

describe("migrateDatabase", () => {
  it("applies every migration to a new database, then finds it current", async () => {
    const { db } = await fileDatabase();
    expect(await schemaIsCurrent(db)).toBe(false);
    const first = await migrateDatabase(db);
    expect(first.applied).toEqual(journal.entries.map((e) => e.tag));
    expect(await schemaIsCurrent(db)).toBe(true);
    expect((await migrateDatabase(db)).applied).toEqual([]);
  });

  it("marks the requests a database already took up as advised when it adds the broker's open-request index (0021)", async () => {
    const { db } = await fileDatabase();
    await migrateDatabase(db);
    // Back to the schema before 0021, with one request advised and one not yet.
    const c = db.client;
    const last = journal.entries.find((e) => e.tag === "0021_unadvised_requests")!;
    await c.executeMultiple(`
      DROP INDEX messages_unadvised_idx; DROP TRIGGER advice_requests_mark_message; ALTER TABLE messages DROP COLUMN advised_at;
      DELETE FROM __drizzle_migrations WHERE created_at = ${last.when};
      INSERT INTO messages (id, thread_id, msg_type, from_actor, to_session_id, body, created_at) VALUES
        ('msg_old', 'thr_1', 'request', 'owner', 'ses_x', 'taken up?', 1000),
        ('msg_new', 'thr_2', 'request', 'owner', 'ses_x', 'still open?', 2000),
        ('msg_note', 'thr_3', 'notify', 'owner', 'ses_x', 'fyi', 3000);
      INSERT INTO advice_requests (id, source_message_id, thread_id, to_session_id, state, request_text, created_at, updated_at)
        VALUES ('adv_1', 'msg_old', 'thr_1', 'ses_x', 'queued', 'taken up?', 1500, 1500);`);
    expect((await migrateDatabase(db)).applied).toEqual([last.tag]);
    const marks = await c.execute("SELECT id, advised_at FROM messages ORDER BY id");
    expect(marks.rows.map((r) => [r.id, r.advised_at])).toEqual([
      ["msg_new", null],
      ["msg_note", null],
      ["msg_old", 1500],
    ]);
    // From now on the trigger marks a request as its advice request is made.
    await c.execute(
      "INSERT INTO advice_requests (id, source_message_id, thread_id, to_session_id, state, request_text, created_at, updated_at) VALUES ('adv_2', 'msg_new', 'thr_2', 'ses_x', 'queued', 'still open?', 2500, 2500)",
    );
    expect((await c.execute("SELECT advised_at FROM messages WHERE id = 'msg_new'")).rows[0]!.advised_at).toBe(2500);
  });

  it("counts the jobs, run events and run advice a database already holds when it adds the kept counts (0023)", async () => {
    const { db } = await fileDatabase();
    await migrateDatabase(db);
    // Back to the schema before 0023, with history of every kind it counts.
    const c = db.client;
    const last = journal.entries.find((e) => e.tag === "0023_history_counters")!;
    const triggers = (await c.execute("SELECT name FROM sqlite_schema WHERE type = 'trigger' AND name GLOB '*_count_*'")).rows.map((r) => String(r.name));
    expect(triggers).toHaveLength(11);
    await c.executeMultiple(`
      ${triggers.map((t) => `DROP TRIGGER ${t};`).join(" ")}
      DROP TABLE orchestrator_job_counts; DROP TABLE broker_run_event_counts; DROP TABLE broker_run_advice_counts; DROP INDEX broker_events_run_kind_idx;
      DELETE FROM __drizzle_migrations WHERE created_at = ${last.when};
      INSERT INTO orchestrator_jobs (id, advice_id, state, created_at, updated_at) VALUES
        ('job_1', 'adv_1', 'draft_ready', 1, 1), ('job_2', 'adv_2', 'draft_ready', 2, 2), ('job_3', 'adv_3', 'failed', 3, 3), ('job_4', 'adv_4', 'queued', 4, 4);
      INSERT INTO broker_events (run_id, kind, payload_json, created_at) VALUES
        ('run_a', 'tick', '{}', 1), ('run_a', 'tick', '{}', 2), ('run_a', 'stop_condition_met', '{"condition":"owner_input_required"}', 3),
        ('run_a', 'send_reserved', '{"thread_id":"thr_1"}', 4), ('run_b', 'run_created', '{}', 5), (NULL, 'advice_ingested', '{}', 6);
      INSERT INTO advice_requests (id, source_message_id, thread_id, to_session_id, run_id, state, request_text, draft_text, approved_at, sent_at, created_at, updated_at) VALUES
        ('adv_1', 'msg_1', 'thr_1', 'ses_x', 'run_a', 'sent', 'q', 'd', 5, 6, 1, 6),
        ('adv_2', 'msg_2', 'thr_1', 'ses_x', 'run_a', 'sent', 'q', 'd', NULL, 7, 2, 7),
        ('adv_3', 'msg_3', 'thr_2', 'ses_x', 'run_a', 'failed', 'q', NULL, NULL, NULL, 3, 3),
        ('adv_4', 'msg_4', 'thr_3', 'ses_x', NULL, 'queued', 'q', NULL, NULL, NULL, 4, 4);`);
    expect((await migrateDatabase(db)).applied).toEqual([last.tag]);
    const table = async (sql: string) => (await c.execute(sql)).rows.map((r) => Object.values(r));
    expect(await table("SELECT state, n FROM orchestrator_job_counts ORDER BY state")).toEqual([
      ["draft_ready", 2],
      ["failed", 1],
      ["queued", 1],
    ]);
    expect(await table("SELECT run_id, kind, subject, n FROM broker_run_event_counts ORDER BY run_id, kind, subject")).toEqual([
      ["run_a", "", "", 4],
      ["run_a", "send_reserved", "thr_1", 1],
      ["run_a", "stop_condition_met", "owner_input_required", 1],
      ["run_a", "tick", "", 2],
      ["run_b", "", "", 1],
      ["run_b", "run_created", "", 1],
    ]);
    expect(await table("SELECT run_id, thread_id, requests, drafts, sent, unapproved_sent FROM broker_run_advice_counts ORDER BY run_id, thread_id")).toEqual([
      ["run_a", "", 3, 2, 2, 1],
      ["run_a", "thr_1", 2, 2, 2, 1],
      ["run_a", "thr_2", 1, 0, 0, 0],
    ]);
    // From now on the triggers keep them: a job finishes, a run ticks.
    await c.execute("UPDATE orchestrator_jobs SET state = 'draft_ready' WHERE id = 'job_4'");
    await c.execute("INSERT INTO broker_events (run_id, kind, payload_json, created_at) VALUES ('run_a', 'tick', '{}', 9)");
    expect(await table("SELECT state, n FROM orchestrator_job_counts ORDER BY state")).toEqual([
      ["draft_ready", 3],
      ["failed", 1],
      ["queued", 0],
    ]);
    expect(await table("SELECT kind, n FROM broker_run_event_counts WHERE run_id = 'run_a' AND kind IN ('', 'tick') ORDER BY kind")).toEqual([
      ["", 5],
      ["tick", 3],
    ]);
  });

  it("counts a run's advice by state and every ingest cursor a database already holds when it adds those kept counts (0025, 0027)", async () => {
    const { db } = await fileDatabase();
    await migrateDatabase(db);
    const c = db.client;
    const undo = ["0025_run_advice_states", "0027_ingest_totals"].map((tag) => journal.entries.find((e) => e.tag === tag)!);
    const triggers = (
      await c.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'trigger' AND (name GLOB 'advice_requests_run_states_*' OR name GLOB 'ingest_cursors_totals_*')",
      )
    ).rows.map((r) => String(r.name));
    expect(triggers).toHaveLength(7);
    await c.executeMultiple(`
      ${triggers.map((t) => `DROP TRIGGER ${t};`).join(" ")}
      DROP TABLE broker_run_advice_states; DROP INDEX advice_requests_run_drafted_idx; DROP INDEX advice_requests_run_owner_input_idx; DROP TABLE ingest_totals;
      DELETE FROM __drizzle_migrations WHERE created_at IN (${undo.map((e) => e.when).join(", ")});
      INSERT INTO advice_requests (id, source_message_id, thread_id, to_session_id, run_id, state, request_text, created_at, updated_at) VALUES
        ('adv_1', 'msg_1', 'thr_1', 'ses_x', 'run_a', 'draft_ready', 'q', 1, 1), ('adv_2', 'msg_2', 'thr_1', 'ses_x', 'run_a', 'draft_ready', 'q', 2, 2),
        ('adv_3', 'msg_3', 'thr_2', 'ses_x', 'run_a', 'sent', 'q', 3, 3), ('adv_4', 'msg_4', 'thr_3', 'ses_x', NULL, 'queued', 'q', 4, 4);
      INSERT INTO ingest_cursors (session_id, path, identity, generation, offset, lines_total, skipped_total, updated_at) VALUES
        ('ses_1', '/a', '1:1', 0, 10, 7, 0, 1), ('ses_2', '/b', '1:2', 0, 20, 5, 2, 1);`);
    expect((await migrateDatabase(db)).applied).toEqual(undo.map((e) => e.tag));
    const table = async (sql: string) => (await c.execute(sql)).rows.map((r) => Object.values(r));
    expect(await table("SELECT run_id, state, n FROM broker_run_advice_states ORDER BY run_id, state")).toEqual([
      ["run_a", "draft_ready", 2],
      ["run_a", "sent", 1],
    ]);
    expect(await table("SELECT id, sessions, lines, skipped, sessions_skipping FROM ingest_totals")).toEqual([[1, 2, 12, 2, 1]]);
    // From now on the triggers keep them: a draft is sent, a cursor moves, another session is ingested.
    await c.execute("UPDATE advice_requests SET state = 'sent' WHERE id = 'adv_1'");
    await c.execute("UPDATE ingest_cursors SET lines_total = lines_total + 3, skipped_total = skipped_total + 1 WHERE session_id = 'ses_1'");
    await c.execute(
      "INSERT INTO ingest_cursors (session_id, path, identity, generation, offset, lines_total, skipped_total, updated_at) VALUES ('ses_3', '/c', '1:3', 0, 0, 0, 0, 2)",
    );
    expect(await table("SELECT state, n FROM broker_run_advice_states WHERE run_id = 'run_a' ORDER BY state")).toEqual([
      ["draft_ready", 1],
      ["sent", 2],
    ]);
    expect(await table("SELECT sessions, lines, skipped, sessions_skipping FROM ingest_totals")).toEqual([[3, 15, 3, 2]]);
  });

  it("clears the secret-bearing responses an older version stored, once, when it bounds the hourly scrub (0028)", async () => {
    const { db } = await fileDatabase();
    await migrateDatabase(db);
    const c = db.client;
    const last = journal.entries.find((e) => e.tag === "0028_scrub_stored_secrets")!;
    const store = (key: string, body: string) =>
      c.execute({
        sql: "INSERT INTO idempotency_keys (principal, key, method, path, request_hash, state, status_code, response_body, created_at) VALUES ('session:x', ?, 'POST', '/v1/sessions', 'h', 'done', 201, ?, 1)",
        args: [key, body],
      });
    await c.execute({ sql: "DELETE FROM __drizzle_migrations WHERE created_at = ?", args: [last.when] });
    await store("minted", `{"token":"sy_session_${"ef".repeat(24)}"}`);
    await store("plain", '{"session_id":"ses_1"}');
    expect((await migrateDatabase(db)).applied).toEqual([last.tag]);
    const bodies = (await c.execute("SELECT key, response_body FROM idempotency_keys ORDER BY key")).rows.map((r) => [r.key, r.response_body]);
    expect(bodies).toEqual([
      ["minted", null],
      ["plain", '{"session_id":"ses_1"}'],
    ]);
  });

  it("checks a current database without the write lock, so a long writer elsewhere does not hold it up", async () => {
    const { url, db } = await fileDatabase();
    await migrateDatabase(db);
    // Another process holds the write lock (BEGIN IMMEDIATE) with a write in flight.
    const other = await openDatabase({ url });
    opened.push(other);
    const tx = await other.client.transaction("write");
    try {
      await tx.execute("CREATE TABLE held (x)");
      const blocked = new Promise<"blocked">((r) => setTimeout(() => r("blocked"), 3000).unref());
      // Taking the lock would wait out the busy timeout and retry; the read answers at once.
      expect(await Promise.race([migrateDatabase(db), blocked])).toEqual({ applied: [], newer: 0 });
    } finally {
      await tx.rollback();
      tx.close();
    }
  });

  it("counts migrations a newer Switchyard applied, and a process opening such a home warns", async () => {
    const { url, db } = await fileDatabase();
    expect((await migrateDatabase(db)).newer).toBe(0);
    const future = Math.max(...journal.entries.map((e) => e.when)) + 1000;
    await db.client.execute({ sql: "INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('from-the-future', ?)", args: [future] });
    expect(await migrateDatabase(db)).toEqual({ applied: [], newer: 1 });

    const warnings: Array<[string, Record<string, unknown> | undefined]> = [];
    const log = { info() {}, error() {}, warn: (msg: string, data?: Record<string, unknown>) => warnings.push([msg, data]) };
    const dir = mkdtempSync(join(tmpdir(), "switchyard-migrate-home-"));
    dirs.push(dir);
    const services = await openLocalServices({ home: { ...resolveHome({}, { home: dir }), dbUrl: url, hostName: "t" }, log, watchChanges: false });
    services.database.close();
    expect(warnings).toEqual([["the database was migrated by a newer Switchyard than this one", expect.objectContaining({ newer_migrations: 1 })]]);

    // Without a logger (a CLI command), the warning goes to stderr.
    const stderr: string[] = [];
    const spy = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
      stderr.push(String(chunk));
      return true;
    });
    try {
      const cli = await openLocalServices({ home: { ...resolveHome({}, { home: dir }), dbUrl: url, hostName: "t" }, watchChanges: false });
      cli.database.close();
    } finally {
      spy.mockRestore();
    }
    expect(stderr.join("")).toContain("switchyard: warning: the database was migrated by a newer Switchyard than this one (1 migration it does not know)");
  });

  it("counts neither a duplicated record row nor a NULL or word in it as a newer migration", async () => {
    const { db } = await fileDatabase();
    await migrateDatabase(db);
    const known = journal.entries[3]!.when;
    const future = Math.max(...journal.entries.map((e) => e.when)) + 1000;
    for (const createdAt of [known, null, "n/a", "", future, future]) {
      await db.client.execute({ sql: "INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('odd', ?)", args: [createdAt] });
    }
    expect(await migrateDatabase(db)).toEqual({ applied: [], newer: 1 });
  });

  it("does not call a database current when a migration is missing from its record", async () => {
    const { db } = await fileDatabase();
    await migrateDatabase(db);
    const newest = Math.max(...journal.entries.map((e) => e.when));
    await db.client.execute({ sql: "DELETE FROM __drizzle_migrations WHERE created_at = ?", args: [newest] });
    expect(await schemaIsCurrent(db)).toBe(false);
  });
});
