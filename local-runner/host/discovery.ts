import { readdir, readFile, realpath, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, dirname, join, resolve, sep } from "node:path";
import { HostError, type DiscoveredTranscript } from "../../functions/lib/host.ts";
import { execTool } from "./exec.ts";
import { readBytes } from "./files.ts";
import { pidStartTime, procTable, readEnviron, withDescendants, type ProcInfo } from "./procs.ts";

/** The error for a host without lsof, with how to install it. */
export function lsofMissing(bin: string): HostError {
  return new HostError("LSOF_MISSING", `lsof binary '${bin}' not found or not executable`, "Install lsof (apt-get install lsof; it ships with macOS).");
}

/**
 * One file a process has open, from lsof field output; `fd` is "cwd", "txt", "3", …; `access`
 * is lsof's mode letter ("r", "w", "u") or "" where lsof gives none (cwd, txt, mem).
 */
export interface OpenFile {
  pid: number;
  fd: string;
  access: string;
  path: string;
}

/**
 * Parses `lsof -F fan` output: a `p<pid>` line starts each process, an `f<fd>` line each file,
 * `a<mode>` gives its access mode and `n<name>` names it; other field lines are skipped.
 */
export function parseLsofFields(out: string): OpenFile[] {
  const files: OpenFile[] = [];
  let pid: number | null = null;
  let fd = "";
  let access = "";
  for (const line of out.split("\n")) {
    if (line.startsWith("p")) {
      const n = Number(line.slice(1));
      pid = Number.isInteger(n) && n > 0 ? n : null;
      fd = "";
      access = "";
    } else if (line.startsWith("f")) {
      fd = line.slice(1);
      access = "";
    } else if (line.startsWith("a")) {
      access = line.slice(1).trim();
    } else if (line.startsWith("n") && pid !== null) {
      files.push({ pid, fd, access, path: line.slice(1) });
    }
  }
  return files;
}

/** Lists the files the given pids hold open; pids that have exited are skipped by lsof. */
async function lsofOpenFiles(bin: string, pids: number[], timeoutMs: number): Promise<OpenFile[]> {
  if (pids.length === 0) return [];
  // -w: no warnings on stderr; -n/-P: no DNS or port-name lookups for sockets.
  const r = await execTool(bin, ["-w", "-n", "-P", "-F", "fan", "-p", pids.join(",")], {
    timeoutMs,
    missing: lsofMissing,
    label: `lsof for pids ${pids.join(",")}`,
  });
  // lsof exits 1 when some pid has gone or nothing matched, still printing what it found.
  if (r.code !== 0 && r.code !== 1) throw new HostError("COMMAND_FAILED", `lsof for pids ${pids.join(",")} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return parseLsofFields(r.stdout);
}

/**
 * Classifies a path as an agent transcript: a Codex rollout is `rollout-*.jsonl` anywhere under
 * a `sessions` directory ($CODEX_HOME/sessions/YYYY/MM/DD/); a Claude Code transcript is a
 * `*.jsonl` directly inside `projects/<slug>/` of `~/.claude` or of `claudeConfigDir`
 * (subagent transcripts nested deeper are not the session's own).
 */
export function transcriptKind(path: string, claudeConfigDir?: string): DiscoveredTranscript["kind"] | null {
  if (!path.startsWith(sep) || !path.endsWith(".jsonl")) return null;
  const parts = path.split(sep);
  const name = basename(path);
  if (name.startsWith("rollout-") && parts.slice(0, -1).includes("sessions")) return "codex";
  const projects = dirname(dirname(path));
  if (basename(projects) === "projects") {
    const root = dirname(projects);
    if (basename(root) === ".claude" || (claudeConfigDir && resolve(claudeConfigDir) === root)) return "claude";
  }
  return null;
}

/** What a transcript records about its session near its start; null where it says nothing. */
export interface TranscriptHeader {
  cwd: string | null;
  /** ms since the epoch of the first timestamp written. */
  startedAt: number | null;
}

function firstString(text: string, key: string): string | null {
  const m = new RegExp(`"${key}"\\s*:\\s*"((?:[^"\\\\]|\\\\.)*)"`).exec(text);
  if (!m) return null;
  try {
    return JSON.parse(`"${m[1]}"`) as string;
  } catch {
    return null;
  }
}

