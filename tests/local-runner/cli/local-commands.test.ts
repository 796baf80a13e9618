// The lifecycle of `switchyard up` with real processes: npm start stopped by signals sent to
// npm, a busy port, a bad --cron, an unreachable remote database; and `open`/nudge against a
// tmux session that does not exist.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "../../../local-runner/cli/main.ts";
import { NodeHost } from "../../../local-runner/host.ts";
import { cliSandbox } from "../../helpers/cli.ts";
import { FAKE_TUI } from "../../functions/actuate/fake-tui.ts";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const BIN = join(ROOT, "bin", "switchyard.mjs");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dirs: string[] = [];
const children: ChildProcess[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "switchyard-life-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A child process with its output collected and its exit awaited. */
function start(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("close", (code, signal) => resolve({ code, signal })),
  );
  /** Resolves with the server's URL and pid once `up` printed its banner. */
  const banner = async () => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const url = /api:\s+(http:\/\/\S+)\/v1/.exec(out)?.[1];
      const pid = /\(pid (\d+);/.exec(out)?.[1];
      if (url && pid) return { url, pid: Number(pid) };
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no banner:\n${out}\n${err}`);
      await sleep(50);
    }
  };
  return { child, exit, banner, out: () => out, err: () => err };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** True when nothing listens on the port any more: we can bind it ourselves. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

describe("npm start", () => {
  for (const signal of ["SIGINT", "SIGTERM", "SIGKILL"] as const) {
    it(`stops the server when npm gets ${signal}: process gone, port free`, async () => {
      const home = tmp();
      const npm = start("npm", ["start", "--", "--port", "0", "--no-cron"], { env: { SWITCHYARD_HOME: home } });
      const { url, pid } = await npm.banner();
      expect(pid).not.toBe(npm.child.pid);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      const port = Number(new URL(url).port);

      npm.child.kill(signal);
      await npm.exit;
      // SIGINT/SIGTERM are forwarded by npm (the start script execs the server); after a
      // SIGKILL npm forwards nothing and the server notices it lost its parent.
      await until(`server pid ${pid} to exit`, () => !alive(pid));
      expect(await portFree(port)).toBe(true);
      await expect(fetch(`${url}/healthz`)).rejects.toThrow();
      if (signal !== "SIGKILL") expect(npm.out()).toContain(`received ${signal}, shutting down`);
    });
  }
});

describe("two `up` on one home", () => {
  it("the second leaves the first one's record, so its exit does not take the first server off the home", async () => {
    const home = tmp();
    const first = start(process.execPath, [BIN, "up", "--home", home, "--port", "0", "--no-cron"]);
    const one = await first.banner();
    const record = () => JSON.parse(readFileSync(join(home, "up.json"), "utf8"));
    expect(record()).toMatchObject({ url: one.url, pid: one.pid });
    const second = start(process.execPath, [BIN, "up", "--home", home, "--port", "0", "--no-cron"]);
    const two = await second.banner();
    expect(second.out()).toContain(`note:       ${one.url} (pid ${one.pid}) stays this home's recorded server`);
    expect(record()).toMatchObject({ url: one.url, pid: one.pid });
    second.child.kill("SIGTERM");
    expect((await second.exit).code).toBe(EXIT_OK);
    expect(record()).toMatchObject({ url: one.url, pid: one.pid });
    expect(two.url).not.toBe(one.url);
    // The recorded one stopping first: a server still up takes the record over.
    const third = start(process.execPath, [BIN, "up", "--home", home, "--port", "0", "--no-cron"]);
    const three = await third.banner();
    expect(third.out()).toContain("note:");
    first.child.kill("SIGTERM");
    expect((await first.exit).code).toBe(EXIT_OK);
    await until("the third up to record itself", () => existsSync(join(home, "up.json")) && record().pid === three.pid, 15_000);
    expect(record()).toMatchObject({ url: three.url, pid: three.pid });
    third.child.kill("SIGTERM");
    expect((await third.exit).code).toBe(EXIT_OK);
    expect(existsSync(join(home, "up.json"))).toBe(false);
  });
});

