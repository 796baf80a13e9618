import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { runCli } from "../../../local-runner/cli/main.ts";
import { serviceDeps } from "../../../local-runner/cli/service-commands.ts";
import { realExec, type Exec } from "../../../local-runner/daemon/manager.ts";
import { parsePlist, parseUnit } from "../daemon/plist.ts";

/**
 * service install / status / uninstall against a temp $HOME and a temp SWITCHYARD_HOME;
 * launchctl and systemctl are replaced by a recorder (the broker daemon's install is tested the
 * same way, tests/local-runner/daemon/install.test.ts). Unit files are checked by
 * systemd-analyze where it exists, plists by a strict XML reader.
 */

let dir: string;
let home: string;
let calls: string[];
let output: string[];
let active: boolean;
const saved: Record<string, string | undefined> = {};
const servers: Server[] = [];
const RUNNER_TOKEN = "runner-secret-never-in-a-unit-file";
const DB_TOKEN = "db-secret-never-in-a-unit-file";

const cli = async (...argv: string[]) => {
  output.length = 0;
  const code = await runCli([...argv, "--home", home], { out: (t) => output.push(t), err: (t) => output.push(t) });
  return { code, text: output.join("") };
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "switchyard-service-"));
  home = join(dir, "sy");
  mkdirSync(home);
  for (const k of ["HOME", "SWITCHYARD_DB_URL", "SWITCHYARD_DB_AUTH_TOKEN", "SWITCHYARD_HOST_NAME", "SWITCHYARD_URL", "SWITCHYARD_TOKEN"])
    saved[k] = process.env[k];
  process.env.HOME = dir;
  for (const k of ["SWITCHYARD_DB_URL", "SWITCHYARD_DB_AUTH_TOKEN", "SWITCHYARD_URL", "SWITCHYARD_TOKEN"]) delete process.env[k];
  process.env.SWITCHYARD_HOST_NAME = "box-1";
  calls = [];
  output = [];
  active = true;
  const recorder: Exec = async (cmd, args) => {
    calls.push([cmd, ...args].join(" "));
    if (args.includes("is-active")) return { code: active ? 0 : 3, stdout: active ? "active\n" : "inactive\n", stderr: "" };
    return { code: 0, stdout: args.includes("is-enabled") ? "enabled\n" : "", stderr: "" };
  };
  serviceDeps.exec = recorder;
  for (const stream of [process.stdout, process.stderr]) {
    vi.spyOn(stream, "write").mockImplementation((chunk: string | Uint8Array) => {
      output.push(String(chunk));
      return true;
    });
  }
});
afterEach(() => {
  vi.restoreAllMocks();
  serviceDeps.exec = realExec;
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  for (const s of servers.splice(0)) s.close();
  rmSync(dir, { recursive: true, force: true });
});

const unitDir = () => join(dir, ".config", "systemd", "user");
const hasSystemdAnalyze = spawnSync("systemd-analyze", ["--version"]).status === 0;
const mode = (p: string) => statSync(p).mode & 0o777;

