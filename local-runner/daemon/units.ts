import { join } from "node:path";
import { UsageError } from "../cli/spec.ts";

/** The service managers the daemon can be installed under. */
/** The service managers Switchyard writes unit files for. */
export const PLATFORMS = ["launchd", "systemd"] as const;
export type Platform = (typeof PLATFORMS)[number];

/** The launchd label; one broker daemon per user and machine, as `launchctl list` shows it. */
export const LAUNCHD_LABEL = "com.switchyard.advice-broker";
/** The systemd --user unit name stem (a .service and a .timer). */
export const SYSTEMD_UNIT = "switchyard-advice-broker";

/** What an installed daemon runs and where its files go. */
export interface DaemonConfig {
  platform: Platform;
  runId: string;
  project?: string;
  toSession?: string;
  /** Lease owner id the daemon ticks as; stable, so a restarted daemon reclaims its own lease. */
  daemonId: string;
  intervalSeconds: number;
  leaseSeconds: number;
  /** SWITCHYARD_HOME of the daemon: database, tokens, logs. */
  switchyardHome: string;
  /** A server to talk to instead of the local database, when the install was told one. */
  url?: string;
  /** The node binary and the switchyard entry script the service manager starts. */
  node: string;
  cli: string;
  /** The user's $HOME, under which the unit files live. */
  userHome: string;
}

/** A file the install writes. */
export interface UnitFile {
  path: string;
  contents: string;
}

/** The daemon's log file. */
export function logPath(cfg: Pick<DaemonConfig, "switchyardHome">): string {
  return join(cfg.switchyardHome, "logs", "broker-daemon.log");
}

/** The command line the service manager runs: `switchyard broker daemon --run-id …`. */
export function daemonArgv(cfg: DaemonConfig): string[] {
  const argv = [cfg.node, cfg.cli, "broker", "daemon", "--run-id", cfg.runId, "--daemon-id", cfg.daemonId];
  argv.push("--interval-seconds", String(cfg.intervalSeconds), "--lease-seconds", String(cfg.leaseSeconds), "--home", cfg.switchyardHome);
  if (cfg.project) argv.push("--project", cfg.project);
  if (cfg.toSession) argv.push("--to-session", cfg.toSession);
  if (cfg.url) argv.push("--url", cfg.url);
  return argv;
}

const xml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");

/**
 * One long-running Switchyard process under the user's service manager: the broker daemon,
 * `switchyard up`, a runner. Everything a launchd agent or a systemd --user service needs.
 */
export interface ServiceDefinition {
  /** launchd label (`launchctl list` shows it). */
  label: string;
  /** systemd unit name stem. */
  unit: string;
  description: string;
  argv: string[];
  env: Record<string, string>;
  workingDirectory: string;
  /** stdout and stderr are appended here. */
  log: string;
  /** The user's $HOME, under which the unit files live. */
  userHome: string;
  /** Seconds before a failed process is started again. */
  restartSeconds: number;
  /** systemd only: a timer that starts the service again after a reboot or an exit. */
  timer?: { description: string };
}