/**
 * Reads the first "cwd" and "timestamp" fields from the start of a transcript (a Codex
 * session_meta line, or any early Claude Code line). A regex rather than a JSON parse because
 * the first line can be cut anywhere by the read window.
 */
export function parseTranscriptHeader(text: string): TranscriptHeader {
  const ts = firstString(text, "timestamp");
  const t = ts === null ? Number.NaN : Date.parse(ts);
  return { cwd: firstString(text, "cwd"), startedAt: Number.isFinite(t) ? t : null };
}

const HEADER_WINDOW = 64 * 1024;

async function readHeader(path: string): Promise<TranscriptHeader> {
  try {
    return parseTranscriptHeader(new TextDecoder().decode(await readBytes(path, 0, HEADER_WINDOW)));
  } catch {
    return { cwd: null, startedAt: null };
  }
}

/** True when a transcript's recorded cwd is `cwd` (the kernel's resolved path, as lsof gives it). */
async function sameDir(recorded: string | null, cwd: string): Promise<boolean> {
  if (recorded === null) return false;
  return recorded === cwd || (await realpath(recorded).catch(() => recorded)) === cwd;
}

/** The tmux pane a process was started in, as inherited environment; identifies the pane on its server. */
const PANE_KEYS = ["TMUX", "TMUX_PANE"];

/**
 * Slack when comparing a transcript's first timestamp with its agent's start time: /proc start
 * times rest on a whole-second boot time.
 */
const START_SLACK_MS = 2000;

/**
 * (Linux) Processes in the pid's session or process group, or in the session or group it led,
 * and their descendants. Ids 0 and 1 are the kernel's and init's, where everything would match.
 */
function groupMates(table: ProcInfo[], pid: number, self: ProcInfo | undefined): number[] {
  if (process.platform !== "linux") return [];
  const sessions = new Set([pid, self?.session].filter((s): s is number => typeof s === "number" && s > 1));
  const groups = new Set([pid, self?.pgrp].filter((g): g is number => typeof g === "number" && g > 1));
  const members = table.filter((p) => (p.session !== null && sessions.has(p.session)) || (p.pgrp !== null && groups.has(p.pgrp))).map((p) => p.pid);
  return withDescendants(table, members);
}

/** (Linux) Processes whose inherited TMUX and TMUX_PANE equal the pid's, and their descendants. */
async function paneMates(table: ProcInfo[], pid: number, exclude: Set<number>): Promise<number[]> {
  if (process.platform !== "linux") return [];
  const mine = await readEnviron(pid, PANE_KEYS);
  if (!mine?.TMUX || !mine.TMUX_PANE) return [];
  const matches: number[] = [];
  await Promise.all(
    table.map(async (p) => {
      if (exclude.has(p.pid) || p.state === "Z") return;
      const env = await readEnviron(p.pid, PANE_KEYS);
      if (env?.TMUX === mine.TMUX && env.TMUX_PANE === mine.TMUX_PANE) matches.push(p.pid);
    }),
  );
  return withDescendants(table, matches).filter((p) => !exclude.has(p));
}

interface Candidate {
  path: string;
  kind: DiscoveredTranscript["kind"];
  holderPid: number;
  mtimeMs: number;
}

/**
 * The distinct transcripts among open files, each with its first holder in `files` order. A
 * transcript open only for reading is not the holder's own: an agent appends to its own, while
 * a starting Codex reads every other rollout under its CODEX_HOME for a moment (measured on
 * 0.169: O_RDONLY, about a second after start), so a read-only holder would pass another
 * session's rollout off as the new agent's.
 */
async function transcriptsIn(files: OpenFile[], claudeConfigDir?: string): Promise<Candidate[]> {
  const out: Candidate[] = [];
  const seen = new Set<string>();
  for (const f of files) {
    if (f.access === "r" || seen.has(f.path)) continue;
    seen.add(f.path);
    const kind = transcriptKind(f.path, claudeConfigDir);
    if (!kind) continue;
    const st = await stat(f.path).catch(() => null);
    if (st?.isFile()) out.push({ path: f.path, kind, holderPid: f.pid, mtimeMs: st.mtimeMs });
  }
  return out;
}

/** What candidates are judged against: the agent's cwd and whether it runs in a terminal. */
interface Subject {
  cwd: string | null;
  tty: boolean;
  /** Whether a holder pid has a controlling terminal. */
  ttyOf: Map<number, boolean>;
}

