import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { databaseFileOf, databaseFileState, HOME_DIR_NAME, resolveHome } from "../home.ts";
import type { OwnerTokenReset } from "../services.ts";
import { isLoopbackHost } from "../loopback.ts";

import { duration } from "./format.ts";
import { EXIT_FAILED, EXIT_OK, flag, HintedError, int, list, pos, str, UsageError, type Args, type CommandSpec, type GlobalOptions } from "./spec.ts";

// The server, the crons, the database driver and the host probes are loaded inside the
// commands that use them: importing them here would slow every other command's start-up.

/** Parses repeatable `--cron NAME=EXPRESSION` overrides; a bad name or expression is a usage error. */
async function parseCronOverrides(values: string[]) {
  const [{ CRONS }, { default: cron }] = await Promise.all([import("../../crons/index.ts"), import("node-cron")]);
  const schedules = Object.entries(CRONS).map(([name, c]) => ({ name, expression: c.schedule }));
  for (const v of values) {
    const eq = v.indexOf("=");
    const name = v.slice(0, eq);
    if (eq < 1 || !CRONS[name]) throw new UsageError(`--cron expects NAME=EXPRESSION with a known NAME (${Object.keys(CRONS).join(", ")}), got '${v}'`);
    const expression = v.slice(eq + 1);
    if (!cron.validate(expression)) {
      throw new UsageError(`--cron ${name}: '${expression}' is not a valid schedule (node-cron: [second] minute hour day-of-month month day-of-week)`);
    }
    schedules.find((s) => s.name === name)!.expression = expression;
  }
  return schedules;
}

/** Writes the lines to stdout, or the value as JSON with --json. */
function print(g: GlobalOptions, json: unknown, lines: string[]): void {
  process.stdout.write(`${g.json ? JSON.stringify(json, null, 2) : lines.join("\n")}\n`);
}

/** Opens the home's database (creating the home when the command may; the database file too for `init`). */
async function services(g: GlobalOptions, log = false, wakeIntervalMs?: number, createDatabase = false) {
  const { openLocalServices, processLogger } = await import("../services.ts");
  return openLocalServices({ home: resolveHome(process.env, { home: g.home }), log: log ? processLogger() : undefined, wakeIntervalMs, createDatabase });
}

/** `init --reset-owner-token`: a new owner token in owner.token, and which other owner tokens still work. */
async function resetOwner(g: GlobalOptions): Promise<number> {
  const { openLocalServices } = await import("../services.ts");
  let reset: OwnerTokenReset | undefined;
  const s = await openLocalServices({ home: resolveHome(process.env, { home: g.home }), ownerToken: "reset", onReset: (r) => (reset = r) });
  s.database.close();
  const others = reset!.otherLive;
  print(g, { home: s.home.home, owner_token_file: s.home.ownerTokenFile, token_id: reset!.tokenId, other_live_owner_tokens: others }, [
    `${s.home.ownerTokenFile} now holds a new owner token (${reset!.tokenId}); its secret is in the file, not printed`,
    others.length
      ? `other owner tokens still live: ${others.join(", ")}. Revoke the ones nobody uses: switchyard token revoke ID`
      : "no other owner token is live",
  ]);
  return EXIT_OK;
}

/** Says which address is taken and what to do, instead of Node's bare EADDRINUSE. */
function listenError(e: unknown, hostname: string, port: number): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  const where = `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
  if (code === "EADDRINUSE") {
    return new HintedError(
      `cannot listen on ${where}: the port is already in use`,
      `Another process listens there (\`lsof -i :${port}\` shows which; maybe another \`switchyard up\`). Stop it, or choose a free port with --port N (--port 0 picks one).`,
    );
  }
  if (code === "EACCES")
    return new HintedError(`cannot listen on ${where}: permission denied`, "Ports below 1024 need privileges: choose --port 1024 or higher.");
  if (code === "EADDRNOTAVAIL")
    return new HintedError(`cannot listen on ${where}: no such address on this machine`, "Use --host 127.0.0.1 (or 0.0.0.0 for every interface).");
  return e;
}

/**
 * Resolves when `up` should stop: SIGINT, SIGTERM, or (under `npm start`) npm going away. npm
 * forwards SIGINT/SIGTERM to the server (the start script execs it); the parent check covers an
 * npm that was killed outright and could forward nothing.
 */
