import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FAST_COMMANDS, parseFast, parseHttpResponse, runFast } from "../../../local-runner/cli/fast.ts";
import { runLocal } from "../../../local-runner/cli/fast-local.ts";
import { EXIT_FAILED, EXIT_OK, runCli } from "../../../local-runner/cli/main.ts";
import { resolveHome } from "../../../local-runner/home.ts";
import { openLocalServices, type LocalServices } from "../../../local-runner/services.ts";
import { startUp, type Running } from "../../../local-runner/up.ts";
import { processStartMark, removeUpRecord, writeUpRecord } from "../../../local-runner/up-record.ts";

// The fast path (local-runner/cli/fast.ts) answers read commands through a running server
// without loading the full CLI. Whatever it answers must be exactly what the full CLI prints for
// the same command line (stdout, stderr, exit code); whatever it cannot answer that way it must
// leave to the full CLI (null). Each case runs both and compares.

const CLI_ENV = ["SWITCHYARD_URL", "SWITCHYARD_TOKEN", "SWITCHYARD_HOME", "SWITCHYARD_DB_URL", "SWITCHYARD_HOST_NAME"] as const;
const saved: Partial<Record<string, string>> = {};
let dir = "";
let home = "";
let services: LocalServices;
let running: Running;

interface Printed {
  code: number | null;
  out: string;
  err: string;
}

