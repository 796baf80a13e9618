// The floors the HTTP bench measures show and send against (bench/queue-perf.ts, part 2): each
// route does only what its database work needs, by hand, on one libsql connection whose
// statements are prepared once. It hashes the bearer and reads the token row like the app does,
// then show reads the session row by name; send reads the recipient and commits the message, its
// inbox item and its audit event (whose triggers feed telemetry and its full-text index) in one
// transaction. No validation, no middleware, no error handling: a ceiling for what any
// implementation of these routes on this schema and this machine can reach, not a route to use.
import { createRequire } from "node:module";
import { randomUUID } from "node:crypto";
import { Hono } from "hono";
import { sha256HexSync } from "../functions/lib/ids.ts";

const require = createRequire(import.meta.url);

interface Statement {
  get(args?: unknown[]): Record<string, unknown> | undefined;
  run(args?: unknown[]): unknown;
}
interface Connection {
  prepare(sql: string): Statement;
  exec(sql: string): void;
  close(): void;
}

const TOKEN = `SELECT t.id, t.kind, t.session_id, t.revoked_at, s.id AS live_session_id
  FROM tokens t LEFT JOIN sessions s ON s.id = t.session_id AND s.state = 'active'
 WHERE t.secret_hash = ? LIMIT 1`;
const SHOW = `SELECT s.*, coalesce(
    (SELECT k.name FROM bindings b JOIN tasks k ON k.id = b.task_id WHERE b.worker_session_id = s.id AND b.state = 'active' LIMIT 1),
    (SELECT k.name FROM bindings b JOIN tasks k ON k.id = b.task_id WHERE b.manager_session_id = s.id AND b.state = 'active' LIMIT 1)) AS active_task
  FROM sessions s WHERE s.name = ? ORDER BY s.state, s.created_at DESC LIMIT 1`;
const RECIPIENT = `SELECT id, name FROM sessions WHERE name = ? AND state = 'active' LIMIT 1`;
const MESSAGE = `INSERT INTO messages (id, thread_id, correlation_id, msg_type, from_session_id, from_actor, to_session_id,
  in_reply_to, project, subject, body, created_at) VALUES (?, ?, ?, 'message', NULL, 'owner', ?, NULL, NULL, NULL, ?, ?)`;
const ITEM = `INSERT INTO inbox_items (id, target_session_id, source_session_id, task_id, binding_id, signal_type, message_id,
  source_event_id, dedup_key, correlation_id, payload_json, delivery_mode, delivery_command_id, delivered_at, consumed_at,
  consumed_by, created_at) VALUES (?, ?, NULL, NULL, NULL, 'message', ?, NULL, ?, ?, ?, 'pull_required', NULL, NULL, NULL, NULL, ?)`;
const EVENT = `INSERT INTO events (id, kind, task_id, session_id, actor, payload_json, created_at) VALUES (?, 'message_sent', NULL, ?, 'owner', ?, ?)`;

/**
 * A Hono app with the two floor routes (GET /floor/sessions/:name, POST /floor/messages) on the
 * database file at `path`, synchronous=NORMAL as the app's connections are. `close` closes its
 * connection.
 */
export function floorApp(path: string): { app: Hono; close: () => void } {
  const Database = require("libsql") as new (path: string, opts: { timeout: number }) => Connection;
  const db = new Database(path, { timeout: 5000 });
  db.exec("PRAGMA synchronous = NORMAL");
  const token = db.prepare(TOKEN);
  const show = db.prepare(SHOW);
  const recipient = db.prepare(RECIPIENT);
  const [message, item, event] = [db.prepare(MESSAGE), db.prepare(ITEM), db.prepare(EVENT)];
  const [begin, commit] = [db.prepare("BEGIN IMMEDIATE"), db.prepare("COMMIT")];
  const principal = (header: string | undefined) => {
    const row = header?.startsWith("Bearer ") ? token.get([sha256HexSync(header.slice(7))]) : undefined;
    return row && row.revoked_at === null ? row : undefined;
  };
  const app = new Hono();
  app.get("/floor/sessions/:name", (c) => {
    if (!principal(c.req.header("authorization"))) return c.json({ error: "unauthorized" }, 401);
    const row = show.get([c.req.param("name")]);
    if (!row) return c.json({ error: "not found" }, 404);
    const { active_task, ...session } = row;
    return c.json({ session, active_task });
  });
  app.post("/floor/messages", async (c) => {
    if (!principal(c.req.header("authorization"))) return c.json({ error: "unauthorized" }, 401);
    const body = (await c.req.json()) as { to: string; body: string };
    const to = recipient.get([body.to]);
    if (!to) return c.json({ error: "not found" }, 404);
    const id = randomUUID();
    const now = Date.now();
    const payload = JSON.stringify({ message_id: `msg_${id}`, to: to.name, body: body.body, inbox_item_id: `inb_${id}`, delivery: "pull_required" });
    begin.run();
    try {
      message.run([`msg_${id}`, `thr_${id}`, `cor_${id}`, to.id, body.body, now]);
      item.run([`inb_${id}`, to.id, `msg_${id}`, `message:msg_${id}`, `cor_${id}`, payload, now]);
      event.run([`evt_${id}`, to.id, payload, now]);
      commit.run();
    } catch (e) {
      db.exec("ROLLBACK");
      throw e;
    }
    return c.json({ message_id: `msg_${id}`, inbox_item_id: `inb_${id}` }, 201);
  });
  return { app, close: () => db.close() };
}
