// Helpers for end-to-end tests that drive the REAL agent CLIs (Codex, Claude Code) in tmux
// against loopback model stubs. Findings behind every choice here: docs/notes/agent-clis.md.
//
// Rules kept here: processes are spawned with argument arrays (never a shell string); tmux
// sessions are killed by their exact name; only pids we started (and their descendants) are
// ever signalled.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startAnthropicMessagesStub } from "../fixtures/stubs/anthropic-messages.ts";
import type { StubServer, StubTurn } from "../fixtures/stubs/common.ts";
import { startOpenAIResponsesStub } from "../fixtures/stubs/openai-responses.ts";

export type { StubServer, StubTurn } from "../fixtures/stubs/common.ts";

const execFileP = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(join(ROOT, "package.json"));

export type AgentKind = "codex" | "claude";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Stubs

/** Starts the model stub the given CLI talks to. Codex: OpenAI Responses. Claude: Anthropic Messages. */
export function startStub(kind: AgentKind, turns: StubTurn[] = []): Promise<StubServer> {
  return kind === "codex" ? startOpenAIResponsesStub(turns) : startAnthropicMessagesStub(turns);
}

// ---------------------------------------------------------------------------------------------
// Binaries

/**
 * Path of the Codex entry. `bin/codex.js` is a small Node launcher that spawns the platform
 * binary from the optional dependency @openai/codex-linux-x64 (no install script needed).
 * With `native: true` the platform binary itself (one process fewer in the pane).
 */
export function codexBinary(opts: { native?: boolean } = {}): string {
  const pkg = dirname(require.resolve("@openai/codex/package.json"));
  if (!opts.native) return join(pkg, "bin", "codex.js");
  const triple = process.arch === "arm64" ? "aarch64-unknown-linux-musl" : "x86_64-unknown-linux-musl";
  const plat = dirname(require.resolve(`@openai/codex-linux-${process.arch}/package.json`));
  return join(plat, "vendor", triple, "bin", "codex");
}

/**
 * Path of the native Claude Code binary. Prefer the platform package's binary: it exists even
 * when npm skipped @anthropic-ai/claude-code's postinstall (which only copies/links this file
 * over the bin/claude.exe placeholder). Fall back to bin/claude.exe when it is a real binary.
 */
export function claudeBinary(): string {
  try {
    const plat = dirname(require.resolve(`@anthropic-ai/claude-code-linux-${process.arch}/package.json`));
    const bin = join(plat, "claude");
    if (existsSync(bin)) return bin;
  } catch {
    // fall through
  }
  const wrapper = join(dirname(require.resolve("@anthropic-ai/claude-code/package.json")), "bin", "claude.exe");
  if (statSync(wrapper).size < 10_000) throw new Error("claude native binary missing: run `node node_modules/@anthropic-ai/claude-code/install.cjs`");
  return wrapper;
}

// ---------------------------------------------------------------------------------------------
// Isolated homes

export interface AgentHome {
  /** Temp root; everything below is deleted by cleanup(). */
  root: string;
  /** A fresh working folder for the agent (its cwd). */
  workdir: string;
  /** HOME for the agent process. */
  home: string;
  /** CODEX_HOME or CLAUDE_CONFIG_DIR. */
  configDir: string;
  /** Env the CLI needs on top of a minimal base. */
  env: Record<string, string>;
  cleanup(): void;
}

export interface HomeOptions {
  /** Pre-trust the workdir so no trust prompt is shown (default true). */
  trust?: boolean;
  /** Make the workdir a git repository (Codex only asks about trust for git repos... see notes). */
  git?: boolean;
  /** Codex approval policy (default "on-request"). */
  approvalPolicy?: "on-request" | "never";
  /** Codex sandbox mode (default "danger-full-access": the bundled bubblewrap is not reliable in containers). */
  sandbox?: "read-only" | "workspace-write" | "danger-full-access";
  /** Claude permission mode written to settings (default "default": asks before Bash). */
  permissionMode?: "default" | "acceptEdits" | "plan" | "bypassPermissions" | "auto";
  /** Claude Code's vim editing mode (`editorMode: "vim"`): the composer starts in insert mode. */
  vim?: boolean;
}