async function full(argv: string[]): Promise<Printed> {
  const out: string[] = [];
  const err: string[] = [];
  // Commander parses the reference run: runCli itself parses plain reads as the fast path does.
  const code = await runCli(argv, { out: (t) => out.push(t), err: (t) => err.push(t) }, { cwd: dir, commanderOnly: true });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

async function fast(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<Printed> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runFast(argv, { env, cwd: dir, io: { out: (t) => out.push(t), err: (t) => err.push(t) } });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

async function local(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<Printed> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runLocal(argv, { env, cwd: dir, io: { out: (t) => out.push(t), err: (t) => err.push(t) } });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

/** Runs the command line in-process on the fast path and through the full CLI, and asserts the fast path answered alike. */
async function sameLocal(argv: string[], env?: NodeJS.ProcessEnv): Promise<Printed> {
  const f = await local(argv, env);
  const c = await full(argv);
  expect(f.code, `in-process fast path fell through for: ${argv.join(" ")}`).not.toBeNull();
  expect(f).toEqual(c);
  return f;
}

/** Asserts the in-process fast path leaves the command line to the full CLI and printed nothing. */
async function localFallsThrough(argv: string[], env?: NodeJS.ProcessEnv) {
  expect(await local(argv, env), argv.join(" ")).toEqual({ code: null, out: "", err: "" });
}

/** Runs the command line both ways and asserts the fast path answered, and answered alike. */
async function same(argv: string[]): Promise<Printed> {
  const f = await fast(argv);
  const c = await full(argv);
  expect(f.code, `fast path fell through for: ${argv.join(" ")}`).not.toBeNull();
  expect(f).toEqual(c);
  return f;
}

/** Asserts the fast path leaves the command line to the full CLI and printed nothing. */
async function fallsThrough(argv: string[], env?: NodeJS.ProcessEnv) {
  expect(await fast(argv, env)).toEqual({ code: null, out: "", err: "" });
}

beforeAll(async () => {
  for (const k of CLI_ENV) {
    saved[k] = process.env[k];
    delete process.env[k];
  }
  dir = mkdtempSync(join(tmpdir(), "switchyard-fast-"));
  home = join(dir, "home");
  // A real clock on both sides: the in-process CLI compared against the server runs on the real one.
  services = await openLocalServices({ home: resolveHome({}, { home }) });
  running = await startUp(services, { port: 0, hostname: "127.0.0.1", schedules: [] });
  const setup = async (...argv: string[]) => {
    const r = await full([...argv, "--home", home]);
    if (r.code !== EXIT_OK) throw new Error(`${argv.join(" ")}: ${r.err}`);
  };
  await setup("register-worker", "--name", "fast-w", "--thread-id", "th-w", "--thread-title", "worker thread");
  await setup("register-manager", "--name", "fast-m", "--thread-id", "th-m", "--thread-title", "manager thread");
  await setup("register-worker", "--name", "fast-other", "--thread-id", "th-o");
  await setup("tasks", "--create", "fast-task", "--goal", "Keep reads fast");
  await setup("bind", "--task", "fast-task", "--worker", "fast-w", "--manager", "fast-m");
  await setup("send", "fast-m", "worker says hi", "--subject", "status", "--from", "fast-w");
});
afterAll(async () => {
  await running?.stop();
  services?.database.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  for (const k of CLI_ENV) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

/** Every covered command, with a case that finds something and one that fails. */
const READS: string[][] = [
  ["sessions"],
  ["sessions", "--role", "worker", "--state=all"],
  ["sessions", "--name", "fast-w", "--name", "fast-m", "--redact-identity-token"],
  ["sessions", "--limit", "1", "--role", "worker"],
  ["session", "show", "fast-w"],
  ["session", "show", "a%2Fb"],
  ["session", "show", "no-such-session"],
  ["tasks"],
  ["tasks", "--state", "finished"],
  ["task", "show", "fast-task"],
  ["task", "show", "no-such-task"],
  ["bindings"],
  ["bindings", "--state", "all", "--limit", "1"],
  ["discover", "fast"],
  ["search", "--all", "fast-task"],
  ["audit", "fast-task", "--limit", "5"],
  ["audit", "no-such-task"],
  ["messages"],
  ["messages", "--session", "fast-m", "--limit", "1"],
  ["session-inbox", "fast-m"],
  ["session-inbox", "no-such-session"],
  ["manager-inbox", "fast-task"],
  ["worker-inbox", "fast-task", "--limit", "1"],
];

/** Cases of READS that the route's validation refuses (400), which the in-process fast path leaves to the full CLI. */
const REFUSED_BY_VALIDATION = [["session", "show", "a%2Fb"]];

describe("the fast path for read commands", () => {
  it("covers every command it lists, each with a case here", () => {
    const named = new Set(READS.map((argv) => parseFast(argv)?.spec.name));
    expect([...FAST_COMMANDS].filter((c) => !named.has(c))).toEqual([]);
  });

  it("prints what the full CLI prints over --url, human and --json, answers and errors", async () => {
    for (const argv of READS) {
      for (const json of [[], ["--json"]]) await same([...argv, ...json, "--url", running.url, "--home", home]);
    }
    // The failure cases really failed, and the paged ones really printed the next-page hint.
    expect((await same(["session", "show", "nope", "--url", running.url, "--home", home])).code).toBe(EXIT_FAILED);
    expect((await same(["sessions", "--limit", "1", "--role", "worker", "--url", running.url, "--home", home])).out).toMatch(
      // The hint repeats the server and the home it was given: the cursor walks that database only.
      new RegExp(`\\nmore: switchyard sessions --role worker --limit 1 --home ${home} --url ${running.url} --cursor \\S+$`),
    );
  });

  it("takes the global options before the command, from the environment, and the token from --token", async () => {
    await same(["--json", "--url", running.url, "--home", home, "sessions"]);
    await same(["--url", running.url, "sessions", "--token", services.ownerToken]);
    // A wrong token is the server's answer (UNAUTHENTICATED), printed alike.
    expect((await same(["--url", running.url, "sessions", "--token", "sy_owner_wrong"])).err).toContain("UNAUTHENTICATED");
    process.env.SWITCHYARD_URL = running.url;
    process.env.SWITCHYARD_TOKEN = services.ownerToken;
    try {
      await same(["sessions"]);
      await same(["task", "show", "fast-task", "--json"]);
    } finally {
      delete process.env.SWITCHYARD_URL;
      delete process.env.SWITCHYARD_TOKEN;
    }
  });

  it("without --url, answers through the `up` recorded in the home exactly as the full CLI answers in-process", async () => {
    const hostName = resolveHome({}, { home }).hostName;
    writeUpRecord(home, running.url, { dbUrl: services.home.dbUrl, host: hostName });
    try {
      for (const argv of READS) {
        // runCli ignores up.json and opens the database itself: the reference answer.
        for (const json of [[], ["--json"]]) await same([...argv, ...json, "--home", home]);
      }
    } finally {
      removeUpRecord(home);
    }
  });

  it("runCli runs plain reads without commander, in-process, exactly as commander would", async () => {
    for (const argv of READS) {
      for (const json of [[], ["--json"]]) {
        const args = [...argv, ...json, "--home", home];
        const out: string[] = [];
        const err: string[] = [];
        const code = await runCli(args, { out: (t) => out.push(t), err: (t) => err.push(t) }, { cwd: dir });
        expect({ code, out: out.join("\n"), err: err.join("\n") }).toEqual(await full(args));
      }
    }
  });

  it("leaves to the full CLI what it does not cover: other commands, writes, waits, help, unknown or odd flags, bad values", async () => {
    const at = ["--url", running.url, "--home", home];
    for (const argv of [
      ["sessions", "--bogus"],
      ["sessions", "--help"],
      ["--help"],
      ["help", "sessions"],
      ["sessions", "extra-positional"],
      ["session", "show"],
      ["session", "--json", "show", "fast-w"],
      ["sessions", "--role"],
      ["sessions", "--role", "--json"],
      ["sessions", "--role", "worker", "--role", "manager"],
      ["sessions", "--redact-identity-token=yes"],
      ["sessions", "--limit", "abc"],
      // A value outside an option's choices is the full CLI's usage error (choices.test.ts).
      ["sessions", "--state", "nonsense"],
      ["messages", "--type", "nonsense"],
      ["sessions", "--", "x"],
      ["tasks", "--create", "written-by-fast-path"],
      ["session-inbox", "fast-m", "--consume-next"],
      ["session-inbox", "fast-m", "--wait", "--timeout", "1"],
      ["heartbeat", "fast-w"],
      ["events"],
      [],
    ]) {
      await fallsThrough([...argv, ...at]);
    }
    // --role before the command is not a global option.
    await fallsThrough(["--role", "worker", "sessions", ...at]);
    // Nothing was written by the fast path.
    expect((await full(["task", "show", "written-by-fast-path", ...at])).code).toBe(EXIT_FAILED);
  });

  it("leaves to the full CLI when no server can answer: none recorded, another database or host, a dead process, nothing listening", async () => {
    await fallsThrough(["sessions", "--home", home]);
    const hostName = resolveHome({}, { home }).hostName;
    const started = processStartMark(process.pid);
    const record = (r: object) => writeFileSync(join(home, "up.json"), JSON.stringify({ url: running.url, pid: process.pid, started, ...r }));
    try {
      // An `up` that recorded no database (a remote one, or an older version) is not the one the CLI would open.
      record({ host: hostName });
      await fallsThrough(["sessions", "--home", home]);
      record({ db: "file:/elsewhere/switchyard.db", host: hostName });
      await fallsThrough(["sessions", "--home", home]);
      record({ db: services.home.dbUrl, host: "another-host" });
      await fallsThrough(["sessions", "--home", home]);
      await fallsThrough(["sessions", "--home", home], { ...process.env, SWITCHYARD_DB_URL: "file:/elsewhere/switchyard.db" });
      record({ db: services.home.dbUrl, host: hostName, pid: 2 ** 22 + 12345 });
      await fallsThrough(["sessions", "--home", home]);
      record({ db: services.home.dbUrl, host: hostName, url: "http://127.0.0.1:9" });
      await fallsThrough(["sessions", "--home", home]);
      // A record whose pid is alive but is not the process that wrote it (the pid was reused), or
      // one without the start mark (an older up): the token is not sent on the record's word.
      record({ db: services.home.dbUrl, host: hostName, started: `${started}0` });
      await fallsThrough(["sessions", "--home", home]);
      record({ db: services.home.dbUrl, host: hostName, started: undefined });
      await fallsThrough(["sessions", "--home", home]);
      // A recorded server that rejects the home's token is not trusted to be the home's server.
      record({ db: services.home.dbUrl, host: hostName });
      await fallsThrough(["sessions", "--home", home, "--token", "sy_owner_wrong"]);
      // The same record with the live server is answered: the cases above fell through for their one difference.
      record({ db: services.home.dbUrl, host: hostName });
      expect((await fast(["sessions", "--home", home])).code).toBe(EXIT_OK);
    } finally {
      rmSync(join(home, "up.json"), { force: true });
    }
    await fallsThrough(["sessions", "--url", "http://127.0.0.1:9", "--home", home]);
    // No home and no token for --url: the full CLI says so.
    await fallsThrough(["sessions", "--url", running.url, "--home", join(dir, "missing")]);
    await fallsThrough(["sessions", "--url", running.url]);
  });

  it("reads a response only when it is complete: by Content-Length, chunked, or not at all", () => {
    const res = (text: string) => parseHttpResponse(Buffer.from(text, "utf8"));
    const json = '{"ok":"é"}';
    const n = Buffer.byteLength(json);
    expect(res(`HTTP/1.1 200 OK\r\nContent-Length: ${n}\r\n\r\n${json}`)).toEqual({ status: 200, body: { ok: "é" } });
    expect(res(`HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{"ok\r\n${(n - 4).toString(16)}\r\n${json.slice(4)}\r\n0\r\n\r\n`)).toEqual({
      status: 404,
      body: { ok: "é" },
    });
    // Cut short, badly framed, or not HTTP: the full CLI takes over.
    expect(res(`HTTP/1.1 200 OK\r\nContent-Length: ${n + 5}\r\n\r\n${json}`)).toBeNull();
    expect(res(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n${json}`)).toBeNull();
    expect(res(`HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n${json}`)).toBeNull();
    expect(res(`HTTP/1.1 200 OK\r\nContent-Length: ${n}\r\n`)).toBeNull();
    expect(res(`SSH-2.0-OpenSSH\r\n\r\n`)).toBeNull();
    // A body that is not JSON becomes the same error envelope as in HttpTransport.
    expect(res("HTTP/1.1 502 Bad Gateway\r\n\r\noops")?.body.error.code).toBe("INTERNAL");
  });

  it("leaves a token it cannot send as a header to the full CLI", async () => {
    await fallsThrough(["sessions", "--url", running.url, "--token", "bad\ttoken"]);
  });
});

describe("the in-process fast path for read commands (no server running)", () => {
  it("prints what the full CLI prints in-process for every covered command, human and --json, answers and errors", async () => {
    for (const argv of READS) {
      for (const json of [[], ["--json"]]) {
        // A value the route's validation refuses is the full CLI's to report (checked below).
        if (REFUSED_BY_VALIDATION.some((r) => r.join(" ") === argv.join(" "))) await localFallsThrough([...argv, ...json, "--home", home]);
        else await sameLocal([...argv, ...json, "--home", home]);
      }
    }
    expect((await sameLocal(["session", "show", "nope", "--home", home])).code).toBe(EXIT_FAILED);
    // A refusal from the domain function itself (not the route's validation) is printed here, as the app renders it.
    expect((await sameLocal(["sessions", "--cursor", "not-a-cursor", "--home", home])).err).toContain("VALIDATION_FAILED");
    expect((await sameLocal(["sessions", "--limit", "1", "--role", "worker", "--home", home])).out).toMatch(
      new RegExp(`\\nmore: switchyard sessions --role worker --limit 1 --home ${home} --cursor \\S+$`),
    );
    // Global options before the command, and the home from the environment.
    await sameLocal(["--json", "--home", home, "sessions"]);
    process.env.SWITCHYARD_HOME = home;
    try {
      await sameLocal(["task", "show", "fast-task", "--json"]);
    } finally {
      delete process.env.SWITCHYARD_HOME;
    }
  });

  it("acts as the token the full CLI acts as: the owner's, or a given one's (a session sees only what it may)", async () => {
    await sameLocal(["sessions", "--home", home, "--token", services.ownerToken]);
    const worker = await full(["register-worker", "--name", "fast-local-w", "--thread-id", "th-lw", "--cwd", dir, "--home", home, "--json"]);
    await full(["register-worker", "--name", "fast-local-other", "--thread-id", "th-lo", "--cwd", dir, "--home", home]);
    const token = JSON.parse(worker.out).token as string;
    expect(token).toMatch(/^sy_/);
    // A session token sees other sessions' details (cwd) as null: the answer differs from the owner's, and matches the full CLI's.
    const asSession = JSON.parse((await sameLocal(["sessions", "--json", "--home", home, "--token", token])).out);
    const asOwner = JSON.parse((await sameLocal(["sessions", "--json", "--home", home])).out);
    const cwdOf = (b: any, name: string) => b.sessions.find((x: any) => x.name === name).cwd;
    expect([cwdOf(asOwner, "fast-local-other"), cwdOf(asSession, "fast-local-other"), cwdOf(asSession, "fast-local-w")]).toEqual([dir, null, dir]);
    await sameLocal(["session-inbox", "fast-local-w", "--home", home, "--token", token]);
    // A route that does not admit a session (audit) answers FORBIDDEN through the full CLI.
    await localFallsThrough(["audit", "fast-task", "--home", home, "--token", token]);
    expect((await full(["audit", "fast-task", "--home", home, "--token", token])).err).toContain("FORBIDDEN");
    // A token the full CLI refuses (unknown, or a principal the route does not admit) is the full CLI's to print.
    await localFallsThrough(["sessions", "--home", home, "--token", "sy_owner_wrong"]);
    expect((await full(["sessions", "--home", home, "--token", "sy_owner_wrong"])).err).toContain("UNAUTHENTICATED");
  });

  it("leaves to the full CLI: other commands, writes, waits, help, odd flags, bad values, --url, unusual settings", async () => {
    for (const argv of [
      ["sessions", "--bogus"],
      ["sessions", "--help"],
      ["--help"],
      ["help", "sessions"],
      ["sessions", "extra-positional"],
      ["session", "--json", "show", "fast-w"],
      ["sessions", "--role"],
      ["sessions", "--limit", "abc"],
      // Values the CLI refuses itself (a value outside an option's choices, a page below 1): its usage error.
      ["sessions", "--state", "nonsense"],
      ["sessions", "--limit", "0"],
      // A value the route's validation refuses: the full CLI prints its 400.
      ["session", "show", "a%2Fb"],
      ["tasks", "--create", "written-by-local-fast-path"],
      ["session-inbox", "fast-m", "--consume-next"],
      ["session-inbox", "fast-m", "--wait", "--timeout", "1"],
      ["heartbeat", "fast-w"],
      ["events"],
      [],
    ]) {
      await localFallsThrough([...argv, "--home", home]);
    }
    // A server named by --url or $SWITCHYARD_URL is the full CLI's to call.
    await localFallsThrough(["sessions", "--home", home, "--url", running.url]);
    await localFallsThrough(["sessions", "--home", home], { ...process.env, SWITCHYARD_URL: running.url });
    // Settings the full CLI checks when it opens the home.
    await localFallsThrough(["sessions", "--home", home], { ...process.env, SWITCHYARD_WAKE_INTERVAL_MS: "5" });
    await localFallsThrough(["sessions", "--home", home], { ...process.env, SWITCHYARD_RATE_BURST: "many" });
    // Nothing was written by the fast path.
    expect((await full(["task", "show", "written-by-local-fast-path", "--home", home])).code).toBe(EXIT_FAILED);
  });

  it("leaves to the full CLI a home it would have to set up: none, no database file, no owner token, another database, a schema not current", async () => {
    await localFallsThrough(["sessions", "--home", join(dir, "missing")]);
    await localFallsThrough(["sessions"]);
    await localFallsThrough(["sessions", "--home", home], { ...process.env, SWITCHYARD_DB_URL: `file:${join(dir, "other.db")}` });
    await localFallsThrough(["sessions", "--home", home], { ...process.env, SWITCHYARD_DB_URL: "http://127.0.0.1:9" });
    // No file was created for the database it did not find.
    expect(existsSync(join(dir, "other.db"))).toBe(false);
    const bare = join(dir, "bare-home");
    mkdirSync(bare);
    await localFallsThrough(["sessions", "--home", bare]);
    expect(readdirSync(bare)).toEqual([]);

    // A home whose database misses the newest migration, and one without an owner token file.
    const old = join(dir, "old-home");
    const oldServices = await openLocalServices({ home: resolveHome({}, { home: old }), watchChanges: false });
    try {
      await sameLocal(["sessions", "--home", old]);
      const newest = await oldServices.database.client.execute("SELECT max(created_at) AS m FROM __drizzle_migrations");
      await oldServices.database.client.execute({ sql: "DELETE FROM __drizzle_migrations WHERE created_at = ?", args: [newest.rows[0]!.m] });
      await localFallsThrough(["sessions", "--home", old]);
      // The full CLI migrates it (re-applying the newest migration is what it does), and then the fast path answers again.
      await oldServices.database.client.execute({ sql: "INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('x', ?)", args: [newest.rows[0]!.m] });
      await sameLocal(["sessions", "--home", old]);
      const tokenFile = resolveHome({}, { home: old }).ownerTokenFile;
      const secret = readFileSync(tokenFile, "utf8");
      rmSync(tokenFile);
      try {
        await localFallsThrough(["sessions", "--home", old]);
      } finally {
        writeFileSync(tokenFile, secret, { mode: 0o600 });
      }
      // An owner token file that is not this database's live owner token.
      writeFileSync(tokenFile, "sy_owner_not_this_one", { mode: 0o600 });
      try {
        await localFallsThrough(["sessions", "--home", old]);
      } finally {
        writeFileSync(tokenFile, secret, { mode: 0o600 });
      }
    } finally {
      oldServices.database.close();
    }
  });
});
