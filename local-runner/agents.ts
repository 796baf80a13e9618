import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { AgentLaunch } from "../functions/lib/ctx.ts";
import type { HomeConfig } from "./home.ts";

/** Environment variables handed to spawned agents when set here (tmux would not pass them). */
const PASSTHROUGH = [
  "PATH",
  "HOME",
  "LANG",
  "TERM",
  "CODEX_HOME",
  "OPENAI_API_KEY",
  "OPENAI_BASE_URL",
  "CLAUDE_CONFIG_DIR",
  "ANTHROPIC_API_KEY",
  "ANTHROPIC_AUTH_TOKEN",
  "ANTHROPIC_BASE_URL",
  "SWITCHYARD_URL",
];

/** The CLI from this package's own node_modules/.bin, when installed there. */
function localBin(name: string): string | null {
  const p = fileURLToPath(new URL(`../node_modules/.bin/${name}`, import.meta.url));
  return existsSync(p) ? p : null;
}

/** The directory under a home holding the `switchyard` command spawned agents find on PATH. */
export function cliShimDir(home: string): string {
  return join(home, "bin");
}

const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * Makes sure `<home>/bin/switchyard` runs this checkout's CLI with this Node, so the skills an
 * agent follows (`switchyard session-inbox …`) work inside the panes Switchyard spawns, whether
 * or not the package is installed globally. Rewritten only when its text changed (the checkout
 * moved, another Node); a read-only home simply goes without.
 */
/**
 * This checkout's CLI entry script. Resolved from this file, which sits one level below the
 * package root like the bundle (dist/switchyard.cjs) does, so the path is right from both; a
 * module deeper in local-runner/ would resolve past the root once bundled.
 */
export function cliEntry(): string {
  return fileURLToPath(new URL("../bin/switchyard.cjs", import.meta.url));
}

export function ensureCliShim(home: string): string | null {
  const dir = cliShimDir(home);
  const path = join(dir, "switchyard");
  const entry = cliEntry();
  const text = `#!/bin/sh\n# Written by switchyard for the agents it spawns: this checkout's CLI.\nexec ${shellQuote(process.execPath)} ${shellQuote(entry)} "$@"\n`;
  try {
    if (existsSync(path) && readFileSync(path, "utf8") === text) return path;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Write then rename, so an agent starting meanwhile never runs half a script.
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, text, { mode: 0o755 });
    chmodSync(tmp, 0o755);
    renameSync(tmp, path);
    return path;
  } catch {
    return null;
  }
}

/**
 * How this machine launches Codex and Claude Code: `SWITCHYARD_CODEX_BIN` /
 * `SWITCHYARD_CLAUDE_BIN` override the binaries (else PATH, else this package's node_modules;
 * Codex runs with --no-daemon unless SWITCHYARD_CODEX_DAEMON=1),
 * and `SWITCHYARD_AGENT_ENV` names extra variables to pass through. Spawned agents also get
 * SWITCHYARD_HOME so a manager's `switchyard` calls reach the same database, and PATH starts
 * with `<home>/bin` where ensureCliShim puts a `switchyard` command; the spawn adds
 * SWITCHYARD_TOKEN with the agent's own session token, so those calls act as that session.
 */
export function agentLaunchConfig(env: NodeJS.ProcessEnv, home: HomeConfig): { codex: AgentLaunch; claude: AgentLaunch } {
  const names = [
    ...PASSTHROUGH,
    ...(env.SWITCHYARD_AGENT_ENV ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  ];
  const passed: Record<string, string> = {};
  for (const n of names) if (env[n] !== undefined) passed[n] = env[n]!;
  passed.SWITCHYARD_HOME = home.home;
  passed.PATH = [cliShimDir(home.home), env.PATH || "/usr/local/bin:/usr/bin:/bin"].join(delimiter);
  const bin = (override: string | undefined, name: string) => (override ? [override] : [localBin(name) ?? name]);
  // Without --no-daemon Codex hands its rollout to a shared app-server that outlives the pane
  // and serves other panes too, which blurs "transcript held open" into "some agent alive".
  const codexDaemon = env.SWITCHYARD_CODEX_DAEMON === "1" ? [] : ["--no-daemon"];
  return {
    codex: { command: [...bin(env.SWITCHYARD_CODEX_BIN, "codex"), ...codexDaemon], env: passed },
    claude: { command: bin(env.SWITCHYARD_CLAUDE_BIN, "claude"), env: passed },
  };
}
