import {
  type AgentAuth,
  type CodexThreadControl,
  type CommandOutcome,
  type DiscoveredTranscript,
  type FileInfo,
  type GitEvidence,
  type Host,
  type HostCapabilities,
  HostError,
  type PaneAgent,
  type PaneCheck,
  type PluginFile,
  type PreparedTranscriptChunk,
  type TranscriptChunkJob,
  type TranscriptInspection,
} from "../functions/lib/host.ts";
import { realpath } from "node:fs/promises";
import { agentAuth } from "./host/agent-auth.ts";
import { codexThread } from "./host/codex-native.ts";
import { gitCommitAll, gitEvidence, listPlugins, newestActivity, readTextFile, runCommand } from "./host/commands.ts";
import { discoverTranscript, lsofMissing } from "./host/discovery.ts";
import { execTool } from "./host/exec.ts";
import { probePort, writeFilesUnder } from "./host/exports.ts";
import { fileExists, fileInfo, readBytes } from "./host/files.ts";
import { ancestry, type BootClock, keyboardBlocker, pidStartTime, pinnedBootClock } from "./host/procs.ts";
import { inspectTranscript, transcriptRootsFromEnv, type TranscriptRoots } from "./host/transcripts.ts";
import { Tmux, type NewSessionOptions } from "./host/tmux.ts";
import { transcriptParser } from "./transcript-parser.ts";

/** Where NodeHost finds its tools; tests point these at absent paths to simulate a bare host. */
export interface NodeHostOptions {
  /** tmux executable, a name looked up on PATH or an absolute path (default "tmux"). */
  tmuxBin?: string;
  /** lsof executable (default "lsof"). */
  lsofBin?: string;
  /** Per external command; TIMEOUT when exceeded (default 10 s). */
  timeoutMs?: number;
  /** Claude Code's config dir when not ~/.claude (default $CLAUDE_CONFIG_DIR). */
  claudeConfigDir?: string;
  /** Codex's home (default $CODEX_HOME, else ~/.codex); its `sessions/` is the Codex transcript root. */
  codexHome?: string;
  /** Directories the owner allows transcripts under, for both agents (default $SWITCHYARD_TRANSCRIPT_ROOTS). */
  transcriptRoots?: string[];
  /** Where the patrol looks for plugins when its config names no plugin_dir. */
  pluginDir?: string;
  /**
   * A file that pins this boot's boot time for every process sharing it (the home's), so pid
   * start times stay comparable across clock steps (see pinnedBootClock); default: the kernel's.
   */
  bootClockFile?: string;
}

/** How long a pane found to belong to its agent is trusted without asking lsof again. */
const PANE_CHECK_TTL_MS = 30_000;

/**
 * Start times from /proc are exact to a clock tick but the boot time they are offset from is
 * whole seconds and may be re-read differently by another process; `ps` reports whole seconds.
 * A recycled pid would need the pid space to wrap inside this window.
 */
const START_TIME_TOLERANCE_MS = 2000;

/**
 * The Node implementation of the host capabilities: tmux and lsof through execFile with
 * argument arrays, pids through /proc (Linux) or ps, files through node:fs. Every failure is
 * a HostError; a missing tool is TMUX_MISSING / LSOF_MISSING with an install hint.
 */
export class NodeHost implements Host {
  private readonly tmux: Tmux;
  private readonly lsofBin: string;
  private readonly timeoutMs: number;
  private readonly claudeConfigDir: string | undefined;
  private readonly roots: TranscriptRoots;
  private readonly paneChecks = new Map<string, number>();
  private lsofChecked = false;
  private readonly pluginDir: string | null;
  private readonly bootClock: BootClock | undefined;

  constructor(opts: NodeHostOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.tmux = new Tmux(opts.tmuxBin ?? "tmux", this.timeoutMs);
    this.lsofBin = opts.lsofBin ?? "lsof";
    this.claudeConfigDir = opts.claudeConfigDir ?? process.env.CLAUDE_CONFIG_DIR;
    this.roots = transcriptRootsFromEnv(process.env, { codexHome: opts.codexHome, claudeConfigDir: this.claudeConfigDir, extraRoots: opts.transcriptRoots });
    this.pluginDir = opts.pluginDir ?? null;
    this.bootClock = opts.bootClockFile && process.platform === "linux" ? pinnedBootClock(opts.bootClockFile) : undefined;
  }

  /** The transcript roots of each agent on this host (before symlinks are resolved). */
  transcriptRoots(): TranscriptRoots {
    return { codex: [...this.roots.codex], claude: [...this.roots.claude] };
  }

  /** See Host.inspectTranscript; the roots are this host's plus `extraRoots`. */
  inspectTranscript(path: string, kind: "codex" | "claude", opts: { extraRoots?: string[]; header?: boolean } = {}): Promise<TranscriptInspection> {
    return inspectTranscript(path, kind, [...this.roots[kind], ...(opts.extraRoots ?? [])], { header: opts.header });
  }

  /** The pid and its ancestors, the pid first; [] when it is not running. */
  processAncestry(pid: number): Promise<number[]> {
    return ancestry(pid);
  }