function makeRoot(kind: AgentKind): { root: string; workdir: string; home: string } {
  const root = mkdtempSync(join(tmpdir(), `sy-${kind}-`));
  const workdir = join(root, "work");
  const home = join(root, "home");
  mkdirSync(workdir);
  mkdirSync(home);
  return { root, workdir, home };
}

async function gitInit(dir: string): Promise<void> {
  await execFileP("git", ["init", "-q", dir]);
}

export const DUMMY_OPENAI_KEY = "sk-stub-openai-0000000000000000";
export const DUMMY_ANTHROPIC_KEY = "sk-ant-stub-0000000000000000000000";

/** A temp CODEX_HOME whose config.toml points at the stub (model_provider "stub", wire_api "responses"). */
export async function makeCodexHome(stubUrl: string, opts: HomeOptions = {}): Promise<AgentHome> {
  const { root, workdir, home } = makeRoot("codex");
  if (opts.git) await gitInit(workdir);
  const configDir = join(root, "codex-home");
  mkdirSync(configDir);
  const lines = [
    `model = "stub-model"`,
    `model_provider = "stub"`,
    `approval_policy = "${opts.approvalPolicy ?? "on-request"}"`,
    `sandbox_mode = "${opts.sandbox ?? "danger-full-access"}"`,
    `check_for_update_on_startup = false`,
    ``,
    `[analytics]`,
    `enabled = false`,
    ``,
    `[model_providers.stub]`,
    `name = "Stub"`,
    `base_url = "${stubUrl}/v1"`,
    `wire_api = "responses"`,
    `env_key = "STUB_OPENAI_API_KEY"`,
    `request_max_retries = 0`,
    `stream_max_retries = 0`,
    ``,
  ];
  if (opts.trust ?? true) lines.push(`[projects."${workdir}"]`, `trust_level = "trusted"`, ``);
  writeFileSync(join(configDir, "config.toml"), lines.join("\n"));
  return {
    root,
    workdir,
    home,
    configDir,
    env: { HOME: home, CODEX_HOME: configDir, STUB_OPENAI_API_KEY: DUMMY_OPENAI_KEY },
    cleanup: () => rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }),
  };
}

/** A temp CLAUDE_CONFIG_DIR with onboarding done, the dummy key approved, and the stub as base URL. */
export async function makeClaudeConfig(stubUrl: string, opts: HomeOptions = {}): Promise<AgentHome> {
  const { root, workdir, home } = makeRoot("claude");
  if (opts.git) await gitInit(workdir);
  const configDir = join(root, "claude-config");
  mkdirSync(configDir);
  const state: Record<string, unknown> = {
    hasCompletedOnboarding: true,
    lastOnboardingVersion: "2.1.329",
    theme: "dark",
    // Without this, an ANTHROPIC_API_KEY in the env triggers "Do you want to use this API key?".
    customApiKeyResponses: { approved: [DUMMY_ANTHROPIC_KEY.slice(-20)], rejected: [] },
    // A user-settings defaultMode other than "auto" otherwise triggers the one-time
    // "Make auto mode your default permission mode?" dialog before the composer.
    hasSeenAutoDefaultNudge: true,
    projects: {},
    ...(opts.vim ? { editorMode: "vim" } : {}),
  };
  if (opts.trust ?? true) {
    (state.projects as Record<string, unknown>)[workdir] = { hasTrustDialogAccepted: true, allowedTools: [] };
  }
  writeFileSync(join(configDir, ".claude.json"), JSON.stringify(state, null, 2));
  const settings = { permissions: { defaultMode: opts.permissionMode ?? "default" } };
  writeFileSync(join(configDir, "settings.json"), JSON.stringify(settings, null, 2));
  return {
    root,
    workdir,
    home,
    configDir,
    env: {
      HOME: home,
      CLAUDE_CONFIG_DIR: configDir,
      ANTHROPIC_BASE_URL: stubUrl,
      ANTHROPIC_API_KEY: DUMMY_ANTHROPIC_KEY,
      DISABLE_AUTOUPDATER: "1",
      DISABLE_TELEMETRY: "1",
      DISABLE_ERROR_REPORTING: "1",
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
    },
    cleanup: () => rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }),
  };
}

// ---------------------------------------------------------------------------------------------
// Commands

export interface AgentCommand {
  /** The command itself, e.g. [".../codex.js", "--no-daemon"]. */
  argv: string[];
  /** Variables to set for it. */
  env: Record<string, string>;
  /** Variables to remove from the inherited environment (real credentials, other configs). */
  unset: string[];
  cwd: string;
}

