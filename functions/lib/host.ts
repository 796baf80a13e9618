/**
 * Capabilities only a local runner can provide (tmux, lsof, pids, files). Functions receive
 * them through `ctx.host` and must degrade with HOST_UNAVAILABLE when it is absent.
 * The Node implementation is local-runner/host.ts; every method fails with a HostError.
 */
export interface Host {
  /** True when `path` exists and is a regular file. */
  fileExists(path: string): Promise<boolean>;
  /** True when a process with this pid is running (and, when given, started at `startedAt`). */
  pidAlive(pid: number, startedAt?: number | null): Promise<boolean>;
  /** Start time of a process in ms since the epoch, or null when it is not running. */
  pidStartTime(pid: number): Promise<number | null>;
  /**
   * Why text typed into the terminal of the agent `pid` (started at `startedAt`, when given)
   * would not reach it: it is gone, stopped (C-z), or another process group has its terminal's
   * foreground (the shell it was started from, after it stopped). Null when it would.
   */
  agentKeyboardBlocker(pid: number, startedAt?: number | null): Promise<string | null>;

  /** Size and identity of a file, or null when it does not exist. */
  fileInfo(path: string): Promise<FileInfo | null>;
  /** Reads up to `length` bytes starting at `offset`. */
  readBytes(path: string, offset: number, length: number): Promise<Uint8Array>;
  /**
   * Parses and normalises one span of transcript lines for ingest off the main thread, so the
   * parse of one chunk overlaps the database's insert of the one before it. Returns exactly what
   * `prepareTranscriptChunk` (functions/observe/ingest-chunk.ts) returns for the job, or null when
   * the caller should run that itself (a small job, or no parser thread ready yet). Optional.
   */
  prepareTranscriptChunk?(job: TranscriptChunkJob): Promise<PreparedTranscriptChunk> | null;

  /**
   * Finds the agent transcript a process has open: searches the pid, its descendants, and
   * agent daemons it spawned that outlived it (Codex keeps its rollout open in a child
   * `codex app-server`). Null when none is open yet. With `strict`, only transcripts held by
   * the pid or its descendants (or named by a Claude session file of one of them) count: what
   * registration and pane checks accept as proof that the file is this agent's.
   */
  discoverTranscript(pid: number, opts?: { strict?: boolean }): Promise<DiscoveredTranscript | null>;

  /**
   * Checks a transcript path before anything reads it: it must resolve (after symlinks) to a
   * regular file under one of the agent kind's transcript roots on this host (plus
   * `extraRoots`), and, with `header`, start with that agent's records. Never throws for a
   * path that is missing or not allowed; says which in `reason`.
   */
  inspectTranscript(path: string, kind: "codex" | "claude", opts?: { extraRoots?: string[]; header?: boolean }): Promise<TranscriptInspection>;

  /** The pid and its ancestors (by parent pid), the pid first; [] when it is not running. */
  processAncestry(pid: number): Promise<number[]>;

  /**
   * Whether a tmux session's pane belongs to an agent: the pane's pid is the agent's pid or an
   * ancestor of it, the agent is still the process that started then, and (when given) it
   * holds its transcript. Checked before anything is typed into or read from the pane.
   */
  verifyPane(target: string, agent: PaneAgent): Promise<PaneCheck>;

  /** Which external tools this host has (tmux, lsof). */
  capabilities(): Promise<HostCapabilities>;

  tmuxNewSession(opts: { name: string; cwd: string; command: string[]; env?: Record<string, string>; width?: number; height?: number }): Promise<void>;
  tmuxHasSession(name: string): Promise<boolean>;
  /** Sends keys. `literal` sends the text as typed characters (tmux send-keys -l). */
  tmuxSendKeys(target: string, keys: string, opts?: { literal?: boolean }): Promise<void>;
  /** The visible pane text (plus `scrollback` lines of history). */
  tmuxCapturePane(target: string, opts?: { scrollback?: number }): Promise<string>;
  tmuxKillSession(name: string): Promise<void>;
  /** Pid of the process running in the session's first pane, or null. */
  tmuxPanePid(target: string): Promise<number | null>;

