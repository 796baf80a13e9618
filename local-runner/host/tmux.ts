import { stat } from "node:fs/promises";
import { HostError } from "../../functions/lib/host.ts";
import { paneText } from "../../functions/lib/pane-text.ts";
import { execTool, type ExecResult } from "./exec.ts";

/** Options for creating a detached tmux session. */
export interface NewSessionOptions {
  name: string;
  cwd: string;
  /** Program and arguments, run without a shell; empty runs tmux's default shell. */
  command: string[];
  env?: Record<string, string>;
  width?: number;
  height?: number;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The error for a host without tmux, with how to install it. */
export function tmuxMissing(bin: string): HostError {
  return new HostError(
    "TMUX_MISSING",
    `tmux binary '${bin}' not found or not executable`,
    "Install tmux 3.0 or newer (apt-get install tmux, brew install tmux).",
  );
}

/**
 * tmux treats a command-line argument that ends in ';' as a command separator and strips it;
 * a '\;' ending survives as ';'. Escaping the final ';' makes every argument arrive verbatim.
 */
export function tmuxArg(arg: string): string {
  return arg.endsWith(";") ? `${arg.slice(0, -1)}\\;` : arg;
}

/**
 * Rejects session names tmux would alter or misread: ':' and '.' separate window and pane in
 * targets, '#' starts a format that `new-session -s` expands, and a leading '%' or '=' would be
 * taken for a pane id or an exact-match marker by our own target resolution.
 */
function checkSessionName(name: string): void {
  if (name === "" || /[:.#\x00-\x1f\x7f]/.test(name) || /^[%=]/.test(name)) {
    throw new HostError(
      "COMMAND_FAILED",
      `tmux session name '${name}' is invalid`,
      "Use a non-empty name without ':', '.', '#', control characters or a leading '%' or '='.",
    );
  }
}

/** Parses `tmux -V` output ("tmux 3.3a", "tmux next-3.4", "tmux openbsd-7.4") to [major, minor]. */
export function parseTmuxVersion(text: string): [number, number] | null {
  const m = /(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/**
 * stderr meaning the target is not there: no such session/window/pane, no server at all, or a
 * server left with no sessions (it is shutting down because the last one just ended; our
 * targets are never empty, so "no current target" can only mean that).
 */
const NOT_FOUND =
  /can't find (session|window|pane)|no server running|server exited unexpectedly|no current target|error connecting to .*\((No such file or directory|Connection refused)\)/i;

/** The key names ever sent to a pane: submit, menus, interrupts. */
const KEY_NAMES = /^(?:Enter|Escape|Esc|Up|Down|C-[a-z]|q)$/;

/** Thin typed wrapper over the tmux CLI; every target resolves exactly (no prefix matching). */
export class Tmux {
  private version: string | null = null;

  constructor(
    private readonly bin: string,
    private readonly timeoutMs: number,
  ) {}

  private run(args: string[], maxBuffer?: number, env?: NodeJS.ProcessEnv): Promise<ExecResult> {
    return execTool(this.bin, args.map(tmuxArg), { timeoutMs: this.timeoutMs, missing: tmuxMissing, maxBuffer, env });
  }

  /** Runs a command that must succeed; a missing target becomes TMUX_SESSION_NOT_FOUND naming `target`. */
  private async must(args: string[], target: string, maxBuffer?: number): Promise<string> {
    const r = await this.run(args, maxBuffer);
    if (r.code === 0) return r.stdout;
    const msg = r.stderr.trim();
    if (NOT_FOUND.test(msg)) throw notFound(target);
    throw new HostError("COMMAND_FAILED", `tmux ${args[0]} for '${target}' failed (exit ${r.code}): ${msg}`);
  }

  /**
   * The `tmux -V` string, or null when tmux is not installed. Only a found version is cached,
   * so installing tmux later is noticed without a restart.
   */
  async versionString(): Promise<string | null> {
    if (this.version !== null) return this.version;
    try {
      const r = await this.run(["-V"]);
      if (r.code !== 0) return null;
      this.version = r.stdout.trim();
      return this.version;
    } catch (e) {
      if (e instanceof HostError && e.code === "TMUX_MISSING") return null;
      throw e;
    }
  }

  /**
   * Creates a detached session. A multi-word command is exec'd by tmux directly; a single word
   * would go through `default-shell -c`, so it is wrapped as `sh -c 'exec "$0"' word` to keep
   * it literal. The pane inherits the tmux server's environment, not this process's: pass what
   * the command needs in `env` (tmux ≥ 3.0). PATH is the exception: tmux gives a new pane the
   * PATH of the client that asked for it and ignores `-e PATH`, so an `env.PATH` is handed to
   * the tmux client instead.
   */
  async newSession(opts: NewSessionOptions): Promise<void> {
    checkSessionName(opts.name);
    const st = await stat(opts.cwd).catch(() => null);
    // tmux silently falls back to another directory when -c does not exist.
    if (!st?.isDirectory()) throw new HostError("FILE_NOT_FOUND", `working directory '${opts.cwd}' for tmux session '${opts.name}' not found`);
    // `-c` is format-expanded by tmux, so a literal '#' must be doubled.
    const args = ["new-session", "-d", "-s", opts.name, "-c", opts.cwd.replaceAll("#", "##")];
    if (opts.width !== undefined) args.push("-x", String(checkSize(opts.width, "width")));
    if (opts.height !== undefined) args.push("-y", String(checkSize(opts.height, "height")));
    const env = Object.entries(opts.env ?? {});
    if (env.length > 0) {
      const version = await this.versionString();
      if (version === null) throw tmuxMissing(this.bin);
      const v = parseTmuxVersion(version);
      // `new-session -e` arrived in tmux 3.0; older versions reject the flag.
      if (!v || v[0] < 3)
        throw new HostError("COMMAND_FAILED", `tmux session '${opts.name}': setting env needs tmux 3.0 or newer, found '${version}'`, "Upgrade tmux.");
      for (const [k, val] of env) {
        if (!ENV_NAME.test(k)) throw new HostError("COMMAND_FAILED", `tmux session '${opts.name}': environment variable name '${k}' is invalid`);
        args.push("-e", `${k}=${val}`);
      }
    }
    args.push("--");
    if (opts.command.length === 1) args.push("sh", "-c", 'exec "$0"', opts.command[0]!);
    else args.push(...opts.command);
    const r = await this.run(args, undefined, opts.env?.PATH ? { ...process.env, PATH: opts.env.PATH } : undefined);
    if (r.code === 0) return;
    const msg = r.stderr.trim();
    if (/duplicate session/i.test(msg)) throw new HostError("TMUX_SESSION_EXISTS", `tmux session '${opts.name}' already exists`);
    throw new HostError("COMMAND_FAILED", `tmux new-session '${opts.name}' failed (exit ${r.code}): ${msg}`);
  }

  /** True when a session with exactly this name exists. */
  async hasSession(name: string): Promise<boolean> {
    checkSessionName(name);
    const r = await this.run(["has-session", "-t", `=${name}:`]);
    if (r.code === 0) return true;
    if (NOT_FOUND.test(r.stderr)) return false;
    throw new HostError("COMMAND_FAILED", `tmux has-session for '${name}' failed (exit ${r.code}): ${r.stderr.trim()}`);
  }

  /** Kills the session with exactly this name; TMUX_SESSION_NOT_FOUND when there is none. */
  async killSession(name: string): Promise<void> {
    checkSessionName(name);
    await this.must(["kill-session", "-t", `=${name}:`], name);
  }

  /**
   * Sends one key name (Enter, C-c, Escape, Up, Down) or, with `literal`, text typed verbatim.
   * Literal text must already be free of control bytes (lib/pane-text.ts): with -l, tmux would
   * turn ESC into the Escape key and 0x03 into Ctrl-C. Key names are a closed list, so a text
   * can never be smuggled in as keys either.
   */
  async sendKeys(target: string, keys: string, literal: boolean): Promise<void> {
    if (literal && paneText(keys) !== keys) {
      throw new HostError("COMMAND_FAILED", `refusing to type text with control characters into '${target}'`, "Text is typed literally; send keys by name.");
    }
    if (!literal && !KEY_NAMES.test(keys)) {
      throw new HostError(
        "COMMAND_FAILED",
        `'${keys.slice(0, 40)}' is not a key this host sends to '${target}'`,
        "Send text with literal typing, keys by name (Enter, Escape, Up, Down, C-<letter>, q).",
      );
    }
    const pane = await this.resolvePane(target);
    await this.must(["send-keys", "-t", pane.id, ...(literal ? ["-l"] : []), "--", keys], target);
  }

  /** The pane's visible text plus `scrollback` lines of history. */
  async capturePane(target: string, scrollback?: number): Promise<string> {
    const pane = await this.resolvePane(target);
    const args = ["capture-pane", "-p", "-t", pane.id];
    if (scrollback !== undefined && scrollback > 0) args.push("-S", String(-Math.floor(scrollback)));
    return this.must(args, target, 64 * 1024 * 1024);
  }

  /** Pid of the target pane's process, or null when the session or pane does not exist. */
  async panePid(target: string): Promise<number | null> {
    try {
      return (await this.resolvePane(target)).pid;
    } catch (e) {
      if (e instanceof HostError && e.code === "TMUX_SESSION_NOT_FOUND") return null;
      throw e;
    }
  }

  /**
   * Resolves a target to one pane. A bare session name means the session's first pane (lowest
   * window, then pane index) rather than whichever pane is active, so a human splitting the
   * window never redirects keystrokes meant for the agent. `%N` pane ids and
   * `session:window.pane` targets are honoured, the session part matched exactly.
   */
  private async resolvePane(target: string): Promise<{ id: string; pid: number }> {
    const format = "#{window_index}\t#{pane_index}\t#{pane_id}\t#{pane_pid}";
    let out: string;
    let want: string | null = null;
    if (/^%\d+$/.test(target) || target.includes(":")) {
      const exact = target.startsWith("%") || target.startsWith("=") ? target : `=${target}`;
      // list-panes fails for a target that does not resolve (display-message would quietly fall
      // back to the current pane) but lists the target's whole window, so display-message then
      // names which of those panes the target is.
      out = await this.must(["list-panes", "-t", exact, "-F", format], target);
      want = (await this.must(["display-message", "-p", "-t", exact, "#{pane_id}"], target)).trim();
    } else {
      checkSessionName(target);
      // The trailing ':' makes tmux resolve `=name` as a session only; without it a missing
      // session can fall back to a window lookup and land on another session.
      out = await this.must(["list-panes", "-s", "-t", `=${target}:`, "-F", format], target);
    }
    const panes = parsePanes(out).filter((p) => want === null || p.id === want);
    panes.sort((a, b) => a.window - b.window || a.pane - b.pane);
    const first = panes[0];
    if (!first) throw notFound(target);
    return first;
  }
}

/** TMUX_SESSION_NOT_FOUND naming the target as the caller gave it: a session, or an explicit pane. */
function notFound(target: string): HostError {
  const what = /^%\d+$/.test(target) || target.includes(":") ? "pane" : "session";
  return new HostError(
    "TMUX_SESSION_NOT_FOUND",
    `tmux ${what} '${target}' not found`,
    "`tmux ls` lists the sessions that exist. If the agent has ended, mark it gone with `switchyard stop NAME`; if it runs under another tmux name, register it again with that --tmux-session.",
  );
}

function checkSize(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1 || n > 10000) throw new HostError("COMMAND_FAILED", `tmux ${what} ${n} is invalid: expected an integer from 1 to 10000`);
  return n;
}

/** Parses list-panes output in the format window\tpane\tid\tpid. */
function parsePanes(out: string): { window: number; pane: number; id: string; pid: number }[] {
  const panes = [];
  for (const line of out.split("\n")) {
    const [w, p, id, pid] = line.split("\t");
    if (id === undefined || pid === undefined || !/^%\d+$/.test(id)) continue;
    panes.push({ window: Number(w), pane: Number(p), id, pid: Number(pid) });
  }
  return panes;
}