export interface CommandOptions {
  /** Codex: use the shared background app-server daemon (default false = `--no-daemon`). */
  daemon?: boolean;
  /** Codex: run the platform binary directly instead of the Node launcher. */
  native?: boolean;
  extraArgs?: string[];
  /** Extra variables for the agent (e.g. CLAUDE_CODE_MAX_RETRIES). */
  extraEnv?: Record<string, string>;
}

/** Variables that must never leak from the test runner into an agent under test. */
export const AGENT_ENV_UNSET = [
  "OPENAI_API_KEY",
  "OPENAI_BASE_URL",
  "CODEX_API_KEY",
  "CODEX_HOME",
  "ANTHROPIC_API_KEY",
  "ANTHROPIC_AUTH_TOKEN",
  "ANTHROPIC_BASE_URL",
  "ANTHROPIC_MODEL",
  "CLAUDE_CONFIG_DIR",
  "CLAUDECODE",
  "CLAUDE_CODE_ENTRYPOINT",
  "CLAUDE_CODE_OAUTH_TOKEN",
  "CODEX_SANDBOX",
  "CODEX_THREAD_ID",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "http_proxy",
  "https_proxy",
  "ALL_PROXY",
  "NODE_OPTIONS",
];

/** The argv + env that starts the interactive TUI; production code can feed it to tmux new-session. */
export function agentCommand(kind: AgentKind, home: AgentHome, opts: CommandOptions = {}): AgentCommand {
  const extra = opts.extraArgs ?? [];
  if (kind === "codex") {
    const bin = codexBinary({ native: opts.native });
    const args = [...(opts.daemon ? [] : ["--no-daemon"]), ...extra];
    const argv = opts.native ? [bin, ...args] : [process.execPath, bin, ...args];
    return { argv, env: { ...home.env, NO_PROXY: "127.0.0.1,localhost", ...opts.extraEnv }, unset: AGENT_ENV_UNSET, cwd: home.workdir };
  }
  return {
    argv: [claudeBinary(), ...extra],
    env: { ...home.env, NO_PROXY: "127.0.0.1,localhost", ...opts.extraEnv },
    unset: AGENT_ENV_UNSET,
    cwd: home.workdir,
  };
}

/** `env -u X ... K=V ... argv...`: one argv that carries the environment through tmux intact. */
export function wrapWithEnv(cmd: AgentCommand): string[] {
  const out = ["env"];
  for (const name of cmd.unset) if (!(name in cmd.env)) out.push("-u", name);
  for (const [k, v] of Object.entries(cmd.env)) out.push(`${k}=${v}`);
  return [...out, ...cmd.argv];
}

// ---------------------------------------------------------------------------------------------
// tmux

export async function tmux(args: string[]): Promise<string> {
  const { stdout } = await execFileP("tmux", args, { maxBuffer: 4 * 1024 * 1024 });
  return stdout;
}

export interface TmuxSession {
  name: string;
  /** Target for send-keys / capture-pane. */
  target: string;
  panePid: number;
}

/** `tmux new-session -d -s <name> -x 200 -y 50 -c <cwd> -- env ... argv`, keeping a dead pane readable. */
/** The tmux argv (without the leading "tmux") that starts `cmd` detached in session `name`. */
export function tmuxNewSessionArgs(name: string, cmd: AgentCommand, size = { width: 200, height: 50 }): string[] {
  return [
    "new-session",
    "-d",
    "-s",
    name,
    "-x",
    String(size.width),
    "-y",
    String(size.height),
    "-c",
    cmd.cwd,
    "--",
    ...wrapWithEnv(cmd),
    // Same client invocation, so a CLI that dies at once still leaves a readable dead pane.
    ";",
    "set-option",
    "-t",
    name,
    "remain-on-exit",
    "on",
  ];
}

export async function startInTmux(name: string, cmd: AgentCommand, size = { width: 200, height: 50 }): Promise<TmuxSession> {
  await tmux(tmuxNewSessionArgs(name, cmd, size));
  const pid = Number((await tmux(["display-message", "-p", "-t", `${name}:0.0`, "#{pane_pid}"])).trim());
  return { name, target: `${name}:0.0`, panePid: pid };
}

