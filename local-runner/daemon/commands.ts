import { existsSync, readFileSync } from "node:fs";
import { resolveHome } from "../home.ts";
import { err, out } from "../cli/api-call.ts";
import { flag, req, str, UsageError, type Args, type CommandSpec, type GlobalOptions, type OptionSpec } from "../cli/spec.ts";
import { openTransport } from "../cli/connect.ts";
import type { Transport } from "../cli/transport.ts";
import { runDaemonLoop } from "./loop.ts";
import { daemonStatus, daemonTokenPath, installDaemon, readManifest, realExec, uninstallDaemon, type Exec } from "./manager.ts";
import { cliScript, platformOf, unitHome } from "./service-args.ts";
import { checkUnitValues, daemonArgv, PLATFORMS, unitFiles, type DaemonConfig } from "./units.ts";

/** Default seconds between ticks of an installed daemon. */
const DEFAULT_INTERVAL_SECONDS = 60;
/** Default lease: three intervals, so one slow tick never lets a standby daemon in. */
const DEFAULT_LEASE_SECONDS = 180;

/** Test seam: replaces launchctl/systemctl. */
export const daemonDeps: { exec: Exec } = { exec: realExec };

function seconds(a: Args, name: string, dflt: number, opts: { integer?: boolean } = {}): number {
  const v = str(a, name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (opts.integer && !Number.isInteger(n)))
    throw new UsageError(`--${name} must be a positive ${opts.integer ? "integer" : "number"}, got '${v}'`);
  return n;
}

/** The daemon configuration an install (or its preview) would use. */
function configOf(a: Args, g: GlobalOptions): DaemonConfig {
  const home = resolveHome(process.env, { home: g.home });
  const userHome = unitHome();
  const cfg: DaemonConfig = {
    platform: platformOf(a),
    runId: req(a, "run-id"),
    project: str(a, "project"),
    toSession: str(a, "to-session"),
    daemonId: str(a, "daemon-id") ?? `${home.hostName}:advice-broker`,
    intervalSeconds: seconds(a, "interval-seconds", DEFAULT_INTERVAL_SECONDS),
    leaseSeconds: seconds(a, "lease-seconds", DEFAULT_LEASE_SECONDS, { integer: true }),
    switchyardHome: home.home,
    url: g.url,
    node: process.execPath,
    cli: cliScript(),
    userHome,
  };
  // Before anything is minted or written: a bad value fails the whole command up front.
  checkUnitValues(cfg);
  return cfg;
}

const installOptions: Record<string, OptionSpec> = {
  "run-id": { type: "string", value: "RUN", description: "The started run the daemon processes (required)" },
  project: { type: "string", value: "P", description: "Only requests of this project" },
  "to-session": { type: "string", value: "S", description: "Only requests addressed to this session" },
  platform: { type: "string", choices: PLATFORMS, description: "Service manager (default: this machine's)" },
  "daemon-id": { type: "string", value: "ID", description: "Lease owner id (default <host>:advice-broker)" },
  "interval-seconds": { type: "string", value: "N", description: `Seconds between ticks (default ${DEFAULT_INTERVAL_SECONDS})` },
  "lease-seconds": { type: "string", value: "N", description: `Run lease length (default ${DEFAULT_LEASE_SECONDS})` },
};

function loadHint(cfg: DaemonConfig): string {
  return cfg.platform === "launchd"
    ? `launchctl bootstrap gui/$(id -u) ${unitFiles(cfg)[0]!.path}`
    : "systemctl --user daemon-reload && systemctl --user enable --now switchyard-advice-broker.timer && systemctl --user start switchyard-advice-broker.service";
}

/** Reads the run as the owner; an install for a missing or stopped run is refused. */
async function checkRun(t: Transport, runId: string): Promise<string | null> {
  const res = await t.send({ method: "GET", path: `/broker/runs/${encodeURIComponent(runId)}` });
  if (res.status !== 200) return `${res.body?.error?.code ?? res.status}: ${res.body?.error?.message ?? "cannot read the run"}`;
  if (res.body.run.state === "stopped") return `run ${runId} is stopped (${res.body.run.stop_reason}); create and start a new run first`;
  return null;
}

