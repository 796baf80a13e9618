import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { runCli } from "../../../local-runner/cli/main.ts";
import { daemonDeps } from "../../../local-runner/daemon/commands.ts";
import { daemonTokenPath, realExec, type Exec } from "../../../local-runner/daemon/manager.ts";
import { systemdUnits } from "../../../local-runner/daemon/units.ts";
import { resolveHome } from "../../../local-runner/home.ts";
import { openLocalServices } from "../../../local-runner/services.ts";
import { tokens } from "../../../schema/auth.ts";
import { parsePlist, parseUnit, parseXml } from "./plist.ts";

/**
 * daemon-config / daemon-install / daemon-status / daemon-uninstall against a temp $HOME and a
 * temp SWITCHYARD_HOME; launchctl and systemctl are replaced by a recorder.
 */

let dir: string;
let home: string;
let savedHome: string | undefined;
let calls: string[];
let stdout: string[];
let runId: string;

const cli = async (...argv: string[]) => {
  stdout.length = 0;
  const code = await runCli([...argv, "--home", home], { out: (t) => stdout.push(t), err: (t) => stdout.push(t) });
  return { code, text: stdout.join("") };
};

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "switchyard-daemon-"));
  home = join(dir, "sy");
  mkdirSync(home);
  savedHome = process.env.HOME;
  process.env.HOME = dir;
  calls = [];
  stdout = [];
  const recorder: Exec = async (cmd, args) => {
    calls.push([cmd, ...args].join(" "));
    return { code: 0, stdout: args.includes("is-active") ? "active\n" : "", stderr: "" };
  };
  daemonDeps.exec = recorder;
  // Local commands print straight to stdout and stderr; collect both for the assertions.
  for (const stream of [process.stdout, process.stderr]) {
    vi.spyOn(stream, "write").mockImplementation((chunk: string | Uint8Array) => {
      stdout.push(String(chunk));
      return true;
    });
  }
  const created = await cli("broker", "run-create", "--mode", "overnight_dry_run", "--objective", "overnight", "--json");
  runId = JSON.parse(created.text).run_id;
  await cli("broker", "run-start", runId);
});
afterEach(() => {
  vi.restoreAllMocks();
  daemonDeps.exec = realExec;
  process.env.HOME = savedHome;
  rmSync(dir, { recursive: true, force: true });
});

const unitDir = () => join(dir, ".config", "systemd", "user");
const plistPath = () => join(dir, "Library", "LaunchAgents", "com.switchyard.advice-broker.plist");
const hasSystemdAnalyze = spawnSync("systemd-analyze", ["--version"]).status === 0;
const hasPlutil = spawnSync("plutil", ["-help"]).status !== null && spawnSync("which", ["plutil"]).status === 0;

