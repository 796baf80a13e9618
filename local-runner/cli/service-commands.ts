import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadService, nativePlatform, realExec, serviceState, unloadService, writeUnitFiles, type CommandRun, type Exec } from "../daemon/manager.ts";
import { cliScript, platformOf, unitHome } from "../daemon/service-args.ts";
import { checkServiceValues, PLATFORMS, serviceFiles, servicePaths, type Platform, type ServiceDefinition } from "../daemon/units.ts";
import { resolveHome, type HomeConfig } from "../home.ts";
import { out } from "./api-call.ts";
import { readTokenFile } from "./token-file.ts";
import { isLoopbackHost } from "../loopback.ts";
import { EXIT_FAILED, EXIT_OK, flag, HintedError, int, str, UsageError, type Args, type CommandSpec, type GlobalOptions } from "./spec.ts";

/** Test seam: replaces launchctl/systemctl. */
export const serviceDeps: { exec: Exec; fetch: typeof fetch } = { exec: realExec, fetch: (...a) => fetch(...a) };

/** Which process a service runs. */
type Kind = "up" | "runner";

const NAMES: Record<Kind, { label: string; unit: string; what: string }> = {
  up: { label: "com.switchyard.up", unit: "switchyard-up", what: "Switchyard server (switchyard up)" },
  runner: { label: "com.switchyard.runner", unit: "switchyard-runner", what: "Switchyard runner" },
};

/**
 * Variables an installed process keeps from the shell that installed it. A service manager
 * starts processes with an almost empty environment; `up` and a runner need tmux and lsof on
 * PATH and the agents' transcript roots, and nothing secret is on this list.
 */
const PASSED_ENV = [
  "PATH",
  "SWITCHYARD_HOST_NAME",
  "SWITCHYARD_TRANSCRIPT_ROOTS",
  "SWITCHYARD_WAKE_INTERVAL_MS",
  "CODEX_HOME",
  "CLAUDE_CONFIG_DIR",
  "TMUX_TMPDIR",
];

/** What an install recorded, so status and uninstall need no flags. */
interface ServiceManifest {
  kind: Kind;
  platform: Platform;
  command: string[];
  files: string[];
  /** Secret files the install wrote (removed by uninstall). */
  secrets: string[];
  log: string;
  /** `up`: where status checks /healthz. */
  health_url: string | null;
  installed_at: string;
  loaded: boolean;
}

const manifestPath = (home: string, kind: Kind) => join(home, `service-${kind}.json`);
const logFile = (home: string, kind: Kind) => join(home, "logs", `${kind}.log`);

function readServiceManifest(home: string, kind: Kind): ServiceManifest | null {
  const path = manifestPath(home, kind);
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as ServiceManifest) : null;
}

const kindOf = (a: Args): Kind => (flag(a, "runner") ? "runner" : "up");

/** A secret file the service reads: written 0600 in the home. */
interface Secret {
  path: string;
  value: string;
}