function stopRequested(): Promise<string> {
  return new Promise((resolve) => {
    const parent = process.ppid;
    const timer = process.env.npm_lifecycle_event
      ? setInterval(() => {
          if (process.ppid !== parent) done(`parent process ${parent} exited`);
        }, 500).unref()
      : null;
    const onInt = () => done("received SIGINT");
    const onTerm = () => done("received SIGTERM");
    function done(reason: string) {
      if (timer) clearInterval(timer);
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      resolve(reason);
    }
    process.once("SIGINT", onInt);
    process.once("SIGTERM", onTerm);
  });
}

/** How long polls on this server learn of items other servers write, in one line. */
function wakeLine(s: { changeWatcher?: unknown; wakeIntervalMs?: number; database: { url: string } }): string {
  const every = `re-check every ${s.wakeIntervalMs ?? 1000} ms`;
  return s.changeWatcher
    ? `change watcher (PRAGMA data_version) for other processes on this file, ${every} as a fallback`
    : `${every} (no cross-client change signal on ${s.database.url.split(":")[0]}: databases; --wake-interval sets it)`;
}

/** Which tmux session to attach to, and the command that does it. */
interface AttachTarget {
  session: string;
  role: string;
  tmux_session: string;
  host: string | null;
  command: string[];
}

/** Looks the session up through the API (so it works over --url too) and checks its tmux session exists here. */
async function attachTarget(a: Args, g: GlobalOptions, which: "worker" | "manager" | "session"): Promise<AttachTarget> {
  const { openTransport } = await import("./connect.ts");
  const transport = await openTransport(g);
  let s: any;
  try {
    const name = encodeURIComponent(pos(a, 0)!);
    const res = await transport.send({ method: "GET", path: which === "session" ? `/sessions/${name}` : `/tasks/${name}` });
    if (res.status !== 200) {
      const e = res.body?.error ?? { code: "INTERNAL", message: `HTTP ${res.status}` };
      throw new HintedError(`${e.code}: ${e.message}`, e.hint ?? "");
    }
    s = which === "session" ? res.body.session : res.body[which];
    if (!s) {
      throw new HintedError(`task '${pos(a, 0)}' has no bound ${which}`, `Bind one first: switchyard bind --task ${pos(a, 0)} --worker W --manager M`);
    }
  } finally {
    await transport.close();
  }
  if (!s.tmux_session) {
    throw new HintedError(
      `session '${s.name}' has no tmux session to open`,
      "It runs outside tmux (an app thread or a process registered by pid); open it where it runs.",
    );
  }
  const here = resolveHome(process.env, { home: g.home }).hostName;
  if (!s.host || s.host === here) {
    const { NodeHost } = await import("../host.ts");
    if (!(await new NodeHost().tmuxHasSession(s.tmux_session))) {
      throw new HintedError(
        `tmux session '${s.tmux_session}' of ${s.role} '${s.name}' does not exist on this machine`,
        `\`tmux ls\` lists the sessions that exist. If the agent has ended, mark it gone with \`switchyard stop ${s.name}\`.`,
      );
    }
  }
  // Inside tmux, attaching would nest a client; switching the current client is what works.
  const command = process.env.TMUX ? ["tmux", "switch-client", "-t", `=${s.tmux_session}`] : ["tmux", "attach-session", "-t", `=${s.tmux_session}`];
  return { session: s.name, role: s.role, tmux_session: s.tmux_session, host: s.host, command };
}