describe("broker daemon-install --no-load on Linux (systemd --user)", () => {
  it("acts as the token it is given, not the owner: a session's token cannot mint the daemon token", async () => {
    const reg = JSON.parse((await cli("register-worker", "--name", "daemon-intruder", "--json")).text);
    const res = await cli("broker", "daemon-install", "--run-id", runId, "--platform", "systemd", "--no-load", "--token", reg.token);
    expect(res.code).toBe(1);
    expect(res.text).toMatch(/cannot mint the daemon token|FORBIDDEN|may not|owner/i);
    expect(existsSync(daemonTokenPath(home))).toBe(false);
    expect(existsSync(join(unitDir(), "switchyard-advice-broker.service"))).toBe(false);
  });

  it("writes a valid service and timer into $HOME, a daemon token and a manifest, and loads nothing", async () => {
    const res = await cli(
      "broker",
      "daemon-install",
      "--run-id",
      runId,
      "--project",
      "/src/my app 100%",
      "--to-session",
      "lily",
      "--platform",
      "systemd",
      "--no-load",
    );
    expect(res.code).toBe(0);
    expect(calls).toEqual([]);
    const service = join(unitDir(), "switchyard-advice-broker.service");
    const timer = join(unitDir(), "switchyard-advice-broker.timer");
    if (hasSystemdAnalyze) {
      // Throws with systemd's own complaint when a unit is invalid.
      execFileSync("systemd-analyze", ["verify", service, timer], { stdio: "pipe" });
    }
    const svc = parseUnit(readFileSync(service, "utf8"));
    expect(svc.Service).toMatchObject({ Type: "simple", Restart: "on-failure", WorkingDirectory: home });
    expect(svc.Service!.ExecStart).toContain(`"broker" "daemon" "--run-id" "${runId}"`);
    // systemd would expand a bare % specifier; it must be doubled in the unit.
    expect(svc.Service!.ExecStart).toContain(`"--project" "/src/my app 100%%" "--to-session" "lily"`);
    expect(svc.Install).toEqual({ WantedBy: "default.target" });
    expect(parseUnit(readFileSync(timer, "utf8")).Timer).toMatchObject({ Unit: "switchyard-advice-broker.service" });

    const tokenFile = join(home, "daemon.token");
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    const services = await openLocalServices({ home: resolveHome({}, { home }) });
    try {
      const manifest = JSON.parse(readFileSync(join(home, "broker-daemon.json"), "utf8"));
      expect(manifest).toMatchObject({ platform: "systemd", run_id: runId, to_session: "lily", loaded: false, files: [service, timer] });
      const [row] = await services.database.db.select().from(tokens).where(eq(tokens.id, manifest.token_id));
      expect(row).toMatchObject({ kind: "daemon", revokedAt: null });
    } finally {
      services.database.close();
    }
  });

  it("daemon-status reports it; daemon-uninstall disables it, removes every file and revokes the token", async () => {
    await cli("broker", "daemon-install", "--run-id", runId, "--platform", "systemd", "--no-load");
    const tokenId = JSON.parse(readFileSync(join(home, "broker-daemon.json"), "utf8")).token_id;
    const status = JSON.parse((await cli("broker", "daemon-status", "--json")).text);
    expect(status).toMatchObject({
      installed: true,
      token_file: true,
      manifest: { run_id: runId },
      service: { running: true },
      run: { id: runId, state: "running" },
    });
    expect(status.files.every((f: any) => f.exists)).toBe(true);

    calls.length = 0;
    const gone = await cli("broker", "daemon-uninstall", "--json");
    expect(JSON.parse(gone.text).token_revoked).toBe(true);
    expect(calls).toEqual(["systemctl --user disable --now switchyard-advice-broker.timer switchyard-advice-broker.service", "systemctl --user daemon-reload"]);
    for (const f of ["switchyard-advice-broker.service", "switchyard-advice-broker.timer"]) expect(existsSync(join(unitDir(), f))).toBe(false);
    expect(existsSync(daemonTokenPath(home))).toBe(false);
    expect(JSON.parse((await cli("broker", "daemon-status", "--json")).text)).toMatchObject({ installed: false });
    const services = await openLocalServices({ home: resolveHome({}, { home }) });
    try {
      const [row] = await services.database.db.select().from(tokens).where(eq(tokens.id, tokenId));
      expect(row!.revokedAt).not.toBeNull();
    } finally {
      services.database.close();
    }
  });

  it("daemon-uninstall still finds the unit files when the manifest is gone", async () => {
    await cli("broker", "daemon-install", "--run-id", runId, "--platform", "systemd", "--no-load");
    rmSync(join(home, "broker-daemon.json"));
    calls.length = 0;
    expect((await cli("broker", "daemon-uninstall")).code).toBe(0);
    expect(calls[0]).toBe("systemctl --user disable --now switchyard-advice-broker.timer switchyard-advice-broker.service");
    expect(existsSync(join(unitDir(), "switchyard-advice-broker.service"))).toBe(false);
    expect(existsSync(daemonTokenPath(home))).toBe(false);
    expect((await cli("broker", "daemon-uninstall")).text).toContain("not installed");
  });

  it("without --no-load it reloads systemd and enables the timer and service", async () => {
    const res = await cli("broker", "daemon-install", "--run-id", runId, "--platform", "systemd");
    expect(res.code).toBe(0);
    expect(calls).toEqual([
      "systemctl --user daemon-reload",
      "systemctl --user enable --now switchyard-advice-broker.timer",
      "systemctl --user restart switchyard-advice-broker.service",
    ]);
  });

  it("refuses to install for a stopped run or an unknown one", async () => {
    await cli("broker", "run-stop", runId, "--reason", "done");
    const stopped = await cli("broker", "daemon-install", "--run-id", runId, "--platform", "systemd", "--no-load");
    expect(stopped).toEqual({ code: 1, text: expect.stringContaining("is stopped (owner_kill_switch)") });
    const unknown = await cli("broker", "daemon-install", "--run-id", "run_nope", "--platform", "systemd", "--no-load");
    expect(unknown).toEqual({ code: 1, text: expect.stringContaining("NOT_FOUND") });
    expect(existsSync(unitDir())).toBe(false);
  });
});

