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

  /** Size and identity of a file, or null when it does not exist. */
  fileInfo(path: string): Promise<FileInfo | null>;
  /** Reads up to `length` bytes starting at `offset`. */
  readBytes(path: string, offset: number, length: number): Promise<Uint8Array>;

  /**
   * Finds the agent transcript a process has open: searches the pid, its descendants, and
   * agent daemons it spawned that outlived it (Codex keeps its rollout open in a child
   * `codex app-server`). Null when none is open yet.
   */
  discoverTranscript(pid: number): Promise<DiscoveredTranscript | null>;

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