  /**
   * The plugin directories under `dir` (each a subdirectory holding a plugin.md), sorted by
   * name, with the text of their plugin.md. Subdirectories that resolve (after symlinks)
   * outside `dir` are skipped. An absent `dir` has no plugins.
   */
  listPlugins(dir: string): Promise<PluginFile[]>;
  /** The host's default plugin directory (e.g. `<home>/plugins`), or null. */
  defaultPluginDir(): string | null;
  /**
   * Runs a program with an argument array (never a shell) in `cwd`, with exactly the given
   * environment plus PATH, HOME and LANG, killed after `timeoutMs`; output is capped.
   */
  runCommand(argv: string[], opts: { cwd: string; timeoutMs: number; env?: Record<string, string>; maxOutputBytes?: number }): Promise<CommandOutcome>;

  /**
   * Git evidence of a worktree: whether `dir` is inside a repository, its branch and HEAD,
   * commits ahead of `base` (null when base does not resolve), and tracked files with changes.
   */
  gitEvidence(dir: string, base: string): Promise<GitEvidence>;
  /**
   * Commits everything uncommitted in the worktree (tracked changes and new, unignored files)
   * on its current branch with `message`, as `author`. Never resets, deletes or pushes.
   */
  gitCommitAll(dir: string, message: string, author: { name: string; email: string }): Promise<{ committed: boolean; sha: string | null; files: string[] }>;
  /**
   * The newest modification time under `dir` (skipping .git and node_modules), looking at no
   * more than `maxEntries` entries; null when nothing was found.
   */
  newestActivity(dir: string, opts?: { maxEntries?: number }): Promise<{ mtimeMs: number; path: string; scanned: number } | null>;
  /** Up to `maxBytes` of a text file, or null when it does not exist. */
  readTextFile(path: string, maxBytes: number): Promise<string | null>;
  /**
   * Creates new files under an existing directory `dir` (names are relative paths without `..`;
   * every parent resolves, after symlinks, under `dir`; existing files are never overwritten).
   * Optional: a host without it cannot export. Returns the absolute paths written.
   */
  writeFilesUnder?(dir: string, files: Array<{ name: string; bytes: Uint8Array }>): Promise<string[]>;
  /** Whether 127.0.0.1:port accepts connections, and whether a Switchyard answers there. Optional. */
  probePort?(port: number): Promise<{ listening: boolean; switchyard: boolean }>;

  /**
   * Asks an agent CLI whether it is signed in (`codex login status`, `claude auth status`), run
   * with the environment it would be spawned with. Optional: a host without it cannot tell.
   */
  agentAuth?(kind: "codex" | "claude", launch: { command: string[]; env?: Record<string, string> }): Promise<AgentAuth>;

  /**
   * Native control of a Codex thread: when the app-server daemon that serves the thread of
   * this rollout is reachable from here (its control socket under the rollout's CODEX_HOME),
   * a handle that submits and interrupts through the protocol; null otherwise, and the caller
   * falls back to the tmux pane. Optional: hosts without it always use the pane.
   */
  codexThread?(rolloutPath: string): Promise<CodexThreadControl | null>;
}

/** A connection to the app-server serving one Codex thread. */
export interface CodexThreadControl {
  threadId: string;
  /** Adds input to the running turn (turn/steer), or starts a turn when none runs (turn/start). */
  submit(text: string): Promise<{ turn_id: string; via: "turn/steer" | "turn/start" }>;
  /** Interrupts the running turn (turn/interrupt); turn_id is null when none was running. */
  interrupt(): Promise<{ turn_id: string | null }>;
  close(): Promise<void>;
}

/** What an agent CLI says about its sign-in; `signed_in` is null when it could not be asked. */
export interface AgentAuth {
  signed_in: boolean | null;
  /** How it is signed in, or why not / why unknown, in a few words. */
  detail: string;
}

/** One plugin directory found on the host. */
export interface PluginFile {
  name: string;
  dir: string;
  text: string;
}

/** What a command run by `runCommand` did. */
export interface CommandOutcome {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
}

/** What `gitEvidence` found. */
export interface GitEvidence {
  repo: boolean;
  branch: string | null;
  head: string | null;
  base: string;
  /** Commits on HEAD not on base; null when base does not resolve. */
  commitsAhead: number | null;
  /** Tracked files with staged or unstaged changes. */
  dirtyTracked: string[];
  /** New files git does not ignore. */
  untracked: string[];
}