  /**
   * See Host.verifyPane. The pane's pid must be the agent's pid or one of its ancestors, the
   * agent must be the process registered (same start time), and, when a transcript is given,
   * the agent's own process tree must hold it (strict discovery). A positive answer is cached
   * for PANE_CHECK_TTL_MS per pane pid, so a burst of nudges asks lsof once.
   */
  async verifyPane(target: string, agent: PaneAgent): Promise<PaneCheck> {
    if (!/^[A-Za-z0-9_][A-Za-z0-9_-]*$/.test(target)) return { ok: false, reason: `'${target}' is not a plain tmux session name` };
    const panePid = await this.tmux.panePid(target);
    if (panePid === null) return { ok: false, missing: true, reason: `tmux session '${target}' not found` };
    const key = `${target}\0${panePid}\0${agent.pid}\0${agent.startedAt ?? ""}\0${agent.transcriptPath ?? ""}`;
    const until = this.paneChecks.get(key);
    if (until !== undefined && until > Date.now()) return { ok: true, panePid };
    if (!(await this.pidAlive(agent.pid, agent.startedAt)))
      return { ok: false, reason: `the agent process ${agent.pid} registered for '${target}' is no longer running` };
    if (!(await ancestry(agent.pid)).includes(panePid)) {
      return { ok: false, reason: `tmux session '${target}' runs pid ${panePid}, which is neither the agent (pid ${agent.pid}) nor its ancestor` };
    }
    if (agent.transcriptPath) {
      const found = await this.discoverTranscript(agent.pid, { strict: true });
      const want = await realpath(agent.transcriptPath).catch(() => agent.transcriptPath);
      const held = found ? [found.path, ...(found.alternatives ?? [])] : [];
      if (!held.includes(want!))
        return { ok: false, reason: `the agent (pid ${agent.pid}) in '${target}' does not hold its transcript '${agent.transcriptPath}'` };
    }
    if (this.paneChecks.size > 1000) this.paneChecks.clear();
    this.paneChecks.set(key, Date.now() + PANE_CHECK_TTL_MS);
    return { ok: true, panePid };
  }

  /** Plugin directories (with a plugin.md) under dir; see host/commands.ts. */
  listPlugins(dir: string): Promise<PluginFile[]> {
    return listPlugins(dir);
  }

  /** `<home>/plugins` when the local services set it. */
  defaultPluginDir(): string | null {
    return this.pluginDir;
  }

  /** Runs argv with a stripped environment and a timeout; see host/commands.ts. */
  runCommand(argv: string[], opts: { cwd: string; timeoutMs: number; env?: Record<string, string>; maxOutputBytes?: number }): Promise<CommandOutcome> {
    return runCommand(argv, opts);
  }

  /** Git evidence of a worktree (branch, HEAD, commits ahead of base, dirty tracked files). */
  gitEvidence(dir: string, base: string): Promise<GitEvidence> {
    return gitEvidence(dir, base);
  }

  /** Commits everything uncommitted on the current branch; never resets, deletes or pushes. */
  gitCommitAll(dir: string, message: string, author: { name: string; email: string }) {
    return gitCommitAll(dir, message, author);
  }

  /** Newest modification time under dir (skipping .git and node_modules). */
  newestActivity(dir: string, opts?: { maxEntries?: number }) {
    return newestActivity(dir, opts);
  }

  /** Up to maxBytes of a text file, or null when it does not exist. */
  readTextFile(path: string, maxBytes: number): Promise<string | null> {
    return readTextFile(path, maxBytes);
  }

  /** New files under an existing directory, never outside it (export-task). */
  writeFilesUnder(dir: string, files: Array<{ name: string; bytes: Uint8Array }>): Promise<string[]> {
    return writeFilesUnder(dir, files);
  }

  /** Whether a server listens on 127.0.0.1:port, and whether it is a Switchyard (doctor). */
  probePort(port: number) {
    return probePort(port);
  }

  /** True when `path` exists and is a regular file. */
  fileExists(path: string): Promise<boolean> {
    return fileExists(path);
  }

  /** Start time in ms since the epoch; null when the pid is not running or is a zombie. */
  pidStartTime(pid: number): Promise<number | null> {
    return pidStartTime(pid, this.bootClock);
  }

  /**
   * True when the pid runs and is not a zombie, and, when `startedAt` is given, started then
   * (within START_TIME_TOLERANCE_MS): a recycled pid reports dead.
   */
  async pidAlive(pid: number, startedAt?: number | null): Promise<boolean> {
    const now = await pidStartTime(pid, this.bootClock);
    if (now === null) return false;
    return startedAt == null || Math.abs(now - startedAt) < START_TIME_TOLERANCE_MS;
  }

  /** See Host.agentKeyboardBlocker: asked afresh every time, never cached. */
  async agentKeyboardBlocker(pid: number, startedAt?: number | null): Promise<string | null> {
    if (!(await this.pidAlive(pid, startedAt))) return `the agent (pid ${pid}) is no longer running`;
    return keyboardBlocker(pid);
  }