/**
 * One answer from a step's candidates, or null when none is acceptable. A daemon (no
 * terminal) holding files for an agent that runs in a terminal may be serving other agents
 * too (a shared Codex app-server), so its transcripts must not record another cwd. Several
 * remaining are narrowed to those recording the cwd when any do; the most recently modified
 * wins and the rest become `alternatives`.
 */
async function pick(cands: Candidate[], subject: Subject): Promise<DiscoveredTranscript | null> {
  const { cwd } = subject;
  let pool: Candidate[] = [];
  for (const c of cands) {
    const foreign = cwd !== null && subject.tty && subject.ttyOf.get(c.holderPid) === false;
    if (!foreign || (await recordsCwd(c, cwd, true))) pool.push(c);
  }
  if (pool.length > 1 && cwd !== null) {
    const here = [];
    for (const c of pool) if (await recordsCwd(c, cwd)) here.push(c);
    if (here.length > 0) pool = here;
  }
  pool.sort((a, b) => b.mtimeMs - a.mtimeMs);
  const [best, ...rest] = pool;
  if (!best) return null;
  const found: DiscoveredTranscript = { path: best.path, kind: best.kind, holderPid: best.holderPid };
  if (rest.length > 0) found.alternatives = rest.map((c) => c.path);
  return found;
}

/** True when the transcript records `cwd`; with `orUnknown`, also when it records none. */
async function recordsCwd(c: Candidate, cwd: string, orUnknown = false): Promise<boolean> {
  const recorded = (await readHeader(c.path)).cwd;
  return recorded === null ? orUnknown : sameDir(recorded, cwd);
}

/**
 * Claude Code opens its transcript only to append, so lsof rarely sees it. Instead each
 * interactive process writes `<config>/sessions/<pid>.json` naming its sessionId, and the
 * transcript is `<config>/projects/<slug of cwd>/<sessionId>.jsonl`. The config dir comes from
 * the process's own CLAUDE_CONFIG_DIR or HOME (Linux environ), else this host's setting. A
 * session file older than its pid's process is a stale one from a recycled pid and is ignored.
 * The candidate's holderPid is then the Claude process that writes the file.
 */
async function claudeSessionTranscript(pids: number[], claudeConfigDir?: string): Promise<Candidate[]> {
  const out: Candidate[] = [];
  for (const pid of pids) {
    const env = process.platform === "linux" ? await readEnviron(pid, ["CLAUDE_CONFIG_DIR", "HOME"]) : null;
    const dirs = [env?.CLAUDE_CONFIG_DIR, env?.HOME && join(env.HOME, ".claude"), claudeConfigDir, join(homedir(), ".claude")];
    for (const dir of new Set(dirs.filter((d): d is string => !!d))) {
      const session = await readClaudeSession(join(dir, "sessions", `${pid}.json`));
      if (!session || session.pid !== pid) continue;
      const started = await pidStartTime(pid);
      if (started === null || session.startedAt < started - START_SLACK_MS) continue;
      const found = await findClaudeTranscript(dir, session.sessionId);
      if (found) out.push({ path: found.path, kind: "claude", holderPid: pid, mtimeMs: found.mtimeMs });
      break;
    }
  }
  return out;
}

async function readClaudeSession(path: string): Promise<{ pid: number; sessionId: string; startedAt: number } | null> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, "utf8"));
  } catch {
    return null;
  }
  const r = raw as { pid?: unknown; sessionId?: unknown; startedAt?: unknown };
  if (typeof r.pid !== "number" || typeof r.sessionId !== "string" || typeof r.startedAt !== "number") return null;
  // The id becomes a file name: refuse anything that could leave the projects dir.
  if (!/^[A-Za-z0-9-]+$/.test(r.sessionId)) return null;
  return { pid: r.pid, sessionId: r.sessionId, startedAt: r.startedAt };
}

/** `<config>/projects/<any slug>/<sessionId>.jsonl`; scanning avoids re-deriving Claude's slug rule. */
async function findClaudeTranscript(configDir: string, sessionId: string): Promise<{ path: string; mtimeMs: number } | null> {
  const projects = join(configDir, "projects");
  const slugs = await readdir(projects).catch(() => [] as string[]);
  for (const slug of slugs) {
    const path = join(projects, slug, `${sessionId}.jsonl`);
    const st = await stat(path).catch(() => null);
    if (st?.isFile()) return { path, mtimeMs: st.mtimeMs };
  }
  return null;
}