/** What an install would write and run, checked in full before anything is written. */
function plan(a: Args, g: GlobalOptions): { def: ServiceDefinition; platform: Platform; kind: Kind; secrets: Secret[]; healthUrl: string | null } {
  const home: HomeConfig = resolveHome(process.env, { home: g.home });
  const userHome = unitHome();
  const platform = platformOf(a);
  const kind = kindOf(a);
  const env: Record<string, string> = { SWITCHYARD_HOME: home.home };
  for (const k of PASSED_ENV) if (process.env[k]) env[k] = process.env[k]!;
  const secrets: Secret[] = [];
  const argv = [process.execPath, cliScript()];
  let healthUrl: string | null = null;
  if (kind === "runner") {
    if (!g.url) throw new UsageError("service install --runner needs --url: the server (hub) whose queue the runner serves");
    for (const o of ["port", "bind", "no-cron", "wake-interval", "i-know-this-is-exposed"]) {
      if (a.values[o] !== undefined) throw new UsageError(`--${o} is for the up service, not --runner`);
    }
    let tokenFile = str(a, "token-file");
    if (tokenFile) readTokenFile(tokenFile);
    else if (g.token) {
      // The token goes into a 0600 file the runner reads, never into the unit file (0644).
      tokenFile = join(home.home, "runner.token");
      secrets.push({ path: tokenFile, value: g.token });
    } else throw new UsageError("service install --runner needs --token-file PATH (mode 0600) or --token: a runner token scoped to --host");
    const host = str(a, "host") ?? home.hostName;
    argv.push("runner", "--url", g.url, "--token-file", tokenFile, "--host", host, "--runner-id", str(a, "runner-id") ?? "service");
  } else {
    if (g.url) throw new UsageError("--url is for --runner: the up service serves the home's own database");
    if (a.values.host !== undefined || a.values["token-file"] !== undefined)
      throw new UsageError("--host and --token-file are for --runner; the up service binds with --bind");
    const port = int(a, "port", { min: 1 }) ?? 8787;
    if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
    argv.push("up", "--home", home.home, "--port", String(port));
    const bind = str(a, "bind");
    if (bind) {
      if (!isLoopbackHost(bind) && !flag(a, "i-know-this-is-exposed")) {
        throw new HintedError(
          `refusing to install a server that listens on ${bind}: it is not a loopback address`,
          "Put TLS and a firewall in front (docs/multi-machine.md), then add --i-know-this-is-exposed.",
        );
      }
      argv.push("--host", bind);
      if (!isLoopbackHost(bind)) argv.push("--i-know-this-is-exposed");
    }
    if (flag(a, "no-cron")) argv.push("--no-cron");
    const wake = str(a, "wake-interval");
    if (wake !== undefined) argv.push("--wake-interval", wake);
    const dbUrl = process.env.SWITCHYARD_DB_URL;
    if (dbUrl) {
      if (/[?&]authToken=/i.test(dbUrl)) {
        throw new UsageError("SWITCHYARD_DB_URL carries ?authToken=; the unit file would hold it. Put the token in SWITCHYARD_DB_AUTH_TOKEN instead");
      }
      env.SWITCHYARD_DB_URL = dbUrl;
      if (home.dbAuthToken) {
        const path = join(home.home, "db-auth.token");
        secrets.push({ path, value: home.dbAuthToken });
        env.SWITCHYARD_DB_AUTH_TOKEN_FILE = path;
      }
    }
    const probe = bind && bind !== "0.0.0.0" && bind !== "::" ? bind : "127.0.0.1";
    healthUrl = `http://${probe.includes(":") ? `[${probe}]` : probe}:${port}/healthz`;
  }
  const def: ServiceDefinition = {
    label: NAMES[kind].label,
    unit: NAMES[kind].unit,
    description: NAMES[kind].what,
    argv,
    env,
    workingDirectory: home.home,
    log: logFile(home.home, kind),
    userHome,
    restartSeconds: 5,
  };
  // Before anything is written: a bad value fails the whole command up front.
  checkServiceValues({ ...Object.fromEntries(argv.map((v, i) => [`argument ${i}`, v])), ...env, HOME: userHome });
  return { def, platform, kind, secrets, healthUrl };
}

function loadHint(kind: Kind, platform: Platform, file: string): string {
  return platform === "launchd"
    ? `launchctl bootstrap gui/$(id -u) ${file}`
    : `systemctl --user daemon-reload && systemctl --user enable --now ${NAMES[kind].unit}.service`;
}

const commandLines = (cs: CommandRun[]) => cs.map((c) => `${c.code === 0 ? "ok  " : "FAIL"} ${c.command}${c.code === 0 ? "" : `: ${c.stderr}`}`);

