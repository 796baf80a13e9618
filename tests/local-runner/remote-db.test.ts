// A remote database (SWITCHYARD_DB_URL=libsql://…|https://… + SWITCHYARD_DB_AUTH_TOKEN) that is
// down, refuses the token or is not a libSQL server: every error names the URL (never the
// token) and what to check. No sqld can be installed here, so the servers are local HTTP servers
// that refuse or answer like the real thing would when misconfigured. Also the plumbing that runs
// the suite against a shared database (SWITCHYARD_TEST_DB_URL), exercised with a shared file.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { resolveHome } from "../../local-runner/home.ts";
import { DatabaseUnreachableError, openLocalServices, printableUrl } from "../../local-runner/services.ts";
import { makeTestEnv, resetSharedDatabase, testDatabaseFromEnv } from "../helpers/services.ts";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "bin", "switchyard.mjs");
const TOKEN = "s3cret-db-token-never-printed";

const dirs: string[] = [];
const servers: Server[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "switchyard-remote-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const s of servers) s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** An HTTP server that answers every request (and every WebSocket upgrade) with `status`. */
async function answering(status: number, body: string): Promise<string> {
  const server = createServer((_req, res) => {
    res.writeHead(status, { "Content-Type": "text/plain" });
    res.end(body);
  });
  server.on("upgrade", (_req, socket) => socket.end(`HTTP/1.1 ${status} No\r\nContent-Length: 0\r\n\r\n`));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  servers.push(server);
  return `127.0.0.1:${(server.address() as { port: number }).port}`;
}

async function openError(dbUrl: string, authToken?: string): Promise<DatabaseUnreachableError> {
  const home = { ...resolveHome({}, { home: tmp() }), dbUrl, dbAuthToken: authToken, hostName: "h" };
  const e = await openLocalServices({ home }).then(
    () => null,
    (x) => x,
  );
  expect(e).toBeInstanceOf(DatabaseUnreachableError);
  return e as DatabaseUnreachableError;
}

describe("remote database errors name the URL and what to check", () => {
  it("a server that refuses the token (HTTP 401), over https-style HTTP and over libsql:// WebSockets", async () => {
    const addr = await answering(401, `Unauthorized: token ${TOKEN} is not valid`);
    for (const url of [`http://${addr}`, `libsql://${addr}?tls=0`]) {
      const e = await openError(url, TOKEN);
      expect(e.message).toContain(`the database at ${url.startsWith("http") ? `http://${addr}` : `libsql://${addr}`} refused the connection`);
      expect(e.hint).toMatch(/SWITCHYARD_DB_AUTH_TOKEN \(it is set, but this server does not accept it/);
      expect(`${e.message} ${e.hint}`).not.toContain(TOKEN);
    }
    const missing = await openError(`http://${addr}`);
    expect(missing.hint).toContain("it is not set");
  });

  it("a server that is not a libSQL endpoint (HTTP 404 from some other service)", async () => {
    const addr = await answering(404, "Not Found");
    const e = await openError(`http://${addr}/db`);
    expect(e.message).toBe(`the server at http://${addr}/db did not answer as a libSQL database (HTTP 404): Server returned HTTP status 404: Not Found`);
    expect(e.hint).toContain("must name a libSQL server");
  });

  it("nothing listening: the URL, the cause, and never 'fetch failed' alone", async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const e = await openError(`http://127.0.0.1:${port}/?authToken=${TOKEN}`, TOKEN);
    expect(e.message).toMatch(new RegExp(`^cannot reach the database at http://127\\.0\\.0\\.1:${port} \\((ECONNREFUSED|.+)\\)$`));
    expect(e.message).not.toContain(TOKEN);
  });

  it("a URL that cannot work is refused before anything is sent, without echoing secrets", async () => {
    const creds = await openError(`https://user:pw@127.0.0.1:9/`);
    expect(creds.message).toBe("SWITCHYARD_DB_URL carries credentials (user:password@), which are not sent: https://127.0.0.1:9");
    expect(creds.hint).toContain("SWITCHYARD_DB_AUTH_TOKEN");
    const scheme = await openError("postgres://db.example/x");
    expect(scheme.message).toBe("SWITCHYARD_DB_URL has the scheme postgres: which is not a libSQL database: postgres://db.example/x");
  });

  it("switchyard up exits 1 with the error and the hint, before listening", async () => {
    const addr = await answering(401, "Unauthorized");
    const r = await run(process.execPath, [BIN, "up", "--home", tmp(), "--port", "0", "--no-cron"], {
      cwd: ROOT,
      env: { ...process.env, SWITCHYARD_DB_URL: `http://${addr}`, SWITCHYARD_DB_AUTH_TOKEN: TOKEN },
    }).then(
      () => null,
      (x) => x,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: the database at http://${addr} refused the connection`);
    expect(r.stderr).toContain("hint: Check SWITCHYARD_DB_AUTH_TOKEN");
    expect(r.stdout).not.toContain("switchyard is up");
    expect(`${r.stdout}${r.stderr}`).not.toContain(TOKEN);
  });

  it("prints URLs without credentials or query", () => {
    expect(printableUrl("libsql://team-db.turso.io?authToken=abc")).toBe("libsql://team-db.turso.io");
    expect(printableUrl("https://u:p@db.example:8080/x?y=1")).toBe("https://db.example:8080/x");
    expect(printableUrl("file:/tmp/a.db?mode=ro")).toBe("file:/tmp/a.db");
  });
});

describe("SWITCHYARD_TEST_DB_URL: the suite on one shared database", () => {
  const saved = { url: process.env.SWITCHYARD_TEST_DB_URL, token: process.env.SWITCHYARD_TEST_DB_AUTH_TOKEN };
  afterEach(() => {
    for (const [k, v] of [
      ["SWITCHYARD_TEST_DB_URL", saved.url],
      ["SWITCHYARD_TEST_DB_AUTH_TOKEN", saved.token],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it("reads the URL and token, and is off when unset", () => {
    expect(testDatabaseFromEnv({})).toBeNull();
    expect(testDatabaseFromEnv({ SWITCHYARD_TEST_DB_URL: "http://127.0.0.1:8080", SWITCHYARD_TEST_DB_AUTH_TOKEN: "t" })).toEqual({
      url: "http://127.0.0.1:8080",
      authToken: "t",
    });
  });

  it("gives every TestEnv the shared database, emptied and migrated afresh", async () => {
    const shared = `file:${join(tmp(), "shared.db")}`;
    process.env.SWITCHYARD_TEST_DB_URL = shared;
    const first = await makeTestEnv();
    expect(first.services.database.url).toBe(shared);
    expect((await first.call("POST", "/v1/sessions", { body: { name: "left-over", role: "manager" } })).status).toBe(201);
    first.close();
    const second = await makeTestEnv();
    try {
      expect(second.services.database.url).toBe(shared);
      // Nothing of the first env is left, and the owner token is this env's own.
      expect((await second.call("GET", "/v1/sessions")).body.sessions).toEqual([]);
      expect((await second.call("GET", "/v1/sessions", { token: first.owner })).status).toBe(401);
      const journal = await second.services.database.client.execute("SELECT count(*) AS n FROM __drizzle_migrations");
      expect(Number(journal.rows[0]!.n)).toBeGreaterThan(0);
    } finally {
      second.close();
    }
  });

  it("says which URL failed when the shared server cannot be reset", async () => {
    const addr = await answering(401, "Unauthorized");
    await expect(resetSharedDatabase({ url: `http://${addr}`, authToken: TOKEN })).rejects.toThrow(`the database at http://${addr} refused the connection`);
  });
});