/**
 * Finds the transcript of the agent `pid` runs, trying in order and stopping at the first hit:
 * 1. files held open by the pid and its descendants (a Codex TUI, or the app-server daemon it
 *    started while that TUI lives);
 * 2. the Claude Code session file of the pid or a descendant (see `claudeSessionTranscript`);
 * 3. (Linux) files held by members of the pid's session or process group, or of the session
 *    or group it led, and their descendants: daemons re-parented to init that never called
 *    setsid. Works after `pid` has exited: Linux keeps a session or group id from being
 *    reused while any member lives;
 * 4. (Linux, pid alive inside tmux) files held by processes whose inherited TMUX/TMUX_PANE
 *    equal the pid's: setsid'd daemons started from the same pane whose launcher exited;
 * 5. (pid alive) files held by daemons of the same user (no controlling terminal), such as a
 *    Codex app-server shared by several TUIs and started by another one. Nothing ties such a
 *    daemon to this pid, so only transcripts recording the pid's cwd and begun after the pid
 *    started count.
 * Steps 4 and 5 scan every process, so they run only when the earlier ones find nothing.
 * With `strict`, only steps 1 and 2 run.
 * Several transcripts in one step (a shared daemon) are narrowed to those recording the
 * pid's cwd; if more than one remains, the most recently modified is returned with the
 * others as `alternatives`. Null when nothing is found (typically: no prompt typed yet).
 */
export async function discoverTranscript(
  pid: number,
  opts: { lsofBin: string; timeoutMs: number; claudeConfigDir?: string; strict?: boolean },
): Promise<DiscoveredTranscript | null> {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const table = await procTable();
  const self = table.find((p) => p.pid === pid && p.state !== "Z");
  const tried = new Set<number>();
  let cwd: string | null = null;
  const search = async (pids: number[]): Promise<Candidate[]> => {
    // This process may itself be reading a transcript (ingest); that is not the agent's.
    const fresh = pids.filter((p) => !tried.has(p) && p !== process.pid);
    for (const p of fresh) tried.add(p);
    if (fresh.length === 0) return [];
    const files = await lsofOpenFiles(opts.lsofBin, fresh, opts.timeoutMs);
    cwd ??= files.find((f) => f.pid === pid && f.fd === "cwd")?.path ?? null;
    // Keep the tier's order so the first holder of a shared file is the closest relative.
    const rank = new Map(fresh.map((p, i) => [p, i]));
    files.sort((a, b) => (rank.get(a.pid) ?? 0) - (rank.get(b.pid) ?? 0));
    return transcriptsIn(files, opts.claudeConfigDir);
  };
  const tree = self ? withDescendants(table, [pid]) : [];
  const sharedDaemons = async (): Promise<Candidate[]> => {
    if (!self || cwd === null) return [];
    const here = cwd;
    const daemons = table.filter((p) => !p.tty && p.uid !== null && p.uid === self.uid && p.state !== "Z").map((p) => p.pid);
    const started = await pidStartTime(pid);
    const theirs: Candidate[] = [];
    for (const c of await search(daemons)) {
      const h = await readHeader(c.path);
      if (h.startedAt !== null && started !== null && h.startedAt >= started - START_SLACK_MS && (await sameDir(h.cwd, here))) theirs.push(c);
    }
    return theirs;
  };
  const steps: (() => Promise<Candidate[]>)[] = [
    () => search(tree),
    () => claudeSessionTranscript(tree, opts.claudeConfigDir),
    // Strict (registration, pane checks): a process of the same Unix session, process group or
    // pane that is not a descendant may be anyone's; only the pid's own tree is proof.
    ...(opts.strict ? [] : [() => search(groupMates(table, pid, self)), async () => (self ? search(await paneMates(table, pid, tried)) : []), sharedDaemons]),
  ];
  const ttyOf = new Map(table.map((p) => [p.pid, p.tty]));
  for (const step of steps) {
    const cands = await step();
    // `cwd` is learnt from the first lsof answer, so the subject is built after each step.
    const found = await pick(cands, { cwd, tty: self?.tty ?? false, ttyOf });
    if (found) return found;
  }
  return null;
}