export async function capturePane(target: string): Promise<string> {
  return tmux(["capture-pane", "-p", "-t", target]);
}

export async function paneDead(target: string): Promise<boolean> {
  try {
    return (await tmux(["display-message", "-p", "-t", target, "#{pane_dead}"])).trim() === "1";
  } catch {
    return true;
  }
}

/** Kills exactly this session (by name); ignores "no such session". */
export async function killTmuxSession(name: string): Promise<void> {
  try {
    await tmux(["kill-session", "-t", `=${name}`]);
  } catch {
    // already gone
  }
}

/** Polls capture-pane until `pattern` matches; returns the matching capture. */
export async function waitForPane(target: string, pattern: RegExp, timeoutMs = 20_000, intervalMs = 200): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    last = await capturePane(target);
    if (pattern.test(last)) return last;
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${pattern} in ${target}; last capture:\n${last}`);
}

/** The text of the composer line: the last line that starts with the prompt glyph (› Codex, ❯ Claude). */
export function composerLine(capture: string): string | undefined {
  const lines = capture.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /^\s*[›❯]\s?(.*)$/.exec(lines[i]!);
    if (m) return m[1]!.trimEnd();
  }
  return undefined;
}

export interface SubmitOptions {
  /** Pause after typing before pressing Enter (Codex treats fast input as a paste burst). */
  settleMs?: number;
  /** How many times to press Enter before giving up. */
  maxEnters?: number;
  /** Extra proof of submission, e.g. "the transcript has the user message". */
  verify?: () => Promise<boolean> | boolean;
  timeoutMs?: number;
}

/**
 * Types `text` literally, waits until it shows in the composer, settles, presses Enter, and
 * checks that the composer no longer holds the text (and `verify`, when given). Presses Enter
 * again a bounded number of times if the first one was swallowed.
 */
export async function submitPrompt(target: string, text: string, opts: SubmitOptions = {}): Promise<{ enters: number }> {
  const settleMs = opts.settleMs ?? 400;
  const maxEnters = opts.maxEnters ?? 3;
  const probe = text.replace(/\s+/g, " ").trim().slice(-16);
  await tmux(["send-keys", "-t", target, "-l", "--", text]);
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  // endsWith, not includes: a short prompt like "hi" is inside the placeholder "Ask Codex to do anything".
  while (!(composerLine(await capturePane(target)) ?? "").trimEnd().endsWith(probe)) {
    if (Date.now() > deadline) throw new Error(`typed text never showed in the composer of ${target}`);
    await sleep(100);
  }
  await sleep(settleMs);
  for (let enters = 1; enters <= maxEnters; enters++) {
    await tmux(["send-keys", "-t", target, "Enter"]);
    const until = Date.now() + 2_000;
    while (Date.now() < until) {
      await sleep(150);
      const composer = composerLine(await capturePane(target)) ?? "";
      if (!composer.trimEnd().endsWith(probe) && (!opts.verify || (await opts.verify()))) return { enters };
    }
  }
  throw new Error(`prompt not submitted after ${maxEnters} Enter presses in ${target}`);
}

// ---------------------------------------------------------------------------------------------
// Processes and files

function statOf(pid: number): { ppid: number; comm: string; start: string } | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = raw.lastIndexOf(")");
    const comm = raw.slice(raw.indexOf("(") + 1, close);
    const fields = raw.slice(close + 2).split(" ");
    // fields[0] is the state (field 3); starttime is field 22 → fields[19].
    return { ppid: Number(fields[1]), comm, start: fields[19] ?? "" };
  } catch {
    return undefined;
  }
}

/** pid and all its live descendants (by parent pid), parents first. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    const s = statOf(Number(e));
    if (!s) continue;
    const list = children.get(s.ppid) ?? [];
    list.push(Number(e));
    children.set(s.ppid, list);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  if (existsSync(`/proc/${pid}`)) walk(pid);
  return out;
}

export function isAlive(pid: number): boolean {
  const s = statOf(pid);
  if (!s) return false;
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/**
 * Live pids whose executable (argv[0]) lives under `dir`, e.g. the Codex daemon and its updater,
 * which run from a copy under $CODEX_HOME/packages. Matching the whole command line would be
 * wrong: a tmux server started by our `new-session` keeps that client's argv (which names the
 * temp home) for its whole life, and it may host other people's sessions.
 */
export function processesRunningFrom(dir: string): number[] {
  const out: number[] = [];
  const prefix = dir.endsWith("/") ? dir : `${dir}/`;
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const argv0 = readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0")[0] ?? "";
      if (argv0.startsWith(prefix) && statOf(Number(e))?.comm !== "tmux" && isAlive(Number(e))) out.push(Number(e));
    } catch {
      // exited
    }
  }
  return out;
}

/**
 * Regular files a process holds open for writing (readlink of /proc/<pid>/fd/*, access mode
 * from fdinfo). Read-only ones are left out: a starting Codex reads its neighbours' rollouts.
 */
export function openFiles(pid: number): string[] {
  const out: string[] = [];
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      const t = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const flags = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"))?.[1];
      // O_ACCMODE is the low two bits; 0 is O_RDONLY.
      if (t.startsWith("/") && flags !== undefined && (Number.parseInt(flags, 8) & 3) !== 0) out.push(t);
    } catch {
      // fd closed meanwhile
    }
  }
  return out;
}

/** Which pid in the tree rooted at `pid` holds a file matching `pattern` open. */
export function whoHolds(pid: number, pattern: RegExp): Array<{ pid: number; comm: string; file: string }> {
  const out: Array<{ pid: number; comm: string; file: string }> = [];
  for (const p of processTree(pid)) for (const f of openFiles(p)) if (pattern.test(f)) out.push({ pid: p, comm: statOf(p)?.comm ?? "?", file: f });
  return out;
}

function walkFiles(dir: string, match: RegExp, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walkFiles(p, match, out);
    else if (match.test(e.name)) out.push(p);
  }
  return out;
}

/** Codex rollouts: $CODEX_HOME/sessions/YYYY/MM/DD/rollout-<local time>-<thread uuid>.jsonl */
export function codexRollouts(codexHome: string): string[] {
  return walkFiles(join(codexHome, "sessions"), /^rollout-.*\.jsonl$/).sort();
}

/** Claude transcripts: $CLAUDE_CONFIG_DIR/projects/<cwd with / and . as ->/<session uuid>.jsonl */
export function claudeTranscripts(configDir: string): string[] {
  return walkFiles(join(configDir, "projects"), /^[0-9a-f-]{36}\.jsonl$/).sort();
}

export function transcripts(kind: AgentKind, home: AgentHome): string[] {
  return kind === "codex" ? codexRollouts(home.configDir) : claudeTranscripts(home.configDir);
}

export function readJsonl(file: string): Array<Record<string, any>> {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return []; // a line being written
      }
    });
}

/** Turn-complete markers. Codex: event_msg/task_complete. Claude: system/turn_duration. */
export function isTurnComplete(kind: AgentKind, line: Record<string, any>): boolean {
  if (kind === "codex") return line.type === "event_msg" && line.payload?.type === "task_complete";
  return line.type === "system" && line.subtype === "turn_duration";
}

export type TranscriptEvent = "user_message" | "task_started" | "agent_message" | "tool_activity" | "task_complete" | "error";

/**
 * What one transcript line means for a watcher (null: bookkeeping). Written against the lines
 * seen from Codex 0.169.0 and Claude Code 2.1.329 (docs/notes/agent-clis.md). Codex reports a
 * failed turn as task_complete carrying `error`; that line yields "error" here, and it still ends
 * the turn (isTurnComplete). Claude writes an API error as an assistant line and no turn_duration.
 */
export function classifyTranscriptLine(kind: AgentKind, line: Record<string, any>): TranscriptEvent | null {
  if (kind === "codex") {
    const p = line.payload ?? {};
    if (line.type === "event_msg") {
      if (p.type === "task_started") return "task_started";
      if (p.type === "task_complete") return p.error ? "error" : "task_complete";
      if (p.type === "turn_aborted") return "task_complete";
      if (p.type === "error") return "error";
      if (p.type === "item_completed") {
        const t = p.item?.type;
        if (t === "UserMessage") return "user_message";
        if (t === "AgentMessage") return "agent_message";
        if (t === "CommandExecution" || t === "FileChange" || t === "McpToolCall") return "tool_activity";
      }
      return null;
    }
    if (line.type === "response_item" && /call/.test(String(p.type))) return "tool_activity";
    return null;
  }
  if (line.type === "system" && line.subtype === "turn_duration") return "task_complete";
  if (line.type === "assistant") {
    if (line.isApiErrorMessage) return "error";
    const content = line.message?.content;
    if (Array.isArray(content) && content.some((c: any) => c?.type === "tool_use")) return "tool_activity";
    return line.message?.stop_reason === "end_turn" ? "agent_message" : null;
  }
  if (line.type === "user") {
    const content = line.message?.content;
    if (typeof content === "string") return line.isMeta ? null : "user_message";
    if (Array.isArray(content) && content.some((c: any) => c?.type === "tool_result")) return "tool_activity";
    if (Array.isArray(content) && content.some((c: any) => c?.type === "text")) return line.isMeta ? null : "user_message";
  }
  return null;
}

export function countTurnsComplete(kind: AgentKind, file: string): number {
  return readJsonl(file).filter((l) => isTurnComplete(kind, l)).length;
}

export async function waitFor<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await sleep(200);
  }
}

// ---------------------------------------------------------------------------------------------
// A whole agent under test

export interface RunningAgent {
  kind: AgentKind;
  stub: StubServer;
  home: AgentHome;
  cmd: AgentCommand;
  tmux: TmuxSession;
  /** Every pid seen in the pane's tree so far (refreshed by snapshot()). */
  seenPids: Set<number>;
  snapshot(): number[];
  capture(): Promise<string>;
  transcript(): string | undefined;
  stop(): Promise<{ strays: number[] }>;
}

let counter = 0;
export function uniqueSessionName(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${++counter}`;
}

