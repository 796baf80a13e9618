import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { LAUNCHD_LABEL, logPath, SYSTEMD_UNIT, unitFiles, type DaemonConfig, type Platform, type UnitFile } from "./units.ts";

/** Runs a service-manager command; injectable so tests never touch the real launchd or systemd. */
export type Exec = (cmd: string, args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

/** The real command runner; a missing binary is exit code 127, like a shell would say. */
export const realExec: Exec = (cmd, args) =>
  new Promise((resolve) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : err.code === "ENOENT" ? 127 : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr || (err && !stderr ? err.message : "")) });
    });
  });

/** What an install recorded, so status and uninstall need no flags. */
export interface Manifest {
  platform: Platform;
  run_id: string;
  project: string | null;
  to_session: string | null;
  daemon_id: string;
  files: string[];
  log: string;
  token_id: string | null;
  installed_at: string;
  loaded: boolean;
}

/** One service-manager command and how it went. */
export interface CommandRun {
  command: string;
  code: number;
  stderr: string;
}

/** Where the install manifest lives. */
export const manifestPath = (switchyardHome: string) => join(switchyardHome, "broker-daemon.json");
/** Where the daemon's bearer token lives (mode 0600). */
export const daemonTokenPath = (switchyardHome: string) => join(switchyardHome, "daemon.token");

/** The platform this machine's service manager is, or null when it has neither. */
export function nativePlatform(platform: NodeJS.Platform = process.platform): Platform | null {
  return platform === "darwin" ? "launchd" : platform === "linux" ? "systemd" : null;
}

const uid = () => (typeof process.getuid === "function" ? process.getuid() : 0);

/** How the service manager knows one service. */
export interface ServiceNames {
  platform: Platform;
  /** launchd label. */
  label: string;
  /** systemd unit stem. */
  unit: string;
  /** systemd: whether a `<unit>.timer` comes with the service (the broker daemon's does). */
  timer: boolean;
}

/** The broker daemon's names. */
const brokerNames = (platform: Platform): ServiceNames => ({ platform, label: LAUNCHD_LABEL, unit: SYSTEMD_UNIT, timer: true });

function loadCommands(n: ServiceNames, files: string[]): [string, string[]][] {
  if (n.platform === "launchd") {
    return [
      // bootout first so a reinstall replaces a loaded agent instead of failing on it.
      ["launchctl", ["bootout", `gui/${uid()}/${n.label}`]],
      ["launchctl", ["bootstrap", `gui/${uid()}`, files[0]!]],
    ];
  }
  return [
    ["systemctl", ["--user", "daemon-reload"]],
    ["systemctl", ["--user", "enable", "--now", `${n.unit}.${n.timer ? "timer" : "service"}`]],
    // restart, not start: a reinstall with new arguments must replace the running process.
    ["systemctl", ["--user", "restart", `${n.unit}.service`]],
  ];
}

function unloadCommands(n: ServiceNames): [string, string[]][] {
  if (n.platform === "launchd") return [["launchctl", ["bootout", `gui/${uid()}/${n.label}`]]];
  return [
    ["systemctl", ["--user", "disable", "--now", ...(n.timer ? [`${n.unit}.timer`] : []), `${n.unit}.service`]],
    ["systemctl", ["--user", "daemon-reload"]],
  ];
}

async function runAll(exec: Exec, commands: [string, string[]][]): Promise<CommandRun[]> {
  const out: CommandRun[] = [];
  for (const [cmd, args] of commands) {
    const r = await exec(cmd, args);
    out.push({ command: [cmd, ...args].join(" "), code: r.code, stderr: r.stderr.trim() });
  }
  return out;
}

/** Writes unit files (0644) and makes the log's directory (0700). */
export function writeUnitFiles(files: UnitFile[], log: string): void {
  mkdirSync(dirname(log), { recursive: true, mode: 0o700 });
  for (const f of files) {
    mkdirSync(dirname(f.path), { recursive: true });
    writeFileSync(f.path, f.contents, { mode: 0o644 });
  }
}

/** Loads written unit files into the service manager; `loaded` when every command that matters succeeded. */
export async function loadService(n: ServiceNames, files: string[], exec: Exec): Promise<{ commands: CommandRun[]; loaded: boolean }> {
  const commands = await runAll(exec, loadCommands(n, files));
  // launchctl bootout fails when nothing was loaded yet; only the commands after it must succeed.
  return { commands, loaded: commands.filter((c) => !c.command.includes(" bootout ")).every((c) => c.code === 0) };
}

/** Stops and unloads a service (its files stay; the caller removes them). */
export function unloadService(n: ServiceNames, exec: Exec): Promise<CommandRun[]> {
  return runAll(exec, unloadCommands(n));
}

/**
 * Writes the unit files, the daemon token (when one was minted) and the manifest; with `load`
 * also loads them into the service manager. A failed load leaves the files in place and says so.
 */