  /** Size, `dev:ino` identity and mtime of a regular file; null when absent. */
  fileInfo(path: string): Promise<FileInfo | null> {
    return fileInfo(path);
  }

  /** Up to `length` raw bytes at `offset` (one open/read/close); FILE_NOT_FOUND when absent. */
  readBytes(path: string, offset: number, length: number): Promise<Uint8Array> {
    return readBytes(path, offset, length);
  }

  prepareTranscriptChunk(job: TranscriptChunkJob): Promise<PreparedTranscriptChunk> | null {
    return transcriptParser().prepare(job);
  }

  /**
   * Finds the Codex rollout or Claude Code transcript of the agent `pid` runs (see
   * host/discovery.ts for the search order). Found: a file held open by the pid, a
   * descendant, a re-parented member of its session or process group (Linux, also after the
   * pid exited), a setsid'd daemon started from the same tmux pane (Linux), or a shared
   * daemon's transcript recording the pid's cwd; a Claude Code transcript through the
   * `sessions/<pid>.json` file Claude writes (it never keeps the transcript open). Not found:
   * a setsid'd daemon whose launcher exited outside tmux when it records another cwd, a
   * resumed (older) transcript held only by an unrelated shared daemon, anything of a dead
   * pid beyond its former session/group. `alternatives` is set when several fit equally.
   */
  async discoverTranscript(pid: number, opts: { strict?: boolean } = {}): Promise<DiscoveredTranscript | null> {
    // Checked once up front so a host without lsof fails the same way whatever the pid.
    if (!this.lsofChecked) {
      if ((await this.lsofVersion()) === null) throw lsofMissing(this.lsofBin);
      this.lsofChecked = true;
    }
    const found = await discoverTranscript(pid, {
      lsofBin: this.lsofBin,
      timeoutMs: this.timeoutMs,
      claudeConfigDir: this.claudeConfigDir,
      strict: opts.strict,
    });
    if (!found) return null;
    // Resolved, so a path found here compares equal to one checked by inspectTranscript.
    const real = (p: string) => realpath(p).catch(() => p);
    const out: DiscoveredTranscript = { ...found, path: await real(found.path) };
    if (found.alternatives) out.alternatives = await Promise.all(found.alternatives.map(real));
    return out;
  }

  /** tmux and lsof availability and versions; never throws for a missing tool. */
  async capabilities(): Promise<HostCapabilities> {
    const [tmux, lsof] = await Promise.all([this.tmux.versionString(), this.lsofVersion()]);
    return {
      tmux: { available: tmux !== null, version: tmux },
      lsof: { available: lsof !== null, version: lsof },
      platform: process.platform,
    };
  }

  /** Creates a detached session running `command` without a shell; see Tmux.newSession. */
  tmuxNewSession(opts: NewSessionOptions): Promise<void> {
    return this.tmux.newSession(opts);
  }

  /** True when a session with exactly this name exists ('w1' never matches 'w10'). */
  tmuxHasSession(name: string): Promise<boolean> {
    return this.tmux.hasSession(name);
  }

  /**
   * Sends one tmux key name (Enter, C-c, Escape) or, with `literal`, text typed verbatim. A bare
   * session name targets its first pane; `%N` and `session:window.pane` are accepted too.
   */
  tmuxSendKeys(target: string, keys: string, opts: { literal?: boolean } = {}): Promise<void> {
    return this.tmux.sendKeys(target, keys, opts.literal ?? false);
  }

  /** The target pane's visible text plus `scrollback` lines of history. */
  tmuxCapturePane(target: string, opts: { scrollback?: number } = {}): Promise<string> {
    return this.tmux.capturePane(target, opts.scrollback);
  }

  /** Kills exactly this session; TMUX_SESSION_NOT_FOUND when there is none. */
  tmuxKillSession(name: string): Promise<void> {
    return this.tmux.killSession(name);
  }

  /** Pid of the process in the session's first pane (or the given pane), null when absent. */
  tmuxPanePid(target: string): Promise<number | null> {
    return this.tmux.panePid(target);
  }

  /** What the agent CLI's own status command says about its sign-in (see host/agent-auth.ts). */
  codexThread(rolloutPath: string): Promise<CodexThreadControl | null> {
    return codexThread(rolloutPath);
  }

  agentAuth(kind: "codex" | "claude", launch: { command: string[]; env?: Record<string, string> }): Promise<AgentAuth> {
    return agentAuth(kind, launch, this.timeoutMs);
  }

  /** First line of `lsof -v` ("revision: 4.95.0"), or null when lsof is absent. */
  private async lsofVersion(): Promise<string | null> {
    try {
      // lsof -v prints its version block to stderr and exits 1.
      const r = await execTool(this.lsofBin, ["-v"], { timeoutMs: this.timeoutMs, missing: lsofMissing });
      const m = /revision:\s*(\S+)/.exec(r.stderr + r.stdout);
      return m?.[1] ?? "unknown";
    } catch (e) {
      if (e instanceof HostError && e.code === "LSOF_MISSING") return null;
      throw e;
    }
  }
}