/**
 * Stub + isolated home + TUI in a fresh tmux session, waiting until the composer is idle.
 * stop() kills the tmux session by name, then any pid from the pane's tree that survived it.
 */
export async function launchAgent(
  kind: AgentKind,
  turns: StubTurn[],
  opts: HomeOptions & CommandOptions & { name?: string; waitIdle?: boolean } = {},
): Promise<RunningAgent> {
  const stub = await startStub(kind, turns);
  const home = kind === "codex" ? await makeCodexHome(stub.url, opts) : await makeClaudeConfig(stub.url, opts);
  const cmd = agentCommand(kind, home, opts);
  const name = opts.name ?? uniqueSessionName(`sy-${kind}`);
  const session = await startInTmux(name, cmd);
  const seenPids = new Set<number>();
  // pid → start time, so a recycled pid is never mistaken for one of ours.
  const identity = new Map<number, string>();
  const remember = (p: number) => {
    const st = statOf(p);
    if (!st || st.comm === "tmux") return; // never the (possibly shared) tmux server
    seenPids.add(p);
    if (!identity.has(p)) identity.set(p, st.start);
  };
  const stillOurs = (p: number) => isAlive(p) && statOf(p)?.start === identity.get(p);
  const agent: RunningAgent = {
    kind,
    stub,
    home,
    cmd,
    tmux: session,
    seenPids,
    snapshot() {
      const tree = processTree(session.panePid);
      for (const p of tree) remember(p);
      return tree;
    },
    capture: () => capturePane(session.target),
    transcript: () => transcripts(kind, home).at(-1),
    async stop() {
      agent.snapshot();
      await killTmuxSession(name);
      if (kind === "codex" && opts.daemon) {
        // The shared app-server daemon is setsid'd and outlives the pane; stop it through its CLI.
        try {
          await execFileP(process.execPath, [codexBinary(), "app-server", "daemon", "stop"], { env: { ...process.env, ...home.env }, timeout: 20_000 });
        } catch {
          // not running
        }
      }
      if (kind === "codex") {
        // The daemon's "pid-update-loop" helper survives `daemon stop`; it and the daemon run
        // from a copy under $CODEX_HOME/packages, so an executable under our temp CODEX_HOME is ours.
        for (const p of processesRunningFrom(home.configDir)) remember(p);
      }
      const deadline = Date.now() + 5_000;
      let strays = [...seenPids].filter(stillOurs);
      while (strays.length && Date.now() < deadline) {
        await sleep(200);
        strays = [...seenPids].filter(stillOurs);
      }
      for (const p of strays) {
        try {
          process.kill(p, "SIGKILL");
        } catch {
          // gone
        }
      }
      await stub.close();
      home.cleanup();
      return { strays };
    },
  };
  agent.snapshot();
  if (opts.waitIdle ?? true) {
    try {
      await waitFor(async () => paneState(kind, await capturePane(session.target)) === "idle", 30_000, `${kind} idle composer`);
    } catch (err) {
      const last = await capturePane(session.target).catch(() => "");
      await agent.stop();
      throw new Error(`${String(err)}\nlast capture:\n${last}`);
    }
  }
  agent.snapshot();
  return agent;
}