describe("service install (up) on Linux: systemd --user", () => {
  it("writes a valid unit that runs up on the home, a manifest, and with --no-load runs nothing", async () => {
    const res = await cli("service", "install", "--platform", "systemd", "--no-cron", "--port", "8799", "--no-load");
    expect(res.code).toBe(0);
    expect(calls).toEqual([]);
    const service = join(unitDir(), "switchyard-up.service");
    if (hasSystemdAnalyze) execFileSync("systemd-analyze", ["verify", service], { stdio: "pipe" });
    const unit = parseUnit(readFileSync(service, "utf8"));
    expect(unit.Service).toMatchObject({ Type: "simple", Restart: "on-failure", WorkingDirectory: home });
    expect(unit.Service!.ExecStart).toMatch(/"up" "--home" "[^"]+" "--port" "8799" "--no-cron"$/);
    expect(unit.Service!.Environment).toContain(`"SWITCHYARD_HOME=${home}"`);
    expect(unit.Service!.Environment).toContain(`"SWITCHYARD_HOST_NAME=box-1"`);
    expect(unit.Service!.Environment).toMatch(/"PATH=/);
    expect(unit.Install).toEqual({ WantedBy: "default.target" });
    const manifest = JSON.parse(readFileSync(join(home, "service-up.json"), "utf8"));
    expect(manifest).toMatchObject({
      kind: "up",
      platform: "systemd",
      files: [service],
      secrets: [],
      loaded: false,
      health_url: "http://127.0.0.1:8799/healthz",
    });
    expect(res.text).toContain("not loaded (--no-load); load it with: systemctl --user daemon-reload && systemctl --user enable --now switchyard-up.service");
  });

  it("loads it: daemon-reload, enable --now and restart (a reinstall replaces the running process)", async () => {
    const res = await cli("service", "install", "--platform", "systemd");
    expect(res.code).toBe(0);
    expect(calls).toEqual([
      "systemctl --user daemon-reload",
      "systemctl --user enable --now switchyard-up.service",
      "systemctl --user restart switchyard-up.service",
    ]);
    expect(res.text).toContain("up service loaded");
    expect(res.text).toContain("loginctl enable-linger");
  });

  it("refuses a non-loopback --bind without the acknowledgement; with it, the unit passes it on", async () => {
    const refused = await cli("service", "install", "--platform", "systemd", "--bind", "0.0.0.0", "--no-load");
    expect(refused.code).toBe(1);
    expect(refused.text).toContain("refusing to install a server that listens on 0.0.0.0");
    expect(existsSync(join(unitDir(), "switchyard-up.service"))).toBe(false);
    const ok = await cli("service", "install", "--platform", "systemd", "--bind", "10.1.2.3", "--i-know-this-is-exposed", "--no-load");
    expect(ok.code).toBe(0);
    const unit = parseUnit(readFileSync(join(unitDir(), "switchyard-up.service"), "utf8"));
    expect(unit.Service!.ExecStart).toContain(`"--host" "10.1.2.3" "--i-know-this-is-exposed"`);
  });

  it("keeps a remote database's token out of the unit: a 0600 file the server reads through SWITCHYARD_DB_AUTH_TOKEN_FILE", async () => {
    process.env.SWITCHYARD_DB_URL = "libsql://team.example.turso.io";
    process.env.SWITCHYARD_DB_AUTH_TOKEN = DB_TOKEN;
    expect((await cli("service", "install", "--platform", "systemd", "--no-load")).code).toBe(0);
    const text = readFileSync(join(unitDir(), "switchyard-up.service"), "utf8");
    expect(text).not.toContain(DB_TOKEN);
    const unit = parseUnit(text);
    const tokenFile = join(home, "db-auth.token");
    expect(unit.Service!.Environment).toContain(`"SWITCHYARD_DB_URL=libsql://team.example.turso.io"`);
    expect(unit.Service!.Environment).toContain(`"SWITCHYARD_DB_AUTH_TOKEN_FILE=${tokenFile}"`);
    expect(readFileSync(tokenFile, "utf8").trim()).toBe(DB_TOKEN);
    expect(mode(tokenFile)).toBe(0o600);

    process.env.SWITCHYARD_DB_URL = `libsql://team.example.turso.io?authToken=${DB_TOKEN}`;
    const inUrl = await cli("service", "install", "--platform", "systemd", "--no-load");
    expect(inUrl.code).toBe(2);
    expect(inUrl.text).toContain("SWITCHYARD_DB_URL carries ?authToken=");
  });

  it("--dry-run prints the unit and writes nothing", async () => {
    const res = await cli("service", "install", "--platform", "systemd", "--dry-run");
    expect(res.code).toBe(0);
    expect(res.text).toContain("dry run: nothing written");
    expect(res.text).toContain("[Service]");
    expect(existsSync(unitDir())).toBe(false);
    expect(existsSync(join(home, "service-up.json"))).toBe(false);
  });

  it("refuses a value a unit file cannot hold (a newline would add a directive)", async () => {
    const res = await cli("service", "install", "--platform", "systemd", "--wake-interval", "500\nExecStartPre=/bin/sh", "--no-load");
    expect(res.code).toBe(2);
    expect(res.text).toContain("contains a control character");
    expect(existsSync(unitDir())).toBe(false);
  });
});

describe("service install (up) on macOS: launchd", () => {
  it("writes a well-formed agent plist with the same command and environment", async () => {
    expect((await cli("service", "install", "--platform", "launchd", "--no-load")).code).toBe(0);
    const plist = parsePlist(readFileSync(join(dir, "Library", "LaunchAgents", "com.switchyard.up.plist"), "utf8"));
    expect(plist.Label).toBe("com.switchyard.up");
    expect((plist.ProgramArguments as string[]).slice(2)).toEqual(["up", "--home", home, "--port", "8787"]);
    expect(plist.EnvironmentVariables).toMatchObject({ SWITCHYARD_HOME: home, SWITCHYARD_HOST_NAME: "box-1" });
    expect(plist).toMatchObject({ RunAtLoad: true, KeepAlive: { SuccessfulExit: false }, StandardOutPath: join(home, "logs", "up.log") });
  });
});

describe("service install --runner", () => {
  it("saves --token to a 0600 file and runs the runner with --token-file, never the token itself", async () => {
    const res = await cli("service", "install", "--runner", "--url", "http://10.0.0.5:8787", "--token", RUNNER_TOKEN, "--platform", "systemd", "--no-load");
    expect(res.code).toBe(0);
    const service = join(unitDir(), "switchyard-runner.service");
    if (hasSystemdAnalyze) execFileSync("systemd-analyze", ["verify", service], { stdio: "pipe" });
    const text = readFileSync(service, "utf8");
    expect(text).not.toContain(RUNNER_TOKEN);
    const tokenFile = join(home, "runner.token");
    expect(parseUnit(text).Service!.ExecStart).toMatch(
      new RegExp(`"runner" "--url" "http://10\\.0\\.0\\.5:8787" "--token-file" "${tokenFile}" "--host" "box-1" "--runner-id" "service"$`),
    );
    expect(readFileSync(tokenFile, "utf8").trim()).toBe(RUNNER_TOKEN);
    expect(mode(tokenFile)).toBe(0o600);
    expect(JSON.parse(readFileSync(join(home, "service-runner.json"), "utf8"))).toMatchObject({ kind: "runner", secrets: [tokenFile], health_url: null });
  });

  it("uses an existing --token-file and --host as given; refuses a token file others can read", async () => {
    const file = join(dir, "tok");
    writeFileSync(file, `${RUNNER_TOKEN}\n`, { mode: 0o644 });
    const loose = await cli("service", "install", "--runner", "--url", "http://hub:8787", "--token-file", file, "--platform", "systemd", "--no-load");
    expect(loose.code).toBe(1);
    expect(loose.text).toContain(`--token-file ${file} is readable by other users (mode 644)`);
    expect(loose.text).toContain(`chmod 600 ${file}`);
    execFileSync("chmod", ["600", file]);
    const ok = await cli(
      "service",
      "install",
      "--runner",
      "--url",
      "http://hub:8787",
      "--token-file",
      file,
      "--host",
      "gpu-2",
      "--platform",
      "systemd",
      "--no-load",
    );
    expect(ok.code).toBe(0);
    expect(parseUnit(readFileSync(join(unitDir(), "switchyard-runner.service"), "utf8")).Service!.ExecStart).toContain(
      `"--token-file" "${file}" "--host" "gpu-2"`,
    );
  });

  it("needs --url and a token, and takes no server options", async () => {
    expect((await cli("service", "install", "--runner", "--platform", "systemd", "--token", "x")).text).toContain("needs --url");
    expect((await cli("service", "install", "--runner", "--url", "http://hub:8787", "--platform", "systemd")).code).toBe(2);
    const mixed = await cli("service", "install", "--runner", "--url", "http://hub:8787", "--token", "x", "--bind", "0.0.0.0", "--platform", "systemd");
    expect(mixed.code).toBe(2);
    expect(mixed.text).toContain("--bind is for the up service");
  });
});

describe("service status and uninstall", () => {
  async function healthServer(status: number): Promise<number> {
    const server = createServer((req, res) => {
      res.writeHead(req.url === "/healthz" ? status : 404);
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    servers.push(server);
    return (server.address() as { port: number }).port;
  }

  it("status: installed, running and answering /healthz is ok; a dead port or a stopped service is NOT OK (exit 1)", async () => {
    const notInstalled = await cli("service", "status");
    expect(notInstalled.code).toBe(1);
    expect(notInstalled.text).toContain("up service: not installed");

    const port = await healthServer(200);
    expect((await cli("service", "install", "--platform", "systemd", "--port", String(port))).code).toBe(0);
    calls.length = 0;
    const ok = await cli("service", "status");
    expect(ok.code).toBe(0);
    expect(calls).toEqual(["systemctl --user is-active switchyard-up.service", "systemctl --user is-enabled switchyard-up.service"]);
    expect(ok.text).toContain("up service: installed (systemd), ok");
    expect(ok.text).toContain(`health:   http://127.0.0.1:${port}/healthz answers (HTTP 200)`);

    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
    const dead = await cli("service", "status", "--json");
    expect(dead.code).toBe(1);
    expect(JSON.parse(dead.text)).toMatchObject({ ok: false, service: { running: true }, health: { ok: false } });

    active = false;
    const stopped = await cli("service", "status");
    expect(stopped.code).toBe(1);
    expect(stopped.text).toContain("not running");
  });

  it("uninstall: disables and stops it, removes the unit, the secrets it wrote and the manifest; again: nothing to remove", async () => {
    expect((await cli("service", "install", "--runner", "--url", "http://hub:8787", "--token", RUNNER_TOKEN, "--platform", "systemd")).code).toBe(0);
    calls.length = 0;
    const res = await cli("service", "uninstall", "--runner");
    expect(res.code).toBe(0);
    expect(calls).toEqual(["systemctl --user disable --now switchyard-runner.service", "systemctl --user daemon-reload"]);
    for (const f of [join(unitDir(), "switchyard-runner.service"), join(home, "runner.token"), join(home, "service-runner.json")])
      expect(existsSync(f)).toBe(false);
    expect(res.text).toContain("token revoke");
    calls.length = 0;
    const again = await cli("service", "uninstall", "--runner");
    expect(again.text).toContain("runner service: not installed; nothing to remove");
    expect(calls).toEqual([]);
  });

  it("uninstall without a manifest still removes a unit left at the standard path", async () => {
    expect((await cli("service", "install", "--platform", "systemd", "--no-load")).code).toBe(0);
    rmSync(join(home, "service-up.json"));
    const res = await cli("service", "uninstall", "--platform", "systemd");
    expect(res.text).toContain(`removed ${join(unitDir(), "switchyard-up.service")}`);
    expect(existsSync(join(unitDir(), "switchyard-up.service"))).toBe(false);
  });
});
