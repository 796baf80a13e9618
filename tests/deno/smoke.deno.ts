// Deno smoke test: the same app and db layer that run on Node also run on Deno's Node
// compatibility, against a real file database. Run with `npm run test:deno`; the explicit path
// keeps Deno from picking up the vitest files.
import assert from "node:assert/strict";
import { createApp } from "../../functions/app.ts";
import { tokenInsert } from "../../functions/lib/auth.ts";
import { openDatabase } from "../../functions/lib/db.ts";
import { makeId } from "../../functions/lib/ids.ts";
import { migrateDatabase } from "../../local-runner/migrate.ts";

Deno.test("registers a worker over app.request and lists it, on a migrated file database", async () => {
  const dir = await Deno.makeTempDir({ prefix: "switchyard-deno-" });
  const database = await openDatabase({ url: `file:${dir}/switchyard.db` });
  try {
    const { applied } = await migrateDatabase(database);
    assert.ok(applied.length > 0, "migrations applied to the fresh database");

    const owner = await tokenInsert(database.db, { id: makeId("tok", Date.now()), kind: "owner", nowMs: Date.now(), label: "deno smoke" });
    await owner.stmt;
    const app = createApp({ database, hostName: "deno-smoke" });
    const headers = { Authorization: `Bearer ${owner.secret}`, "Content-Type": "application/json" };

    const registered = await app.request("/v1/sessions", { method: "POST", headers, body: JSON.stringify({ name: "deno-worker", role: "worker" }) });
    assert.equal(registered.status, 201);
    const reg = await registered.json();
    assert.equal(reg.session.name, "deno-worker");
    assert.equal(reg.session.role, "worker");
    assert.match(reg.session_id, /^ses_/);
    assert.match(reg.token, /^sy_session_/);

    const listed = await app.request("/v1/sessions", { headers });
    assert.equal(listed.status, 200);
    const list = await listed.json();
    assert.deepEqual(
      list.sessions.map((s: { id: string; name: string; role: string; host: string | null }) => [s.id, s.name, s.role, s.host]),
      [[reg.session_id, "deno-worker", "worker", "deno-smoke"]],
    );

    const rows = await database.client.execute("PRAGMA integrity_check");
    assert.equal(rows.rows[0]?.[0], "ok");
  } finally {
    database.close();
    await Deno.remove(dir, { recursive: true });
  }
});