/** The daemon token for `broker daemon`: --token / $SWITCHYARD_TOKEN, else <home>/daemon.token. */
function daemonToken(g: GlobalOptions): string | null {
  if (g.token) return g.token;
  const path = daemonTokenPath(resolveHome(process.env, { home: g.home }).home);
  return existsSync(path) ? readFileSync(path, "utf8").trim() || null : null;
}

/** `broker daemon` and the daemon-config/install/status/uninstall commands. */
export const DAEMON_COMMANDS: CommandSpec[] = [
  {
    name: "broker daemon",
    summary: "Run broker ticks for one run under its lease until the run stops or SIGTERM (what the installed daemon runs)",
    options: {
      ...installOptions,
      "max-ticks": { type: "string", value: "N", description: "Exit after N ticks (default: until the run stops)" },
    },
    examples: ["switchyard broker daemon --run-id run_… --interval-seconds 60"],
    local: async (a, g) => {
      const token = daemonToken(g);
      if (!token) {
        err(
          `error: no daemon token\nhint: run 'switchyard broker daemon-install', or mint one with 'switchyard token mint --scope daemon' and save it in ${daemonTokenPath(resolveHome(process.env, { home: g.home }).home)} (mode 0600)`,
        );
        return 1;
      }
      const maxTicks = str(a, "max-ticks") === undefined ? undefined : seconds(a, "max-ticks", 1, { integer: true });
      const home = resolveHome(process.env, { home: g.home });
      // The local transport normally sends the owner token; here every request carries the daemon's.
      const transport: Transport = g.url
        ? new (await import("../cli/transport.ts")).HttpTransport(g.url, token)
        : await (async () => {
            const [{ InProcessTransport }, { openLocalServices }] = await Promise.all([import("../cli/in-process-transport.ts"), import("../services.ts")]);
            return new InProcessTransport({ ...(await openLocalServices({ home })), ownerToken: token });
          })();
      const abort = new AbortController();
      const onSignal = () => abort.abort();
      process.once("SIGTERM", onSignal);
      process.once("SIGINT", onSignal);
      try {
        const exit = await runDaemonLoop({
          runId: req(a, "run-id"),
          project: str(a, "project"),
          toSession: str(a, "to-session"),
          daemonId: str(a, "daemon-id") ?? `${home.hostName}:${process.pid}`,
          intervalMs: seconds(a, "interval-seconds", DEFAULT_INTERVAL_SECONDS) * 1000,
          leaseSeconds: seconds(a, "lease-seconds", DEFAULT_LEASE_SECONDS, { integer: true }),
          maxTicks,
          send: (r) => transport.send(r),
          emit: (line) => out(JSON.stringify({ at: new Date().toISOString(), ...line })),
          signal: abort.signal,
        });
        return exit.code;
      } finally {
        process.off("SIGTERM", onSignal);
        process.off("SIGINT", onSignal);
        await transport.close();
      }
    },
  },
  {
    name: "broker daemon-config",
    summary: "Preview the launchd plist or systemd units daemon-install would write; writes nothing",
    options: installOptions,
    local: async (a, g) => {
      const cfg = configOf(a, g);
      const files = unitFiles(cfg);
      if (g.json) out(JSON.stringify({ platform: cfg.platform, command: daemonArgv(cfg), token_file: daemonTokenPath(cfg.switchyardHome), files }, null, 2));
      else {
        out(
          `platform: ${cfg.platform}\ncommand:  ${daemonArgv(cfg).join(" ")}\ntoken:    ${daemonTokenPath(cfg.switchyardHome)} (a daemon token, minted at install)\n`,
        );
        for (const f of files) out(`--- ${f.path}\n${f.contents}`);
      }
      return 0;
    },
  },
  {
    name: "broker daemon-install",
    summary: "Install the draft-only broker daemon (launchd on macOS, systemd --user on Linux); --no-load only writes the files",
    options: { ...installOptions, "no-load": { type: "boolean", description: "Write the files without loading them" } },
    examples: ["switchyard broker daemon-install --project /src/app --to-session lily --run-id run_… --no-load"],
    local: async (a, g) => {
      const cfg = configOf(a, g);
      const transport = await openTransport(g);
      let token: { id: string; secret: string } | null = null;
      try {
        const problem = await checkRun(transport, cfg.runId);
        if (problem) {
          err(`error: ${problem}`);
          return 1;
        }
        if (!existsSync(daemonTokenPath(cfg.switchyardHome))) {
          const res = await transport.send({ method: "POST", path: "/tokens", body: { scope: "daemon", label: "advice-broker daemon" } });
          if (res.status !== 201) {
            err(`error: cannot mint the daemon token: ${res.body?.error?.message ?? res.status}`);
            return 1;
          }
          token = { id: res.body.token_id, secret: res.body.token };
        }
      } finally {
        await transport.close();
      }
      const load = !flag(a, "no-load");
      const r = await installDaemon(cfg, { load, exec: daemonDeps.exec, token, now: new Date() });
      if (g.json) out(JSON.stringify(r, null, 2));
      else {
        out(`wrote ${r.files.join(", ")}`);
        out(
          token ? `minted daemon token ${token.id} into ${daemonTokenPath(cfg.switchyardHome)}` : `using the existing ${daemonTokenPath(cfg.switchyardHome)}`,
        );
        for (const c of r.commands) out(`${c.code === 0 ? "ok  " : "FAIL"} ${c.command}${c.code === 0 ? "" : `: ${c.stderr}`}`);
        out(
          load
            ? r.manifest.loaded
              ? "daemon loaded"
              : `daemon NOT loaded; fix the error above, then: ${loadHint(cfg)}`
            : `not loaded (--no-load); load it with: ${loadHint(cfg)}`,
        );
      }
      return !load || r.manifest.loaded ? 0 : 1;
    },
  },
  {
    name: "broker daemon-status",
    summary: "Is the broker daemon installed, loaded and running, and which run it processes",
    local: async (_a, g) => {
      const home = resolveHome(process.env, { home: g.home });
      const status = await daemonStatus(home.home, { exec: daemonDeps.exec });
      let run: unknown = null;
      if (status.manifest) {
        const t = await openTransport(g);
        try {
          const res = await t.send({ method: "GET", path: `/broker/runs/${encodeURIComponent(status.manifest.run_id)}` });
          run = res.status === 200 ? res.body.run : { error: res.body?.error ?? { code: String(res.status) } };
        } finally {
          await t.close();
        }
      }
      if (g.json) out(JSON.stringify({ ...status, run }, null, 2));
      else if (!status.installed) out("broker daemon: not installed");
      else {
        const m = status.manifest;
        const r = run as any;
        out(
          [
            `broker daemon: installed (${m.platform}) for run ${m.run_id} as ${m.daemon_id}`,
            `service:  ${status.service!.loaded ? "loaded" : "NOT loaded"}, ${status.service!.running ? "running" : "not running"} (${status.service!.detail})`,
            ...status.files.map((f) => `file:     ${f.path}${f.exists ? "" : " (MISSING)"}`),
            `token:    ${status.token_file ? "present" : "MISSING"}`,
            `log:      ${m.log}`,
            r?.error
              ? `run:      ${r.error.code}: ${r.error.message}`
              : `run:      ${r.state}${r.stop_reason ? ` (${r.stop_reason})` : ""}, lease ${r.lease.owner ? `${r.lease.owner} until ${r.lease.expires_at}${r.lease.live ? "" : " (expired)"}` : "free"}`,
          ].join("\n"),
        );
      }
      return 0;
    },
  },
  {
    name: "broker daemon-uninstall",
    summary: "Stop and remove the broker daemon, and revoke its token",
    local: async (_a, g) => {
      const home = resolveHome(process.env, { home: g.home });
      const manifest = readManifest(home.home);
      const userHome = unitHome();
      const r = await uninstallDaemon(home.home, { exec: daemonDeps.exec, userHome });
      let revoked = false;
      if (manifest?.token_id) {
        const t = await openTransport(g);
        try {
          revoked = (await t.send({ method: "POST", path: `/tokens/${encodeURIComponent(manifest.token_id)}/revoke` })).status === 200;
        } finally {
          await t.close();
        }
      }
      if (g.json) out(JSON.stringify({ ...r, token_revoked: revoked }, null, 2));
      else if (!r.platform && !r.removed.length) out("broker daemon: not installed; nothing to remove");
      else {
        for (const c of r.commands) out(`${c.code === 0 ? "ok  " : "warn"} ${c.command}${c.code === 0 ? "" : `: ${c.stderr}`}`);
        out(`removed ${r.removed.join(", ") || "nothing"}${revoked ? `; revoked token ${manifest!.token_id}` : ""}`);
      }
      return 0;
    },
  },
];
