import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../../functions/app.ts";
import { tokenInsert } from "../../functions/lib/auth.ts";
import type { Host } from "../../functions/lib/host.ts";
import { makeId } from "../../functions/lib/ids.ts";
import { resolveHome } from "../../local-runner/home.ts";
import { NodeHost } from "../../local-runner/host.ts";
import { describeDatabaseError, openLocalServices, type LocalServices } from "../../local-runner/services.ts";
import { openDatabase } from "../../functions/lib/db.ts";
import { countingClient, latencyClient, latencyFromEnv, type Latency, type RoundTrips } from "./db-clients.ts";

/**
 * A fixed instant for tests that assert exact timestamps. Only tests with no real-time actor
 * (child process, agent TUI, file timestamp, token expiry checked by another process) may pin it.
 */
export const PINNED_EPOCH = Date.parse("2026-11-21T12:00:00.000Z");

/**
 * A settable clock for lease and expiry tests. It starts at the real now (whole seconds) unless
 * given an instant, so a test whose fake time meets a real process agrees with it on any date.
 */
export class FakeClock {
  constructor(public ms = Math.floor(Date.now() / 1000) * 1000) {}
  now = () => new Date(this.ms);
  advance(seconds: number) {
    this.ms += seconds * 1000;
  }
}

/** A fresh temp home + file database, migrated, with an owner token, and the app over it. */
export interface TestEnv {
  dir: string;
  services: LocalServices;
  app: ReturnType<typeof createApp>;
  owner: string;
  clock: FakeClock;
  /**
   * The test host's transcript roots (its NodeHost is given CODEX_HOME `<dir>/codex-home` and
   * CLAUDE_CONFIG_DIR `<dir>/claude-config`): transcripts registered in a test live under these
   * (see tests/helpers/transcripts.ts).
   */
  codexSessions: string;
  claudeProjects: string;
  /**
   * The simulated latency per database round trip, applied once the env is set up: the
   * SWITCHYARD_TEST_DB_LATENCY_MS run of the HTTP suite sets it; a test may change it.
   */
  latency: Latency;
  /** Mints a token of any kind directly in the database. */
  mint(kind: "owner" | "daemon" | "runner" | "hook", host?: string): Promise<string>;
  /** Calls the app with a bearer token (or none) and parses the JSON answer; throws on a 500. */
  call(
    method: string,
    path: string,
    opts?: { token?: string | null; body?: unknown; rawBody?: string; headers?: Record<string, string> },
  ): Promise<{ status: number; body: any; headers: Headers }>;
  close(): void;
}

/**
 * The database a TestEnv uses instead of a fresh temp file, when `SWITCHYARD_TEST_DB_URL` names
 * one (a libSQL server: `http://127.0.0.1:8080`, `libsql://…`; a shared `file:` works too), with
 * `SWITCHYARD_TEST_DB_AUTH_TOKEN`. Null when unset.
 */
export function testDatabaseFromEnv(env: NodeJS.ProcessEnv = process.env): { url: string; authToken?: string } | null {
  const url = env.SWITCHYARD_TEST_DB_URL;
  return url ? { url, authToken: env.SWITCHYARD_TEST_DB_AUTH_TOKEN || undefined } : null;
}

/**
 * Empties a shared test database: every table, view and the migrations journal go, so the next
 * open migrates from nothing, as a fresh file would. One script, so a libSQL server runs it on
 * one connection with foreign keys off. vitest.config.ts runs the files one at a time when a
 * shared database is configured, so one file's reset never pulls the rows out from under another.
 */
export async function resetSharedDatabase(target: { url: string; authToken?: string }): Promise<void> {
  const database = await openDatabase({ url: target.url, authToken: target.authToken });
  try {
    const objects = await database.client.execute(
      "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_litestream%' AND name NOT LIKE 'libsql_%'",
    );
    if (objects.rows.length === 0) return;
    const drops = objects.rows.map((r) => `DROP ${String(r.type) === "view" ? "VIEW" : "TABLE"} IF EXISTS "${String(r.name).replace(/"/g, '""')}";`);
    await database.client.executeMultiple(`PRAGMA foreign_keys = OFF;\n${drops.join("\n")}\nPRAGMA foreign_keys = ON;`);
  } catch (e) {
    throw describeDatabaseError(target.url, e) ?? e;
  } finally {
    database.close();
  }
}

/** Builds a TestEnv; pass `host` to give domain functions local capabilities. */
export async function makeTestEnv(
  opts: { host?: Host | null; hostName?: string; clockAt?: number /** Counts the app's database round trips into this tally. */; roundTrips?: RoundTrips } = {},
): Promise<TestEnv> {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-test-"));
  const clock = new FakeClock(opts.clockAt);
  const shared = testDatabaseFromEnv();
  if (shared) await resetSharedDatabase(shared);
  const home = {
    ...resolveHome({}, { home: dir }),
    ...(shared ? { dbUrl: shared.url, dbAuthToken: shared.authToken } : {}),
    hostName: opts.hostName ?? "test-host",
  };
  const latency: Latency = { ms: 0 };
  const tally = opts.roundTrips;
  const services = await openLocalServices({
    home,
    clock: clock.now,
    wrapClient: (client) => latencyClient(tally ? countingClient(client, tally) : client, latency),
  });
  latency.ms = latencyFromEnv();
  const codexHome = join(dir, "codex-home");
  const claudeConfig = join(dir, "claude-config");
  mkdirSync(join(codexHome, "sessions"), { recursive: true });
  mkdirSync(join(claudeConfig, "projects"), { recursive: true });
  if (opts.host === null) services.host = undefined;
  else services.host = opts.host ?? new NodeHost({ codexHome, claudeConfigDir: claudeConfig, transcriptRoots: [], pluginDir: join(home.home, "plugins") });
  const app = createApp(services);
  const env: TestEnv = {
    dir,
    services,
    app,
    owner: services.ownerToken,
    clock,
    codexSessions: join(codexHome, "sessions"),
    claudeProjects: join(claudeConfig, "projects"),
    latency,
    async mint(kind, host) {
      const t = await tokenInsert(services.database.db, { id: makeId("tok", clock.ms), kind, nowMs: clock.ms, host: host ?? null });
      await t.stmt;
      return t.secret;
    },
    async call(method, path, o = {}) {
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      const token = o.token === undefined ? services.ownerToken : o.token;
      if (token) headers.Authorization = `Bearer ${token}`;
      let body: string | undefined;
      if (o.rawBody !== undefined) body = o.rawBody;
      else if (o.body !== undefined) body = JSON.stringify(o.body);
      // An explicit Content-Type, even an empty one, is sent as given.
      if (body !== undefined && !("Content-Type" in headers)) headers["Content-Type"] = "application/json";
      const res = await app.request(path, { method, headers, body });
      const text = await res.text();
      // A 500 is always a bug (an error we did not map); failing here covers every test's calls.
      if (res.status === 500) throw new Error(`${method} ${path} answered 500: ${text}`);
      return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
    },
    close() {
      services.database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return env;
}
