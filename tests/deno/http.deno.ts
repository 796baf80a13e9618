// The HTTP-level suite under Deno: the app served by deno/serve.ts with Deno.serve on a real
// socket and a real file database, the shared cases of tests/helpers/http-suite.ts (the same
// ones vitest runs against the Node server), then what only the Deno entry does: the owner token
// from the environment, the crons through Deno.cron, the access log through pino.
import assert from "node:assert/strict";
import { type CronRegister, denoConfigFromEnv, denoSchedule, type DenoServer, runDenoCronSlot, startDeno } from "../../deno/serve.ts";
import { CRONS } from "../../crons/index.ts";
import { openDatabase } from "../../functions/lib/db.ts";
import { pinoLogger } from "../../local-runner/logger.ts";
import { NEWER_DATABASE } from "../../local-runner/migrate.ts";
import { HTTP_CASES, httpCall, RATE_LIMIT } from "../helpers/http-suite.ts";

const OWNER = `sy_owner_${"0123456789abcdef".repeat(3)}`;
const MAX_BODY = 64 * 1024;

/** What each test gets: a server, its directory, the crons it registered and the log lines it wrote. */
interface Started {
  dir: string;
  server: DenoServer;
  registered: { name: string; schedule: string; handler: () => Promise<void> }[];
  logLines: string[];
}

async function start(opts: { dir?: string; env?: Record<string, string> } = {}): Promise<Started> {
  const dir = opts.dir ?? (await Deno.makeTempDir({ prefix: "switchyard-deno-http-" }));
  const env = {
    SWITCHYARD_DB_URL: `file:${dir}/switchyard.db`,
    // A new directory's first start creates its database; a restart in a given one must find it.
    ...(opts.dir ? {} : { SWITCHYARD_DB_CREATE: "1" }),
    SWITCHYARD_OWNER_TOKEN: OWNER,
    PORT: "0",
    SWITCHYARD_MAX_BODY_BYTES: String(MAX_BODY),
    SWITCHYARD_RATE_BURST: String(RATE_LIMIT.burst),
    SWITCHYARD_RATE_PER_MINUTE: String(RATE_LIMIT.perMinute),
    ...opts.env,
  };
  const registered: Started["registered"] = [];
  // Deno.cron fires on the minute; the test records the registrations and calls the handlers itself.
  const cron: CronRegister = async (name, schedule, _options, handler) => {
    registered.push({ name, schedule, handler });
  };
  const logLines: string[] = [];
  const log = pinoLogger({ level: "info", destination: { write: (line: string) => void logLines.push(line) } });
  const server = await startDeno(denoConfigFromEnv(env), { env, cron, log });
  return { dir, server, registered, logLines };
}

async function stop(s: Started) {
  await s.server.stop();
  await Deno.remove(s.dir, { recursive: true });
}

Deno.test("the shared HTTP suite passes against Deno.serve", async (t) => {
  const s = await start();
  try {
    const target = { url: s.server.url, ownerToken: OWNER, maxBodyBytes: MAX_BODY };
    for (const c of HTTP_CASES) {
      await t.step(c.name, () => c.run(target));
    }
  } finally {
    await stop(s);
  }
});

Deno.test("access log: one JSON line per request with its id, route, status and caller, never a secret", async () => {
  const s = await start();
  try {
    const res = await httpCall({ url: s.server.url, ownerToken: OWNER, maxBodyBytes: MAX_BODY }, "POST", "/v1/sessions", {
      body: { name: "logged-worker", role: "worker" },
      headers: { "X-Request-Id": "deno-log-1" },
    });
    assert.equal(res.status, 201);
    const entries = s.logLines.map((l) => JSON.parse(l));
    const entry = entries.find((e) => e.msg === "request" && e.request_id === "deno-log-1");
    assert.ok(entry, `no access log entry for the request among ${s.logLines.length} lines`);
    assert.equal(entry.method, "POST");
    assert.equal(entry.route, "/v1/sessions");
    assert.equal(entry.status, 201);
    assert.equal(entry.principal, "owner");
    assert.match(entry.token_id, /^tok_/);
    assert.equal(entry.level, "info");
    const all = s.logLines.join("\n");
    assert.ok(!all.includes(OWNER), "the owner secret reached the log");
    assert.ok(!all.includes(res.body.token), "the new session's secret reached the log");
  } finally {
    await stop(s);
  }
});

