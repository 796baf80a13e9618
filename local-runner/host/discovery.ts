import { stat } from "node:fs/promises";
import { basename, dirname, resolve, sep } from "node:path";
import { HostError, type DiscoveredTranscript } from "../../functions/lib/host.ts";
import { execTool } from "./exec.ts";
import { procTable, readEnviron, withDescendants, type ProcInfo } from "./procs.ts";

/** The error for a host without lsof, with how to install it. */
export function lsofMissing(bin: string): HostError {
  return new HostError("LSOF_MISSING", `lsof binary '${bin}' not found or not executable`, "Install lsof (apt-get install lsof; it ships with macOS).");
}

/** One file a process has open, from lsof field output. */
export interface OpenFile {
  pid: number;
  path: string;
}

/**
 * Parses `lsof -F n` output: a `p<pid>` line starts each process, `n<name>` lines name its
 * files; other field lines (`f` descriptors and the like) are skipped.
 */
export function parseLsofFields(out: string): OpenFile[] {
  const files: OpenFile[] = [];
  let pid: number | null = null;
  for (const line of out.split("\n")) {
    if (line.startsWith("p")) {
      const n = Number(line.slice(1));
      pid = Number.isInteger(n) && n > 0 ? n : null;
    } else if (line.startsWith("n") && pid !== null) {
      files.push({ pid, path: line.slice(1) });
    }
  }
  return files;
}

/** Lists the files the given pids hold open; pids that have exited are skipped by lsof. */
export async function lsofOpenFiles(bin: string, pids: number[], timeoutMs: number): Promise<OpenFile[]> {
  if (pids.length === 0) return [];
  // -w: no warnings on stderr; -n/-P: no DNS or port-name lookups for sockets.
  const r = await execTool(bin, ["-w", "-n", "-P", "-F", "n", "-p", pids.join(",")], { timeoutMs, missing: lsofMissing });
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

/** The tmux pane a process was started in, as inherited environment; identifies the pane on its server. */
const PANE_KEYS = ["TMUX", "TMUX_PANE"];

/**
 * Candidate holder pids in order of how directly they belong to `pid`:
 * 1. the pid and its descendants;
 * 2. (Linux) processes in the pid's session or process group, or in the session or group it
 *    led, and their descendants: daemons that were re-parented to init but never called
 *    setsid. This also works after `pid` has exited, since Linux keeps a session or group id
 *    from being reused while any member lives.
 * 3. (Linux, pid alive inside tmux) processes whose inherited TMUX/TMUX_PANE equal the pid's,
 *    and their descendants: daemons that did setsid and were re-parented.
 * Tier 3 reads /proc/<pid>/environ of every process, so it is computed only when needed.
 */
function candidateTiers(table: ProcInfo[], pid: number): { tiers: number[][]; self: ProcInfo | undefined } {
  const self = table.find((p) => p.pid === pid && p.state !== "Z");
  const tier1 = self ? withDescendants(table, [pid]) : [];
  const tier2: number[] = [];
  if (process.platform === "linux") {
    // Ids 0 and 1 are the kernel's and init's: everything would match.
    const sessions = new Set([pid, self?.session].filter((s): s is number => typeof s === "number" && s > 1));
    const groups = new Set([pid, self?.pgrp].filter((g): g is number => typeof g === "number" && g > 1));
    const members = table.filter((p) => (p.session !== null && sessions.has(p.session)) || (p.pgrp !== null && groups.has(p.pgrp))).map((p) => p.pid);
    const seen = new Set(tier1);
    for (const p of withDescendants(table, members)) if (!seen.has(p)) tier2.push(p);
  }
  return { tiers: [tier1, tier2], self };
}

async function paneMates(table: ProcInfo[], pid: number, exclude: Set<number>): Promise<number[]> {
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

/** Picks the most recently modified transcript among the open files, or null. */
async function newestTranscript(files: OpenFile[], claudeConfigDir?: string): Promise<DiscoveredTranscript | null> {
  let best: (DiscoveredTranscript & { mtimeMs: number }) | null = null;
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.path)) continue;
    seen.add(f.path);
    const kind = transcriptKind(f.path, claudeConfigDir);
    if (!kind) continue;
    const st = await stat(f.path).catch(() => null);
    if (!st?.isFile()) continue;
    if (!best || st.mtimeMs > best.mtimeMs) best = { path: f.path, kind, holderPid: f.pid, mtimeMs: st.mtimeMs };
  }
  return best && { path: best.path, kind: best.kind, holderPid: best.holderPid };
}

/**
 * Finds the transcript `pid` (or a process tied to it) holds open; see `candidateTiers` for
 * which processes count. Tiers are tried in order and the first with a transcript wins, so an
 * own child always beats a stray daemon in the same session; within a tier the most recently
 * modified file wins. Null when nothing holds a transcript open.
 */
export async function discoverTranscript(pid: number, opts: { lsofBin: string; timeoutMs: number; claudeConfigDir?: string }): Promise<DiscoveredTranscript | null> {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const table = await procTable();
  const { tiers, self } = candidateTiers(table, pid);
  const tried = new Set<number>();
  const search = async (pids: number[]): Promise<DiscoveredTranscript | null> => {
    // This process may itself be reading a transcript (ingest); that is not the agent's.
    const fresh = pids.filter((p) => !tried.has(p) && p !== process.pid);
    for (const p of fresh) tried.add(p);
    if (fresh.length === 0) return null;
    const files = await lsofOpenFiles(opts.lsofBin, fresh, opts.timeoutMs);
    // Keep the tier's order so the first holder of a shared file is the closest relative.
    const rank = new Map(fresh.map((p, i) => [p, i]));
    files.sort((a, b) => (rank.get(a.pid) ?? 0) - (rank.get(b.pid) ?? 0));
    return newestTranscript(files, opts.claudeConfigDir);
  };
  for (const tier of tiers) {
    const found = await search(tier);
    if (found) return found;
  }
  if (process.platform === "linux" && self) return search(await paneMates(table, pid, tried));
  return null;
}