function openCommand(name: string, which: "worker" | "manager" | "session", arg: { name: string; description: string }, summary: string): CommandSpec {
  return {
    name,
    group: "sessions",
    summary,
    positionals: [{ ...arg, required: true }],
    options: { attach: { type: "boolean", description: "Run the command (attach this terminal) instead of printing it" } },
    examples: [
      `switchyard ${name} ${arg.name === "TASK" ? "auth-refactor" : "auth-w"}`,
      `switchyard ${name} ${arg.name === "TASK" ? "auth-refactor" : "auth-w"} --attach`,
    ],
    local: async (a, g) => {
      const t = await attachTarget(a, g, which);
      const elsewhere = t.host && t.host !== resolveHome(process.env, { home: g.home }).hostName;
      if (!flag(a, "attach")) {
        print(g, t, [`${t.command.join(" ")}${elsewhere ? `    # on host ${t.host}` : ""}`]);
        return EXIT_OK;
      }
      if (elsewhere) throw new HintedError(`${t.session} runs on host '${t.host}'`, `Log in there and run: ${t.command.join(" ")}`);
      const r = spawnSync(t.command[0]!, t.command.slice(1), { stdio: "inherit" });
      if (r.error) throw new HintedError(`could not run tmux: ${r.error.message}`, "Is tmux installed and on PATH? `switchyard doctor` checks.");
      return r.status ?? EXIT_FAILED;
    },
  };
}

/** The human doctor report. */
function renderDoctor(b: any, where: { home: string; dbUrl: string | null; url?: string }): string {
  const agent = (name: string, x: any) =>
    `${`${name}:`.padEnd(10)} ${x.found ? x.command.join(" ") : "not found"}${x.found ? `\n${"".padEnd(10)} signed in: ${x.signed_in === null ? "unknown" : x.signed_in ? "yes" : "NO"} (${x.auth})` : ""}`;
  const major = Number(process.versions.node.split(".")[0]);
  return [
    `${"home:".padEnd(10)} ${where.home}`,
    ...(where.url ? [`${"server:".padEnd(10)} ${where.url}`] : []),
    `${"database:".padEnd(10)} ${where.dbUrl ? `${where.dbUrl} — ${b.database}` : where.url ? b.database : "none (no home)"}`,
    `${"host:".padEnd(10)} ${b.host ?? "-"} (${b.local_runner ? b.platform : "no local runner"})`,
    `${"node:".padEnd(10)} ${process.version}${major < 22 ? " (Claude Code's package asks for 22+ and npm warns; its native binary runs anyway)" : ""}`,
    `${"tmux:".padEnd(10)} ${b.tmux.available ? b.tmux.version : "MISSING"}`,
    `${"lsof:".padEnd(10)} ${b.lsof.available ? (b.lsof.version ?? "present") : "MISSING"}`,
    agent("codex", b.agents.codex),
    agent("claude", b.agents.claude),
    ...(b.patrol ? [`${"patrol:".padEnd(10)} ${b.patrol.running ? `running (heartbeat ${b.patrol.heartbeat_age_seconds}s ago)` : "NOT RUNNING"}`] : []),
    ...(b.dispatch
      ? [
          `${"dispatch:".padEnd(10)} ${b.dispatch.running ? b.dispatch.dispatchers.map((d: any) => `${d.id} (heartbeat ${d.heartbeat_age_seconds}s ago)`).join(", ") : "no dispatcher running"}`,
        ]
      : []),
    ...(b.ports ?? []).map(
      (p: any) =>
        `${"port:".padEnd(10)} ${p.port} ${p.listening === null ? "not checked" : p.listening ? (p.switchyard ? "switchyard is up" : "TAKEN by another program") : "free"}`,
    ),
    ...b.problems.map((p: any) => `problem:   ${p.message}\n  hint: ${p.hint}`),
    b.ok ? "ok" : "NOT OK",
  ].join("\n");
}

/** Where the home came from, in words, for doctor and init. */
function homeLine(g: GlobalOptions): string {
  if (!g.home) return "none (run `switchyard init` here, or set SWITCHYARD_HOME or SWITCHYARD_URL)";
  return g.home;
}

/** How often a running `up` checks that some live `up` is recorded in the home (a file read). */
const UP_RECORD_CHECK_MS = 5000;

/** Commands that do local work rather than one API call. */
export const LOCAL_COMMANDS: CommandSpec[] = [
  {
    name: "init",
    group: "setup",
    summary: `Create a home here (./${HOME_DIR_NAME}: database and owner token); other commands find it from any subdirectory`,
    home: "create",
    options: {
      "reset-owner-token": {
        type: "boolean",
        description:
          "Mint a new owner token straight into the database and write it to owner.token, for a home whose owner.token no longer works (a rotation cut short, a revoked token); whoever can write the database owns it",
      },
    },
    examples: ["switchyard init", "switchyard init --home ~/.switchyard-team", "switchyard init --reset-owner-token"],
    local: async (a, g) => {
      const existed = existsSync(join(g.home!, "owner.token"));
      if (flag(a, "reset-owner-token")) return resetOwner(g);
      const dbPath = databaseFileOf(resolveHome(process.env, { home: g.home }).dbUrl);
      const dbExisted = dbPath === null || databaseFileState(dbPath) === "present";
      const s = await services(g, false, undefined, true);
      s.database.close();
      // A used home whose database file was gone: say it started empty, since every other
      // command refuses such a home (services.ts assertDatabaseFilePresent).
      const restarted = existed && !dbExisted;
      print(g, { home: s.home.home, database: s.home.dbUrl, owner_token_file: s.home.ownerTokenFile, created: !existed, created_database: !dbExisted }, [
        `${restarted ? "started an empty database in" : existed ? "already initialised" : "initialised"} ${s.home.home}`,
        `  database:    ${s.home.dbUrl}`,
        `  owner token: ${s.home.ownerTokenFile}`,
        "Commands run in this directory or below now use it; elsewhere pass --home or set SWITCHYARD_HOME.",
        "Next: switchyard doctor, then switchyard up (or any command, in-process).",
      ]);
      return EXIT_OK;
    },
  },
  {
    name: "up",
    group: "setup",
    summary: "Migrate, serve the API on 127.0.0.1:8787 and run the crons (Ctrl-C stops it)",
    home: "create",
    options: {
      port: { type: "string", value: "PORT", description: "Port to listen on (default 8787; 0 picks a free one)" },
      host: {
        type: "string",
        value: "ADDR",
        description: "Address to bind (default 127.0.0.1); anything but loopback also needs --i-know-this-is-exposed",
      },
      "i-know-this-is-exposed": {
        type: "boolean",
        description: "Allow a non-loopback --host: the API (plain HTTP) is then reachable from the network; put TLS and a firewall in front",
      },
      "wake-interval": {
        type: "string",
        value: "MS",
        description: "Default long-poll re-check interval (default 1000, or $SWITCHYARD_WAKE_INTERVAL_MS); the cross-server wake floor on a remote database",
      },
      cron: { type: "string", multiple: true, value: "NAME=EXPR", description: "Override a cron schedule (node-cron syntax)" },
      "no-cron": { type: "boolean", description: "Serve only; schedule no crons" },
    },
    examples: [
      "switchyard up",
      "switchyard up --port 9000 --cron heartbeat-sweep='*/30 * * * * *'",
      "switchyard up --no-cron --port 8788   # a second stateless server on the same database",
      "switchyard up --host 10.0.0.5 --i-know-this-is-exposed   # the hub of several machines (docs/multi-machine.md)",
    ],
    local: async (a, g) => {
      const port = int(a, "port", { min: 0 }) ?? 8787;
      if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
      const hostname = str(a, "host") ?? "127.0.0.1";
      if (!isLoopbackHost(hostname) && !flag(a, "i-know-this-is-exposed")) {
        throw new HintedError(
          `refusing to listen on ${hostname}: it is not a loopback address, so anyone who can reach it on the network can reach the API`,
          "Every route still needs a token, but traffic is plain HTTP. Bind a private-network address, put TLS and a firewall in front (docs/multi-machine.md), then add --i-know-this-is-exposed.",
        );
      }
      const wakeMs = int(a, "wake-interval", { min: 0 });
      if (wakeMs !== undefined) {
        const { checkWakeInterval } = await import("../services.ts");
        try {
          checkWakeInterval(wakeMs, `--wake-interval ${wakeMs}`);
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
      }
      // Checked before anything opens: a bad schedule must not leave a server listening.
      const schedules = flag(a, "no-cron") ? [] : await parseCronOverrides(list(a, "cron"));
      const [{ startUp }, { printableUrl }, { writeUpRecord, removeUpRecord, verifiedUp }] = await Promise.all([
        import("../up.ts"),
        import("../services.ts"),
        import("../up-record.ts"),
      ]);
      const s = await services(g, true, wakeMs);
      let running;
      try {
        running = await startUp(s, { port, hostname, schedules });
      } catch (e) {
        s.database.close();
        throw listenError(e, hostname, port);
      }
      // So `hooks install` and `mcp install` without --url point agents at this server; a
      // second `up` on the home (a secondary on the same database) leaves the first one's
      // record, which its exit would otherwise have taken away with its own.
      const first = verifiedUp(s.home.home);
      const recorded = first === null || first.pid === process.pid;
      const record = () => {
        try {
          writeUpRecord(s.home.home, running.url, { dbUrl: s.home.dbUrl, host: s.home.hostName });
        } catch {
          // A read-only home: those commands then need --url.
        }
      };
      if (recorded) record();
      // The recorded server may stop first: whichever is still up then takes the record over.
      const takeOver = setInterval(() => {
        if (verifiedUp(s.home.home) === null) record();
      }, UP_RECORD_CHECK_MS);
      takeOver.unref();
      const lines = [
        `switchyard is up (pid ${process.pid}; Ctrl-C or \`kill ${process.pid}\` stops it)`,
        `  api:        ${running.url}/v1`,
        `  docs:       ${running.url}/docs  (OpenAPI: ${running.url}/v1/openapi.json)`,
        `  dashboard:  ${running.url}/dashboard  (sign in with the owner token)`,
        `  health:     ${running.url}/healthz`,
        `  home:       ${s.home.home}`,
        `  database:   ${printableUrl(s.home.dbUrl)}`,
        `  wake-ups:   ${wakeLine(s)}`,
        ...(isLoopbackHost(hostname) ? [] : [`  exposed:    listening on ${hostname}; plain HTTP, every route needs a token (docs/multi-machine.md)`]),
        `  owner token: ${s.home.ownerTokenFile}`,
        `  crons:      ${schedules.map((x) => `${x.name} (${x.expression})`).join(", ") || "none"}`,
        ...(running.patrolWarning ? [`  warning:    ${running.patrolWarning}`] : []),
        ...(recorded
          ? []
          : [`  note:       ${first!.url} (pid ${first!.pid}) stays this home's recorded server: hooks install, mcp install and reads without --url go there`]),
      ];
      process.stdout.write(`${lines.join("\n")}\n`);
      const started = Date.now();
      const reason = await stopRequested();
      process.stdout.write(`${reason}, shutting down (up ${duration(Date.now() - started)})\n`);
      clearInterval(takeOver);
      removeUpRecord(s.home.home);
      try {
        await running.stop();
      } catch (e) {
        process.stderr.write(`error during shutdown: ${(e as Error).message}\n`);
        return EXIT_FAILED;
      }
      return EXIT_OK;
    },
  },
  {
    name: "doctor",
    group: "setup",
    summary: "Check this machine: home, database, tmux, lsof, agent CLIs signed in, port, patrol and dispatch",
    // Useful before a home exists: it then checks the machine and says how to make one.
    home: "none",
    options: { port: { type: "string", value: "PORT", description: "The API port to check (default 8787)" } },
    exitCodes: { 1: "NOT OK: at least one problem (each is printed with a hint)" },
    examples: ["switchyard doctor", "switchyard doctor --json"],
    local: async (a, g) => {
      let body: any;
      let dbUrl: string | null = null;
      const port = int(a, "port", { min: 1 });
      if (g.url || g.home) {
        const { openTransport } = await import("./connect.ts");
        try {
          const transport = await openTransport(g);
          try {
            const res = await transport.send({ method: "GET", path: "/admin/doctor", query: { port } });
            if (res.status !== 200) throw new HintedError(`${res.body?.error?.code}: ${res.body?.error?.message}`, res.body?.error?.hint ?? "");
            body = res.body;
          } finally {
            await transport.close();
          }
          dbUrl = g.url ? null : resolveHome(process.env, { home: g.home }).dbUrl;
        } catch (e) {
          if (g.url) throw e;
          // A database that cannot be opened is one of the things the doctor reports.
          dbUrl = resolveHome(process.env, { home: g.home }).dbUrl;
          body = await hostOnlyDoctor(g, {
            check: "database",
            message: (e as Error).message,
            hint: (e as { hint?: string }).hint ?? "Run `switchyard db-doctor`.",
          });
        }
      } else {
        body = await hostOnlyDoctor(g, {
          check: "home",
          message: `no switchyard home: no ${HOME_DIR_NAME}/ directory here or in any parent`,
          hint: "Run `switchyard init` here (or `switchyard up`), or set SWITCHYARD_HOME or SWITCHYARD_URL.",
        });
      }
      if (g.json) process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
      else process.stdout.write(`${renderDoctor(body, { home: homeLine(g), dbUrl, url: g.url })}\n`);
      return body.ok ? EXIT_OK : EXIT_FAILED;
    },
  },
  openCommand("open-worker", "worker", { name: "TASK", description: "Task name" }, "Print (or with --attach run) the tmux command that shows a task's worker"),
  openCommand(
    "open-manager",
    "manager",
    { name: "TASK", description: "Task name" },
    "Print (or with --attach run) the tmux command that shows a task's manager",
  ),
  openCommand("open", "session", { name: "NAME", description: "Session name" }, "Print (or with --attach run) the tmux command that shows a session"),
];

/** The doctor's checks that need no database, with one more problem (no home, or a database that failed). */
async function hostOnlyDoctor(g: GlobalOptions, problem: { check: string; message: string; hint: string }) {
  const [{ hostDoctor }, { NodeHost }, { agentLaunchConfig }] = await Promise.all([
    import("../../functions/admin/doctor.ts"),
    import("../host.ts"),
    import("../agents.ts"),
  ]);
  const home = resolveHome(process.env, { home: g.home ?? join(process.cwd(), HOME_DIR_NAME) });
  const problems = [problem];
  const report = await hostDoctor({ host: new NodeHost(), hostName: home.hostName, agents: agentLaunchConfig(process.env, home) }, problems);
  return { ok: false, ...report, database: "error" as const, problems };
}
