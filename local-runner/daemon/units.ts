import { join } from "node:path";
import { UsageError } from "../cli/spec.ts";

/** The service managers the daemon can be installed under. */
export type Platform = "launchd" | "systemd";

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

/** The launchd agent: started at load, restarted only when it exits with a failure. */
export function launchdPlist(cfg: DaemonConfig): UnitFile {
  const log = logPath(cfg);
  const contents = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
${daemonArgv(cfg)
  .map((a) => `    <string>${xml(a)}</string>`)
  .join("\n")}
  </array>
  <key>EnvironmentVariables</key>
  <dict>
    <key>SWITCHYARD_HOME</key>
    <string>${xml(cfg.switchyardHome)}</string>
  </dict>
  <key>WorkingDirectory</key>
  <string>${xml(cfg.switchyardHome)}</string>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>ThrottleInterval</key>
  <integer>30</integer>
  <key>ProcessType</key>
  <string>Background</string>
  <key>StandardOutPath</key>
  <string>${xml(log)}</string>
  <key>StandardErrorPath</key>
  <string>${xml(log)}</string>
</dict>
</plist>
`;
  return { path: join(cfg.userHome, "Library", "LaunchAgents", `${LAUNCHD_LABEL}.plist`), contents };
}

/** Quotes one ExecStart argument for systemd: `%` and `$` would otherwise be expanded. */
function systemdArg(a: string): string {
  return `"${a.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/%/g, "%%").replace(/\$/g, "$$$$")}"`;
}

/**
 * The systemd --user service (the long-running daemon, restarted on failure) and a timer that
 * starts it again after a reboot or after it exited, so an overnight run survives both.
 */
export function systemdUnits(cfg: DaemonConfig): UnitFile[] {
  const dir = join(cfg.userHome, ".config", "systemd", "user");
  const log = logPath(cfg);
  const service = `[Unit]
Description=Switchyard advice broker daemon (draft-only) for run ${cfg.runId.replace(/%/g, "%%")}

[Service]
Type=simple
ExecStart=${daemonArgv(cfg).map(systemdArg).join(" ")}
Environment=${systemdArg(`SWITCHYARD_HOME=${cfg.switchyardHome}`)}
WorkingDirectory=${cfg.switchyardHome.replace(/%/g, "%%")}
Restart=on-failure
RestartSec=30
KillSignal=SIGTERM
TimeoutStopSec=30
StandardOutput=append:${log.replace(/%/g, "%%")}
StandardError=append:${log.replace(/%/g, "%%")}

[Install]
WantedBy=default.target
`;
  const timer = `[Unit]
Description=Start the Switchyard advice broker daemon again after a reboot or an exit

[Timer]
OnBootSec=2min
OnUnitInactiveSec=10min
Unit=${SYSTEMD_UNIT}.service

[Install]
WantedBy=timers.target
`;
  return [
    { path: join(dir, `${SYSTEMD_UNIT}.service`), contents: service },
    { path: join(dir, `${SYSTEMD_UNIT}.timer`), contents: timer },
  ];
}

/**
 * Refuses values no unit file can hold safely. A newline would end a systemd directive and start
 * one of the caller's choosing (`--project $'x\nExecStartPre=…'`), and XML 1.0 cannot carry most
 * control characters at all; none belongs in a path, run id, session name or URL.
 */
export function checkUnitValues(cfg: DaemonConfig): void {
  const values: Record<string, string | undefined> = {
    "--run-id": cfg.runId,
    "--project": cfg.project,
    "--to-session": cfg.toSession,
    "--daemon-id": cfg.daemonId,
    "--home": cfg.switchyardHome,
    "--url": cfg.url,
    node: cfg.node,
    cli: cfg.cli,
    HOME: cfg.userHome,
  };
  for (const [name, v] of Object.entries(values)) {
    if (v !== undefined && /[\x00-\x1f\x7f]/.test(v)) {
      throw new UsageError(`${name} contains a control character (e.g. a newline), which a service file cannot hold: ${JSON.stringify(v)}`);
    }
  }
}

/** Every file an install writes for the platform; values are checked first (checkUnitValues). */
export function unitFiles(cfg: DaemonConfig): UnitFile[] {
  checkUnitValues(cfg);
  return cfg.platform === "launchd" ? [launchdPlist(cfg)] : systemdUnits(cfg);
}