/** The launchd agent: started at load, restarted only when it exits with a failure. */
export function launchdAgent(def: ServiceDefinition): UnitFile {
  const contents = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${xml(def.label)}</string>
  <key>ProgramArguments</key>
  <array>
${def.argv.map((a) => `    <string>${xml(a)}</string>`).join("\n")}
  </array>
  <key>EnvironmentVariables</key>
  <dict>
${Object.entries(def.env)
  .map(([k, v]) => `    <key>${xml(k)}</key>\n    <string>${xml(v)}</string>`)
  .join("\n")}
  </dict>
  <key>WorkingDirectory</key>
  <string>${xml(def.workingDirectory)}</string>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>ThrottleInterval</key>
  <integer>${def.restartSeconds}</integer>
  <key>ProcessType</key>
  <string>Background</string>
  <key>StandardOutPath</key>
  <string>${xml(def.log)}</string>
  <key>StandardErrorPath</key>
  <string>${xml(def.log)}</string>
</dict>
</plist>
`;
  return { path: join(def.userHome, "Library", "LaunchAgents", `${def.label}.plist`), contents };
}

/** Quotes one ExecStart argument for systemd: `%` and `$` would otherwise be expanded. */
function systemdArg(a: string): string {
  return `"${a.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/%/g, "%%").replace(/\$/g, "$$$$")}"`;
}

/** The systemd --user service (restarted on failure), plus its timer when the definition has one. */
export function systemdServiceUnits(def: ServiceDefinition): UnitFile[] {
  const dir = join(def.userHome, ".config", "systemd", "user");
  const log = def.log.replace(/%/g, "%%");
  const service = `[Unit]
Description=${def.description.replace(/%/g, "%%")}

[Service]
Type=simple
ExecStart=${def.argv.map(systemdArg).join(" ")}
${Object.entries(def.env)
  .map(([k, v]) => `Environment=${systemdArg(`${k}=${v}`)}`)
  .join("\n")}
WorkingDirectory=${def.workingDirectory.replace(/%/g, "%%")}
Restart=on-failure
RestartSec=${def.restartSeconds}
KillSignal=SIGTERM
TimeoutStopSec=30
StandardOutput=append:${log}
StandardError=append:${log}

[Install]
WantedBy=default.target
`;
  const files = [{ path: join(dir, `${def.unit}.service`), contents: service }];
  if (def.timer) {
    files.push({
      path: join(dir, `${def.unit}.timer`),
      contents: `[Unit]
Description=${def.timer.description.replace(/%/g, "%%")}

[Timer]
OnBootSec=2min
OnUnitInactiveSec=10min
Unit=${def.unit}.service

[Install]
WantedBy=timers.target
`,
    });
  }
  return files;
}

/** Where the files of a service named `label`/`unit` live, whatever they hold. */
export function servicePaths(platform: Platform, names: { label: string; unit: string; timer?: boolean }, userHome: string): string[] {
  if (platform === "launchd") return [join(userHome, "Library", "LaunchAgents", `${names.label}.plist`)];
  const dir = join(userHome, ".config", "systemd", "user");
  return [join(dir, `${names.unit}.service`), ...(names.timer ? [join(dir, `${names.unit}.timer`)] : [])];
}

/** The files of one service on one platform. */
export function serviceFiles(platform: Platform, def: ServiceDefinition): UnitFile[] {
  return platform === "launchd" ? [launchdAgent(def)] : systemdServiceUnits(def);
}

/**
 * Refuses values no unit file can hold safely. A newline would end a systemd directive and start
 * one of the caller's choosing (`--project $'x\nExecStartPre=…'`), and XML 1.0 cannot carry most
 * control characters at all; none belongs in a path, run id, session name, host or URL.
 */
export function checkServiceValues(values: Record<string, string | undefined>): void {
  for (const [name, v] of Object.entries(values)) {
    if (v !== undefined && /[\x00-\x1f\x7f]/.test(v)) {
      throw new UsageError(`${name} contains a control character (e.g. a newline), which a service file cannot hold: ${JSON.stringify(v)}`);
    }
  }
}

/** The broker daemon as a service definition. */
function brokerService(cfg: DaemonConfig): ServiceDefinition {
  return {
    label: LAUNCHD_LABEL,
    unit: SYSTEMD_UNIT,
    description: `Switchyard advice broker daemon (draft-only) for run ${cfg.runId}`,
    argv: daemonArgv(cfg),
    env: { SWITCHYARD_HOME: cfg.switchyardHome },
    workingDirectory: cfg.switchyardHome,
    log: logPath(cfg),
    userHome: cfg.userHome,
    restartSeconds: 30,
    timer: { description: "Start the Switchyard advice broker daemon again after a reboot or an exit" },
  };
}

/** The broker daemon's launchd agent. */
export function launchdPlist(cfg: DaemonConfig): UnitFile {
  return launchdAgent(brokerService(cfg));
}

/**
 * The broker daemon's systemd --user service (the long-running daemon, restarted on failure) and
 * a timer that starts it again after a reboot or after it exited, so an overnight run survives both.
 */
export function systemdUnits(cfg: DaemonConfig): UnitFile[] {
  return systemdServiceUnits(brokerService(cfg));
}

/** Refuses broker daemon settings no unit file can hold (see checkServiceValues). */
export function checkUnitValues(cfg: DaemonConfig): void {
  checkServiceValues({
    "--run-id": cfg.runId,
    "--project": cfg.project,
    "--to-session": cfg.toSession,
    "--daemon-id": cfg.daemonId,
    "--home": cfg.switchyardHome,
    "--url": cfg.url,
    node: cfg.node,
    cli: cfg.cli,
    HOME: cfg.userHome,
  });
}

/** Every file an install writes for the platform; values are checked first (checkUnitValues). */
export function unitFiles(cfg: DaemonConfig): UnitFile[] {
  checkUnitValues(cfg);
  return cfg.platform === "launchd" ? [launchdPlist(cfg)] : systemdUnits(cfg);
}