const installOptions = {
  runner: { type: "boolean", description: "Install a runner for this machine instead of the server" },
  host: { type: "string", value: "HOST", description: "--runner: this machine's name (default $SWITCHYARD_HOST_NAME or the hostname)" },
  "token-file": {
    type: "string",
    value: "PATH",
    description: "--runner: file holding the runner token (mode 0600); with --token instead, it is saved to <home>/runner.token",
  },
  "runner-id": { type: "string", value: "ID", description: "--runner: names the runner in attempt history (default service)" },
  port: { type: "string", value: "PORT", description: "up: port (default 8787)" },
  bind: { type: "string", value: "ADDR", description: "up: address to listen on (default 127.0.0.1)" },
  "i-know-this-is-exposed": { type: "boolean", description: "up: allow a non-loopback --bind (see `up --help`)" },
  "no-cron": { type: "boolean", description: "up: serve only (another server runs the crons)" },
  "wake-interval": { type: "string", value: "MS", description: "up: default long-poll re-check interval" },
  platform: { type: "string", choices: PLATFORMS, description: "Service manager (default: this machine's)" },
  "dry-run": { type: "boolean", description: "Print the files and the command; write and load nothing" },
  "no-load": { type: "boolean", description: "Write the files without loading them" },
} as const;

/** `service install|status|uninstall`: `up` or a runner under launchd or systemd --user. */
export const SERVICE_COMMANDS: CommandSpec[] = [
  {
    name: "service install",
    summary: "Run `switchyard up` (or, with --runner, this machine's runner) as a systemd --user service or launchd agent",
    home: "create",
    options: { ...installOptions },
    examples: [
      "switchyard service install",
      "switchyard service install --bind 10.0.0.5 --i-know-this-is-exposed --no-load",
      "switchyard service install --runner --url http://10.0.0.5:8787 --token-file ~/.switchyard/runner.token --host build-box-2",
      "switchyard service install --runner --url http://10.0.0.5:8787 --token $RUNNER_TOKEN --dry-run",
    ],
    local: async (a, g) => {
      const { def, platform, kind, secrets, healthUrl } = plan(a, g);
      const files = serviceFiles(platform, def);
      if (flag(a, "dry-run")) {
        if (g.json) out(JSON.stringify({ kind, platform, command: def.argv, env: def.env, secret_files: secrets.map((s) => s.path), files }, null, 2));
        else {
          out(`${kind} service (${platform}), dry run: nothing written\ncommand: ${def.argv.join(" ")}`);
          for (const s of secrets) out(`secret:  ${s.path} (0600; would be written)`);
          for (const f of files) out(`--- ${f.path}\n${f.contents}`);
        }
        return EXIT_OK;
      }
      writeUnitFiles(files, def.log);
      for (const s of secrets) {
        writeFileSync(s.path, `${s.value}\n`, { mode: 0o600 });
        chmodSync(s.path, 0o600);
      }
      const load = !flag(a, "no-load");
      const names = { platform, label: def.label, unit: def.unit, timer: false };
      const { commands, loaded } = load
        ? await loadService(
            names,
            files.map((f) => f.path),
            serviceDeps.exec,
          )
        : { commands: [], loaded: false };
      const manifest: ServiceManifest = {
        kind,
        platform,
        command: def.argv,
        files: files.map((f) => f.path),
        secrets: secrets.map((s) => s.path),
        log: def.log,
        health_url: healthUrl,
        installed_at: new Date().toISOString(),
        loaded,
      };
      writeFileSync(manifestPath(def.workingDirectory, kind), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
      if (g.json) out(JSON.stringify({ manifest, commands }, null, 2));
      else {
        out(`wrote ${[...manifest.files, ...manifest.secrets].join(", ")}`);
        out(commandLines(commands).join("\n"));
        out(
          !load
            ? `not loaded (--no-load); load it with: ${loadHint(kind, platform, manifest.files[0]!)}`
            : loaded
              ? `${kind} service loaded; log: ${def.log}${platform === "systemd" ? "\nTo keep it running after you log out: loginctl enable-linger $USER" : ""}`
              : `${kind} service NOT loaded; fix the error above, then: ${loadHint(kind, platform, manifest.files[0]!)}`,
        );
      }
      return !load || loaded ? EXIT_OK : EXIT_FAILED;
    },
  },
  {
    name: "service status",
    summary: "Is the up (or --runner) service installed, loaded and running; for up, does it answer /healthz",
    home: "create",
    options: { runner: installOptions.runner },
    exitCodes: { 1: "not installed, not running, or (up) not answering /healthz" },
    local: async (a, g) => {
      const home = resolveHome(process.env, { home: g.home });
      const kind = kindOf(a);
      const m = readServiceManifest(home.home, kind);
      if (!m) {
        if (g.json) out(JSON.stringify({ kind, installed: false }, null, 2));
        else out(`${kind} service: not installed (switchyard service install${kind === "runner" ? " --runner" : ""})`);
        return EXIT_FAILED;
      }
      const service = await serviceState({ platform: m.platform, label: NAMES[kind].label, unit: NAMES[kind].unit, timer: false }, serviceDeps.exec);
      let health: { ok: boolean; detail: string } | null = null;
      if (m.health_url) {
        try {
          const res = await serviceDeps.fetch(m.health_url, { signal: AbortSignal.timeout(3000) });
          health = { ok: res.ok, detail: `HTTP ${res.status}` };
        } catch (e) {
          health = { ok: false, detail: ((e as Error).cause as Error | undefined)?.message ?? (e as Error).message };
        }
      }
      const files = m.files.map((path) => ({ path, exists: existsSync(path) }));
      const ok = service.running && files.every((f) => f.exists) && (health?.ok ?? true);
      if (g.json) out(JSON.stringify({ kind, installed: true, ok, manifest: m, files, service, health }, null, 2));
      else {
        out(
          [
            `${kind} service: installed (${m.platform}), ${ok ? "ok" : "NOT OK"}`,
            `service:  ${service.loaded ? "loaded" : "NOT loaded"}, ${service.running ? "running" : "not running"} (${service.detail})`,
            `command:  ${m.command.join(" ")}`,
            ...files.map((f) => `file:     ${f.path}${f.exists ? "" : " (MISSING)"}`),
            ...(health ? [`health:   ${m.health_url} ${health.ok ? "answers" : "does NOT answer"} (${health.detail})`] : []),
            `log:      ${m.log}`,
          ].join("\n"),
        );
      }
      return ok ? EXIT_OK : EXIT_FAILED;
    },
  },
  {
    name: "service uninstall",
    summary: "Stop and remove the up (or --runner) service and the secret files its install wrote",
    home: "create",
    options: { runner: installOptions.runner, platform: installOptions.platform },
    local: async (a, g) => {
      const home = resolveHome(process.env, { home: g.home });
      const kind = kindOf(a);
      const userHome = unitHome();
      const m = readServiceManifest(home.home, kind);
      // Without a manifest (lost, or deleted by hand) the standard paths are still cleaned up.
      const platform = m?.platform ?? (str(a, "platform") ? platformOf(a) : nativePlatform());
      const standard = platform ? servicePaths(platform, NAMES[kind], userHome) : [];
      const present = [...new Set([...(m?.files ?? []), ...standard])].filter((p) => existsSync(p));
      const commands =
        platform && (m || present.length)
          ? await unloadService({ platform, label: NAMES[kind].label, unit: NAMES[kind].unit, timer: false }, serviceDeps.exec)
          : [];
      const removed: string[] = [];
      for (const path of [...present, ...(m?.secrets ?? []), manifestPath(home.home, kind)]) {
        if (!existsSync(path)) continue;
        rmSync(path);
        removed.push(path);
      }
      if (g.json) out(JSON.stringify({ kind, commands, removed }, null, 2));
      else if (!removed.length) out(`${kind} service: not installed; nothing to remove`);
      else {
        out(commandLines(commands).join("\n"));
        out(`removed ${removed.join(", ")}`);
        if (kind === "runner") out("The runner token itself is still valid; revoke it on the hub with `switchyard token revoke ID` if it is no longer needed.");
      }
      return EXIT_OK;
    },
  },
];