describe("broker daemon-install on macOS (launchd)", () => {
  it("writes a well-formed plist that runs `switchyard broker daemon --run-id …`", async () => {
    const res = await cli("broker", "daemon-install", "--run-id", runId, "--project", "/a&b <c>", "--platform", "launchd", "--no-load");
    expect(res.code).toBe(0);
    const text = readFileSync(plistPath(), "utf8");
    if (hasPlutil) execFileSync("plutil", ["-lint", plistPath()], { stdio: "pipe" });
    const plist = parsePlist(text);
    expect(plist.Label).toBe("com.switchyard.advice-broker");
    const argv = plist.ProgramArguments as string[];
    expect(argv.slice(2, 6)).toEqual(["broker", "daemon", "--run-id", runId]);
    expect(argv[argv.indexOf("--project") + 1]).toBe("/a&b <c>");
    expect(plist).toMatchObject({ RunAtLoad: true, KeepAlive: { SuccessfulExit: false }, EnvironmentVariables: { SWITCHYARD_HOME: home } });
  });

  it("loads with launchctl bootout + bootstrap unless --no-load", async () => {
    await cli("broker", "daemon-install", "--run-id", runId, "--platform", "launchd");
    const uid = process.getuid!();
    expect(calls).toEqual([`launchctl bootout gui/${uid}/com.switchyard.advice-broker`, `launchctl bootstrap gui/${uid} ${plistPath()}`]);
  });

  it("the well-formedness check rejects broken XML", () => {
    expect(() => parseXml("<plist><dict></plist>")).toThrow(/does not match/);
    expect(() => parseXml("<a>AT&T</a>")).toThrow(/unescaped/);
    expect(() => parsePlist('<plist version="1.0"><dict><key>A</key></dict></plist>')).toThrow(/key and no value/);
  });
});

describe("broker daemon-config", () => {
  it("refuses a value with a newline (it would add systemd directives) before minting or writing anything", async () => {
    for (const platform of ["systemd", "launchd"]) {
      const res = await cli(
        "broker",
        "daemon-install",
        "--run-id",
        runId,
        "--platform",
        platform,
        "--project",
        "x\nExecStartPre=/bin/sh -c 'touch /tmp/pwned'",
        "--no-load",
      );
      expect(res.code).toBe(2);
      expect(res.text).toMatch(/--project contains a control character/);
    }
    expect(existsSync(unitDir())).toBe(false);
    expect(existsSync(join(dir, "Library"))).toBe(false);
    expect(existsSync(daemonTokenPath(home))).toBe(false);
    const services = await openLocalServices({ home: resolveHome({}, { home }) });
    try {
      expect(await services.database.db.select().from(tokens).where(eq(tokens.kind, "daemon"))).toEqual([]);
    } finally {
      services.database.close();
    }
  });

  it("keeps a '%' in the run id literal in the unit's description", () => {
    const [service] = systemdUnits({
      platform: "systemd",
      runId: "run_50%n",
      daemonId: "d",
      intervalSeconds: 60,
      leaseSeconds: 120,
      switchyardHome: "/h",
      node: "/usr/bin/node",
      cli: "/s/bin/switchyard.mjs",
      userHome: "/home/u",
    });
    expect(parseUnit(service!.contents).Unit!.Description).toBe("Switchyard advice broker daemon (draft-only) for run run_50%%n");
  });

  it("previews the files and the command without writing anything", async () => {
    const res = await cli("broker", "daemon-config", "--run-id", runId, "--platform", "systemd", "--to-session", "lily", "--json");
    const preview = JSON.parse(res.text);
    expect(preview.command.slice(2, 6)).toEqual(["broker", "daemon", "--run-id", runId]);
    expect(preview.files.map((f: any) => f.path)).toEqual([
      join(unitDir(), "switchyard-advice-broker.service"),
      join(unitDir(), "switchyard-advice-broker.timer"),
    ]);
    expect(existsSync(unitDir())).toBe(false);
    expect(existsSync(daemonTokenPath(home))).toBe(false);
  });
});