export async function installDaemon(cfg: DaemonConfig, opts: { load: boolean; exec: Exec; token: { id: string; secret: string } | null; now: Date }) {
  const files = unitFiles(cfg);
  writeUnitFiles(files, logPath(cfg));
  if (opts.token) {
    writeFileSync(daemonTokenPath(cfg.switchyardHome), `${opts.token.secret}\n`, { mode: 0o600 });
    chmodSync(daemonTokenPath(cfg.switchyardHome), 0o600);
  }
  const { commands, loaded } = opts.load
    ? await loadService(
        brokerNames(cfg.platform),
        files.map((f) => f.path),
        opts.exec,
      )
    : { commands: [], loaded: false };
  const previous = readManifest(cfg.switchyardHome);
  const manifest: Manifest = {
    platform: cfg.platform,
    run_id: cfg.runId,
    project: cfg.project ?? null,
    to_session: cfg.toSession ?? null,
    daemon_id: cfg.daemonId,
    files: files.map((f) => f.path),
    log: logPath(cfg),
    token_id: opts.token?.id ?? previous?.token_id ?? null,
    installed_at: opts.now.toISOString(),
    loaded,
  };
  writeFileSync(manifestPath(cfg.switchyardHome), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  return { manifest, files: files.map((f) => f.path), commands };
}

/** The manifest of the installed daemon, or null when none is installed. */
export function readManifest(switchyardHome: string): Manifest | null {
  const path = manifestPath(switchyardHome);
  if (!existsSync(path)) return null;
  return JSON.parse(readFileSync(path, "utf8")) as Manifest;
}

/** The unit files an install writes for this user, by platform, whatever the manifest says. */
function standardFiles(userHome: string): Record<Platform, string[]> {
  return {
    launchd: [join(userHome, "Library", "LaunchAgents", `${LAUNCHD_LABEL}.plist`)],
    systemd: [join(userHome, ".config", "systemd", "user", `${SYSTEMD_UNIT}.service`), join(userHome, ".config", "systemd", "user", `${SYSTEMD_UNIT}.timer`)],
  };
}

/**
 * Unloads the daemon and removes its files, token file and manifest. Without a manifest (lost,
 * or deleted by hand) it still removes unit files found at the standard paths, so uninstall
 * followed by install always starts clean.
 */
export async function uninstallDaemon(switchyardHome: string, opts: { exec: Exec; userHome: string }) {
  const manifest = readManifest(switchyardHome);
  const standard = standardFiles(opts.userHome);
  const platform = manifest?.platform ?? (["launchd", "systemd"] as const).find((p) => standard[p].some((f) => existsSync(f))) ?? null;
  const commands = platform ? await unloadService(brokerNames(platform), opts.exec) : [];
  const removed: string[] = [];
  for (const path of [...(manifest?.files ?? (platform ? standard[platform] : [])), daemonTokenPath(switchyardHome), manifestPath(switchyardHome)]) {
    if (!existsSync(path)) continue;
    rmSync(path);
    removed.push(path);
  }
  return { manifest, platform, commands, removed };
}

/** Whether the service manager has a service loaded and running, in its own words. */
export async function serviceState(n: ServiceNames, exec: Exec): Promise<{ loaded: boolean; running: boolean; detail: string }> {
  if (n.platform === "launchd") {
    const r = await exec("launchctl", ["print", `gui/${uid()}/${n.label}`]);
    if (r.code !== 0) return { loaded: false, running: false, detail: r.stderr.trim() || `launchctl print exited ${r.code}` };
    const state = /^\s*state = (.+)$/m.exec(r.stdout)?.[1]?.trim() ?? "unknown";
    const pid = /^\s*pid = (\d+)$/m.exec(r.stdout)?.[1];
    return { loaded: true, running: state === "running", detail: `state=${state}${pid ? ` pid=${pid}` : ""}` };
  }
  const service = await exec("systemctl", ["--user", "is-active", `${n.unit}.service`]);
  const enabledUnit = `${n.unit}.${n.timer ? "timer" : "service"}`;
  const enabled = await exec("systemctl", ["--user", "is-enabled", enabledUnit]);
  const active = service.stdout.trim() || service.stderr.trim() || `exit ${service.code}`;
  const state = enabled.stdout.trim() || enabled.stderr.trim() || `exit ${enabled.code}`;
  return { loaded: enabled.code === 0, running: active === "active", detail: `service ${active}, ${n.timer ? "timer" : "enabled"} ${state}` };
}

/** The install manifest, which of its files exist, and what the service manager says. */
export async function daemonStatus(switchyardHome: string, opts: { exec: Exec }) {
  const manifest = readManifest(switchyardHome);
  if (!manifest) return { installed: false as const, manifest: null, files: [], token_file: existsSync(daemonTokenPath(switchyardHome)), service: null };
  return {
    installed: true as const,
    manifest,
    files: manifest.files.map((path) => ({ path, exists: existsSync(path) })),
    token_file: existsSync(daemonTokenPath(switchyardHome)),
    service: await serviceState(brokerNames(manifest.platform), opts.exec),
  };
}