describe("bin/switchyard.mjs", () => {
  it("stops quietly when the reader of its output goes away (`switchyard search --help | head -1`)", async () => {
    const child = spawn(process.execPath, [BIN, "search", "--help"], { cwd: tmp(), stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
    // Read one chunk, then close the pipe like `head` does.
    child.stdout!.once("data", () => child.stdout!.destroy());
    const code = await new Promise<number | null>((resolve) => child.once("close", (c) => resolve(c)));
    expect(err).not.toContain("EPIPE");
    expect(code).toBe(0);
  });
});

describe("switchyard up fails fast, naming the problem", () => {
  let busy: Server | null = null;
  afterEach(() => {
    busy?.close();
    busy = null;
  });

  it("on a busy port: names host:port and the --port hint, exit 1", async () => {
    busy = createServer();
    await new Promise<void>((r) => busy!.listen(0, "127.0.0.1", r));
    const port = (busy.address() as { port: number }).port;
    const up = start(process.execPath, [BIN, "up", "--home", tmp(), "--port", String(port), "--no-cron"]);
    const { code } = await up.exit;
    expect(code).toBe(EXIT_FAILED);
    expect(up.err()).toContain(`error: cannot listen on 127.0.0.1:${port}: the port is already in use`);
    expect(up.err()).toContain("--port N");
    expect(up.out()).not.toContain("switchyard is up");
  });

  it("on an invalid --cron: exit 2 before opening anything", async () => {
    const home = join(tmp(), "new-home");
    const up = start(process.execPath, [BIN, "up", "--home", home, "--port", "0", "--cron", "heartbeat-sweep=every minute"]);
    const { code } = await up.exit;
    expect(code).toBe(EXIT_USAGE);
    expect(up.err()).toContain("'every minute' is not a valid schedule");
    expect(up.out()).not.toContain("switchyard is up");
    expect(existsSync(home)).toBe(false);
  });

  it("on an unreachable remote database: names the URL and what to check, for up and for any command", async () => {
    const home = tmp();
    const env = { SWITCHYARD_DB_URL: "http://127.0.0.1:1" };
    const up = start(process.execPath, [BIN, "up", "--home", home, "--port", "0", "--no-cron"], { env });
    expect((await up.exit).code).toBe(EXIT_FAILED);
    // fetch refuses port 1 outright ("bad port"); the message names the URL and the cause either way.
    expect(up.err()).toMatch(/error: cannot reach the database at http:\/\/127\.0\.0\.1:1 \(.+\)/);
    expect(up.err()).toContain("hint: Check SWITCHYARD_DB_URL");
    // A port where nothing listens (taken, then released) is refused by the kernel.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const closed = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const list = start(process.execPath, [BIN, "sessions", "--home", home], { env: { SWITCHYARD_DB_URL: `http://127.0.0.1:${closed}` } });
    expect((await list.exit).code).toBe(EXIT_FAILED);
    expect(list.err()).toContain(`error: cannot reach the database at http://127.0.0.1:${closed} (ECONNREFUSED)`);
    expect(readdirSync(home).filter((f) => f.endsWith(".db"))).toEqual([]);
  });
});

describe("a tmux session that does not exist", () => {
  const sb = cliSandbox("open", { SWITCHYARD_HOST_NAME: "open-host" });
  const host = new NodeHost();
  const gone = `cli-gone-${process.pid}`;
  let live: string | null = null;
  afterEach(async () => {
    if (live) await host.tmuxKillSession(live).catch(() => {});
    live = null;
  });

  it("nudge and open name it and say what to do", async () => {
    // Registration needs the pane to exist; it goes away afterwards, as an ended agent's does.
    await host.tmuxNewSession({ name: gone, cwd: sb.home, command: ["sleep", "600"] });
    expect((await sb.cli("register-worker", "--name", "ghost", "--tmux-session", gone)).code).toBe(EXIT_OK);
    await host.tmuxKillSession(gone);
    const nudge = await sb.cli("session-nudge", "ghost", "hello");
    expect(nudge.code).toBe(EXIT_FAILED);
    expect(nudge.err).toContain(`tmux session '${gone}' not found`);
    expect(nudge.err).toMatch(/hint: `tmux ls` lists the sessions that exist/);
    const open = await sb.cli("open", "ghost");
    expect(open.code).toBe(EXIT_FAILED);
    expect(open.err).toContain(`tmux session '${gone}' of worker 'ghost' does not exist on this machine`);
    expect(open.err).toContain("switchyard stop ghost");
  });

  it("open, open-worker and open-manager print the attach command of a live one", async () => {
    live = `cli-open-${process.pid}`;
    await host.tmuxNewSession({ name: live, cwd: sb.home, command: [process.execPath, FAKE_TUI, join(sb.home, "r.jsonl")] });
    await sb.cli("register-worker", "--name", "ow", "--tmux-session", live);
    await sb.cli("register-manager", "--name", "om");
    await sb.cli("tasks", "--create", "ot");
    await sb.cli("bind", "--task", "ot", "--worker", "ow", "--manager", "om");
    const saved = process.env.TMUX;
    delete process.env.TMUX;
    try {
      const open = await sb.cli("open", "ow");
      expect(open.code).toBe(EXIT_OK);
      expect(open.out.trim()).toBe(`tmux attach-session -t =${live}`);
      expect((await sb.cli("open-worker", "ot")).out.trim()).toBe(`tmux attach-session -t =${live}`);
      const manager = await sb.cli("open-manager", "ot");
      expect(manager.code).toBe(EXIT_FAILED);
      expect(manager.err).toContain("session 'om' has no tmux session to open");
      // Inside tmux, attaching would nest; the printed command switches the client instead.
      process.env.TMUX = "/tmp/tmux-0/default,1,0";
      expect((await sb.cli("open", "ow")).out.trim()).toBe(`tmux switch-client -t =${live}`);
    } finally {
      if (saved === undefined) delete process.env.TMUX;
      else process.env.TMUX = saved;
    }
  });
});