/** One span of complete transcript lines for ingest to parse (functions/observe/ingest-chunk.ts). */
export interface TranscriptChunkJob {
  /**
   * The span, as the start of a line left over from the previous read (`head`, may be empty)
   * and the complete lines after it. The caller does not use either afterwards: a host may take
   * (transfer) their buffers.
   */
  head: Uint8Array;
  bytes: Uint8Array;
  /** The file offset of the span's first byte (`head[0]`, or `bytes[0]` when head is empty). */
  base: number;
  kind: "codex" | "claude";
  /** The previous look at the file (null after a reset) and this ingest's; they bound each line's time. */
  looks: { previous: { size: number; at: number } | null; current: { size: number; at: number } };
  /** Claude: the turn id in force before the first line, carried on to events without one. */
  turn: string | null;
}

/** A parsed span, ready for one INSERT … SELECT FROM json_each. */
export interface PreparedTranscriptChunk {
  /** Non-empty lines seen, including skipped ones. */
  lines: number;
  skipped: number;
  /** The first few warnings; they name offsets and sizes, never a line's content. */
  warnings: string[];
  events: number;
  /**
   * The events as a JSON array of `[offset, seq, kind, subtype, event_at, text, tool, turn_id,
   * lo, hi]` rows, in order; lo/hi bound the line's time on the server's clock.
   */
  rowsJson: string;
  /** The span's evidence on the host's clock offset (functions/observe/clock-skew.ts). */
  skew: { atLeast: number; atMost: number };
  /** Claude: the turn id in force after the last line. */
  turn: string | null;
}

export interface FileInfo {
  size: number;
  /** Device and inode, e.g. "2049:1234567"; changes when a file is replaced. */
  identity: string;
  mtimeMs: number;
}

export interface DiscoveredTranscript {
  path: string;
  kind: "codex" | "claude";
  /** The pid that actually held the file open (may be a descendant or a spawned daemon). */
  holderPid: number;
  /**
   * Other transcripts that fit the pid just as well: a shared agent daemon holds several
   * sessions' transcripts and nothing on the host tells them apart. `path` is then only the
   * most recently modified guess; ask for the path explicitly. Absent when the match is unique.
   */
  alternatives?: string[];
}

/** What `inspectTranscript` found. */
export type TranscriptInspection =
  | {
      ok: true;
      /** The resolved path (symlinks followed), which is what gets stored and read. */
      path: string;
      /** The agent's own conversation id from the first records; null for an empty file. */
      agentSessionId: string | null;
      /** The working directory the transcript records; null when it records none. */
      cwd: string | null;
    }
  | {
      ok: false;
      /** missing: nothing there; not_allowed: outside the roots or not a regular file; not_transcript: wrong content. */
      reason: "missing" | "not_allowed" | "not_transcript";
      message: string;
      /** The roots that were allowed, for the hint. */
      roots: string[];
    };

/** The agent a pane is checked against. */
export interface PaneAgent {
  pid: number;
  /** The agent's start time as recorded at registration; a recycled pid then fails. */
  startedAt?: number | null;
  transcriptPath?: string | null;
}

/** verifyPane's answer; `missing` when the tmux session does not exist at all (gone, not taken over). */
export type PaneCheck = { ok: true; panePid: number } | { ok: false; reason: string; missing?: boolean };

export interface HostCapabilities {
  tmux: { available: boolean; version: string | null };
  lsof: { available: boolean; version: string | null };
  platform: string;
}

export const HOST_ERROR_CODES = [
  "TMUX_MISSING",
  "LSOF_MISSING",
  "TMUX_SESSION_NOT_FOUND",
  "TMUX_SESSION_EXISTS",
  "FILE_NOT_FOUND",
  "COMMAND_FAILED",
  "TIMEOUT",
] as const;
export type HostErrorCode = (typeof HOST_ERROR_CODES)[number];

/** A typed failure of a host capability; messages name the value that failed. */
export class HostError extends Error {
  constructor(
    readonly code: HostErrorCode,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = "HostError";
  }
}