// ---------------------------------------------------------------------------------------------
// Pane patterns (see docs/notes/agent-clis.md for the captures they were written against)

export type PaneState = "dead" | "trust_prompt" | "approval_prompt" | "rate_limit" | "busy" | "idle" | "unknown";

export const PANE_PATTERNS: Record<AgentKind, Partial<Record<Exclude<PaneState, "unknown">, RegExp>>> = {
  codex: {
    dead: /^Pane is dead \(status/m,
    trust_prompt: /Trust this folder\?|\d\. Trust and continue/,
    approval_prompt: /Would you like to run the following command\?|Press enter to confirm or esc to cancel/,
    // Only judged on the latest turn (see lastTurnRegion). Captured: "■ exceeded retry limit,
    // last status: 429 Too Many Requests". The usage-limit wording is from ChatGPT-plan accounts (not captured here).
    // "You've reached your usage limit" / "Usage limit reached" are strings in the 0.169 binary.
    rate_limit: /status: 429|Too Many Requests|You've reached your usage limit|usage limit reached|rate limit/i,
    busy: /esc to interrupt|^\s*• Working \(/m,
    // Composer, then (within 3 lines) the status line "<model> <effort> · <cwd>[ · <title>]".
    // The "? for shortcuts" footer disappears while the composer holds a draft.
    idle: /^› .*\n(?:.*\n){0,3}?\s+\S.* · [~/]/m,
  },
  claude: {
    dead: /^Pane is dead \(status/m,
    trust_prompt: /Yes, I trust this folder/,
    // "Do you want to proceed?" (Bash), "Do you want to create notes.txt?" (Write), … + the footer.
    approval_prompt: /Do you want to [^\n]*\?[\s\S]*Esc to cancel/,
    // Captured: "API Error: Request rejected (429) · <message>". "usage limit reached" is the
    // subscription wording (not captured here).
    // "You've hit your limit · resets …" variants are strings in the 2.1.329 binary.
    rate_limit: /API Error: Request rejected \(429\)|You've hit your [^\n]*limit|usage limit reached|rate limit/i,
    busy: /esc to interrupt/,
    // The composer glyph is followed by U+00A0 (no-break space), not a plain space.
    idle: /^─{20,}\n❯[ \u00a0]?.*\n─{20,}/m,
  },
};

/**
 * The part of a capture that belongs to the latest turn: from the last user-prompt line in the
 * history (the glyph line before the composer) to the end. Errors from earlier turns stay on
 * screen; judging rate limits only here keeps a recovered session from looking limited.
 */
export function lastTurnRegion(capture: string): string {
  const lines = capture.split("\n");
  const glyphs = lines.flatMap((l, i) => (/^\s*[›❯][ \u00a0]?/.test(l) ? [i] : []));
  if (glyphs.length < 2) return capture;
  return lines.slice(glyphs[glyphs.length - 2]).join("\n");
}

/** Classifies one capture. Order matters: a dead pane, then modal prompts, then errors, busy, idle. */
export function paneState(kind: AgentKind, capture: string): PaneState {
  const p = PANE_PATTERNS[kind];
  for (const state of ["dead", "trust_prompt", "approval_prompt", "rate_limit", "busy", "idle"] as const) {
    const re = p[state];
    const text = state === "rate_limit" ? lastTurnRegion(capture) : capture;
    if (re && re.test(text)) return state;
  }
  return "unknown";
}

/** Waits until paneState(kind, capture) is one of `states`; returns the capture. */
export async function waitForState(kind: AgentKind, target: string, states: PaneState[], timeoutMs = 20_000): Promise<string> {
  let last = "";
  try {
    return await waitFor(
      async () => {
        last = await capturePane(target);
        return states.includes(paneState(kind, last)) ? last : undefined;
      },
      timeoutMs,
      `${kind} pane state ${states.join("|")}`,
    );
  } catch (err) {
    throw new Error(`${String(err)}; last capture:\n${last}`);
  }
}