Deno.test("owner token: adopted by a fresh database, kept on restart, a wrong one refused, none refused", async () => {
  const first = await start();
  assert.equal(first.server.owner, "adopted");
  await first.server.stop();
  const dir = first.dir;
  try {
    const again = await start({ dir, env: { SWITCHYARD_OWNER_TOKEN: "" } });
    assert.equal(again.server.owner, "existing");
    // The adopted secret is the owner's.
    assert.equal((await httpCall({ url: again.server.url, ownerToken: OWNER, maxBodyBytes: MAX_BODY }, "GET", "/v1/tokens")).status, 200);
    await again.server.stop();
    await assert.rejects(start({ dir, env: { SWITCHYARD_OWNER_TOKEN: `sy_owner_${"f".repeat(48)}` } }), /not a live owner token of this database/);
    await assert.rejects(start({ dir, env: { SWITCHYARD_OWNER_TOKEN: "hunter2" } }), /not an owner token/);
    const empty = await Deno.makeTempDir({ prefix: "switchyard-deno-empty-" });
    try {
      await assert.rejects(
        start({ dir: empty, env: { SWITCHYARD_OWNER_TOKEN: "", SWITCHYARD_DB_CREATE: "1" } }),
        /has no owner token yet: set SWITCHYARD_OWNER_TOKEN/,
      );
    } finally {
      await Deno.remove(empty, { recursive: true });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a database file that is missing or empty is refused, not created, unless SWITCHYARD_DB_CREATE=1", async () => {
  const first = await start();
  await first.server.stop();
  const dir = first.dir;
  const file = `${dir}/switchyard.db`;
  const exists = (path: string) =>
    Deno.stat(path).then(
      () => true,
      () => false,
    );
  try {
    // A volume that was not mounted, or a path with a typo: the secret store still holds the owner
    // token, so without this check the server would adopt it again on a new empty database.
    for (const suffix of ["", "-wal", "-shm"]) await Deno.remove(`${file}${suffix}`).catch(() => {});
    await assert.rejects(start({ dir }), /no database file at .*switchyard\.db.*SWITCHYARD_DB_CREATE=1/s);
    assert.equal(await exists(file), false, "the refused start created the file");
    await Deno.writeFile(file, new Uint8Array());
    await assert.rejects(start({ dir }), /the database file .*switchyard\.db is empty/);
    await assert.rejects(start({ dir, env: { SWITCHYARD_DB_CREATE: "yes" } }), /SWITCHYARD_DB_CREATE must be '1' \(create a missing database file\) or '0'/);
    await assert.rejects(start({ dir, env: { SWITCHYARD_DB_CREATE: "0" } }), /the database file .*switchyard\.db is empty/);
    await assert.rejects(start({ dir, env: { SWITCHYARD_DB_URL: `file:${dir}`, SWITCHYARD_DB_CREATE: "1" } }), /SWITCHYARD_DB_URL names a directory/);
    // A FIFO failed inside libSQL with an I/O error after writing a journal beside it.
    const fifo = `${dir}/fifo`;
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.equal(made.code, 0);
    await assert.rejects(start({ dir, env: { SWITCHYARD_DB_URL: `file:${fifo}`, SWITCHYARD_DB_CREATE: "1" } }), /SWITCHYARD_DB_URL names a FIFO/);
    assert.equal(await exists(`${fifo}-journal`), false, "the refused start wrote a journal");
    const created = await start({ dir, env: { SWITCHYARD_DB_CREATE: "1" } });
    assert.equal(created.server.owner, "adopted");
    await created.server.stop();
    // Once there, it is served without the setting.
    const again = await start({ dir });
    assert.equal(again.server.owner, "existing");
    await again.server.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a database migrated by a newer Switchyard: the server starts and logs a warning saying so", async () => {
  const first = await start();
  assert.ok(!first.logLines.some((l) => l.includes("newer Switchyard")));
  await first.server.stop();
  const dir = first.dir;
  try {
    const database = await openDatabase({ url: `file:${dir}/switchyard.db` });
    await database.client.execute("INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('from-a-later-version', 9999999999999)");
    database.close();
    const again = await start({ dir });
    const warning = again.logLines.map((l) => JSON.parse(l)).find((e) => e.msg === NEWER_DATABASE);
    assert.ok(warning, `no warning among ${again.logLines.length} log lines`);
    assert.equal(warning.level, "warn");
    assert.equal(warning.newer_migrations, 1);
    await again.server.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("crons: every cron is registered with Deno.cron in five fields; a slot runs once across two servers on one database", async () => {
  const a = await start();
  const b = await start({ dir: a.dir });
  try {
    assert.deepEqual(
      a.registered.map((r) => r.name),
      Object.keys(CRONS),
    );
    for (const r of a.registered) {
      assert.equal(r.schedule, denoSchedule(CRONS[r.name]!.schedule));
      assert.equal(r.schedule.split(" ").length, 5, `${r.name}: ${r.schedule}`);
    }
    // Both servers fire the same minute's heartbeat sweep; the slot is claimed once.
    const sweepA = a.registered.find((r) => r.name === "heartbeat-sweep")!;
    const sweepB = b.registered.find((r) => r.name === "heartbeat-sweep")!;
    await Promise.all([sweepA.handler(), sweepB.handler()]);
    const runs = await a.server.services.database.client.execute("SELECT name, slot_key, state FROM cron_runs WHERE name = 'heartbeat-sweep'");
    // Two runs only if the minute turned between the two handlers; never two for one slot.
    const slots = runs.rows.map((r) => String(r.slot_key));
    assert.ok(runs.rows.length >= 1 && runs.rows.length <= 2);
    assert.equal(new Set(slots).size, slots.length);
    assert.ok(runs.rows.every((r) => r.state === "succeeded"));
    assert.match(slots[0]!, /^heartbeat-sweep:\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z$/);
    // And a slot already claimed is skipped.
    const claimed = slots[0]!.slice("heartbeat-sweep:".length);
    const clockAt = { ...a.server.services, clock: () => new Date(claimed) };
    assert.equal(await runDenoCronSlot(clockAt, "heartbeat-sweep", "test"), "skipped");
  } finally {
    await b.server.stop();
    await stop(a);
  }
});

Deno.test("crons: SWITCHYARD_CRONS=off registers none (a platform scheduler calls POST /v1/crons/{name} instead)", async () => {
  const s = await start({ env: { SWITCHYARD_CRONS: "off" } });
  try {
    assert.deepEqual(s.registered, []);
    const daemon = await httpCall({ url: s.server.url, ownerToken: OWNER, maxBodyBytes: MAX_BODY }, "POST", "/v1/tokens", { body: { scope: "daemon" } });
    const run = await httpCall({ url: s.server.url, ownerToken: OWNER, maxBodyBytes: MAX_BODY }, "POST", "/v1/crons/reconcile", { token: daemon.body.token });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(run.body.state, "succeeded");
    assert.equal(run.body.name, "reconcile");
  } finally {
    await stop(s);
  }
});

Deno.test("the default registration uses the real Deno.cron and stops with the server", async () => {
  const dir = await Deno.makeTempDir({ prefix: "switchyard-deno-cron-" });
  const env = { SWITCHYARD_DB_URL: `file:${dir}/switchyard.db`, SWITCHYARD_DB_CREATE: "1", SWITCHYARD_OWNER_TOKEN: OWNER, PORT: "0" };
  const server = await startDeno(denoConfigFromEnv(env), { env, log: pinoLogger({ level: "silent" }) });
  try {
    assert.deepEqual(
      server.crons.map((c) => c.name),
      Object.keys(CRONS),
    );
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("settings: a non-loopback SWITCHYARD_LISTEN needs SWITCHYARD_I_KNOW_THIS_IS_EXPOSED=1", () => {
  for (const listen of ["0.0.0.0", "::", "10.0.0.5"]) {
    assert.throws(() => denoConfigFromEnv({ SWITCHYARD_LISTEN: listen }), /refusing to listen on SWITCHYARD_LISTEN=.*SWITCHYARD_I_KNOW_THIS_IS_EXPOSED=1/);
    assert.throws(() => denoConfigFromEnv({ SWITCHYARD_LISTEN: listen, SWITCHYARD_I_KNOW_THIS_IS_EXPOSED: "yes" }), /refusing to listen/);
    assert.equal(denoConfigFromEnv({ SWITCHYARD_LISTEN: listen, SWITCHYARD_I_KNOW_THIS_IS_EXPOSED: "1" }).hostname, listen);
  }
  for (const listen of [undefined, "127.0.0.1", "::1", "localhost"]) {
    assert.equal(denoConfigFromEnv({ SWITCHYARD_LISTEN: listen }).hostname, listen ?? "127.0.0.1");
  }
});

Deno.test("settings: bad values name the variable", () => {
  assert.throws(() => denoConfigFromEnv({ PORT: "http" }), /PORT must be a port number/);
  assert.throws(() => denoConfigFromEnv({ SWITCHYARD_CRONS: "sometimes" }), /SWITCHYARD_CRONS must be 'on' or 'off'/);
  assert.throws(() => denoConfigFromEnv({ SWITCHYARD_MAX_BODY_BYTES: "-1" }), /SWITCHYARD_MAX_BODY_BYTES/);
  assert.equal(denoSchedule("*/10 * * * * *"), "* * * * *");
  assert.equal(denoSchedule("30 */1 * * * *"), "*/1 * * * *");
  assert.equal(denoSchedule("17 * * * *"), "17 * * * *");
});
