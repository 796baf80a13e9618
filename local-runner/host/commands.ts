import { execFile } from "node:child_process";
import { lstat, readdir, readFile, realpath, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { type CommandOutcome, type GitEvidence, HostError, type PluginFile } from "../../functions/lib/host.ts";

/** True when `child` (already resolved) lies inside `root` (already resolved). */
function inside(root: string, child: string): boolean {
  const rel = relative(root, child);
  return rel === "" || (!rel.startsWith("..") && !rel.startsWith(sep) && rel !== "..");
}

/** Plugin directories under `dir`: subdirectories with a plugin.md, none escaping `dir` by symlink. */
export async function listPlugins(dir: string): Promise<PluginFile[]> {
  let root: string;
  try {
    root = await realpath(dir);
  } catch {
    return [];
  }
  const out: PluginFile[] = [];
  for (const entry of (await readdir(root, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory() && !entry.isSymbolicLink()) continue;
    let pdir: string;
    try {
      pdir = await realpath(join(root, entry.name));
    } catch {
      continue;
    }
    if (!inside(root, pdir) || pdir === root || !(await stat(pdir)).isDirectory()) continue;
    const md = join(pdir, "plugin.md");
    let mdReal: string;
    try {
      mdReal = await realpath(md);
    } catch {
      continue;
    }
    if (!inside(pdir, mdReal)) continue;
    out.push({ name: entry.name, dir: pdir, text: await readFile(mdReal, "utf8") });
  }
  return out;
}

/** The environment a plugin gets: what it declares, and only PATH, HOME and LANG from ours. */
function strippedEnv(extra: Record<string, string> = {}): Record<string, string> {
  const base: Record<string, string> = {};
  for (const k of ["PATH", "HOME", "LANG"]) if (process.env[k] !== undefined) base[k] = process.env[k]!;
  return { ...base, ...extra };
}

/** Runs argv without a shell; a non-zero exit, a signal and a timeout are outcomes, not errors. */
export function runCommand(
  argv: string[],
  opts: { cwd: string; timeoutMs: number; env?: Record<string, string>; maxOutputBytes?: number },
): Promise<CommandOutcome> {
  const [bin, ...args] = argv;
  if (!bin) return Promise.reject(new HostError("COMMAND_FAILED", "empty command"));
  const started = Date.now();
  const cap = opts.maxOutputBytes ?? 64 * 1024;
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      args,
      { cwd: opts.cwd, env: strippedEnv(opts.env), timeout: opts.timeoutMs, killSignal: "SIGKILL", maxBuffer: cap * 4, encoding: "utf8" },
      (error, stdout, stderr) => {
        const durationMs = Date.now() - started;
        const trim = (s: string) => (s.length > cap ? `${s.slice(0, cap)}\n[truncated at ${cap} bytes]` : s);
        if (!error) return resolve({ code: 0, signal: null, stdout: trim(stdout), stderr: trim(stderr), timedOut: false, durationMs });
        const err = error as NodeJS.ErrnoException & { code?: string | number; killed?: boolean; signal?: string | null };
        if (err.code === "ENOENT" || err.code === "EACCES") {
          return reject(
            new HostError("COMMAND_FAILED", `cannot run '${bin}': ${err.code === "ENOENT" ? "not found" : "not executable"}`, "Check the plugin's command."),
          );
        }
        resolve({
          code: typeof err.code === "number" ? err.code : null,
          signal: err.signal ?? null,
          stdout: trim(stdout ?? ""),
          stderr: trim(stderr ?? ""),
          timedOut: !!err.killed && err.signal === "SIGKILL",
          durationMs,
        });
      },
    );
  });
}

function git(dir: string, args: string[], timeoutMs = 20_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      "git",
      ["-C", dir, ...args],
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: "utf8", env: { ...process.env, GIT_TERMINAL_PROMPT: "0" } },
      (error, stdout, stderr) => {
        if (!error) return resolve({ code: 0, stdout, stderr });
        const err = error as NodeJS.ErrnoException & { code?: string | number };
        if (err.code === "ENOENT") return reject(new HostError("COMMAND_FAILED", "git is not installed", "Install git (apt-get install git)."));
        if (typeof err.code === "number") return resolve({ code: err.code, stdout, stderr });
        reject(new HostError("COMMAND_FAILED", `git ${args[0]} in ${dir} failed: ${err.message}`));
      },
    );
  });
}

/** Paths from `git status --porcelain=v1 -z`: tracked changes and untracked files. */
function parseStatus(out: string): { dirty: string[]; untracked: string[] } {
  const dirty: string[] = [];
  const untracked: string[] = [];
  const parts = out.split("\0");
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.length < 4) continue;
    const code = p.slice(0, 2);
    const path = p.slice(3);
    if (code === "??") untracked.push(path);
    else if (code !== "!!") dirty.push(path);
    // A rename or copy is followed by its source path.
    if (code[0] === "R" || code[0] === "C") i++;
  }
  return { dirty, untracked };
}

/** Branch, HEAD, commits ahead of base and dirty tracked files, read with plain git commands. */
export async function gitEvidence(dir: string, base: string): Promise<GitEvidence> {
  try {
    await stat(dir);
  } catch {
    return { repo: false, branch: null, head: null, base, commitsAhead: null, dirtyTracked: [], untracked: [] };
  }
  const top = await git(dir, ["rev-parse", "--show-toplevel"]);
  if (top.code !== 0) return { repo: false, branch: null, head: null, base, commitsAhead: null, dirtyTracked: [], untracked: [] };
  const branch = await git(dir, ["symbolic-ref", "--quiet", "--short", "HEAD"]);
  const head = await git(dir, ["rev-parse", "--verify", "--quiet", "HEAD"]);
  const baseOk = (await git(dir, ["rev-parse", "--verify", "--quiet", `${base}^{commit}`])).code === 0;
  let ahead: number | null = null;
  if (baseOk && head.code === 0) {
    const count = await git(dir, ["rev-list", "--count", `${base}..HEAD`]);
    ahead = count.code === 0 ? Number(count.stdout.trim()) : null;
  }
  const status = await git(dir, ["status", "--porcelain=v1", "-z", "--untracked-files=all"]);
  // A worktree git cannot read (a damaged index) is not a clean one: say so instead of "nothing".
  if (status.code !== 0) throw new HostError("COMMAND_FAILED", `git status in ${dir} failed: ${status.stderr.trim() || `exit ${status.code}`}`);
  const parsed = parseStatus(status.stdout);
  return {
    repo: true,
    branch: branch.code === 0 ? branch.stdout.trim() : null,
    head: head.code === 0 ? head.stdout.trim() : null,
    base,
    commitsAhead: ahead,
    dirtyTracked: parsed.dirty,
    untracked: parsed.untracked,
  };
}

/** `git add -A` then one commit with the marker message; never resets, deletes or pushes. */
export async function gitCommitAll(dir: string, message: string, author: { name: string; email: string }) {
  const status = await git(dir, ["status", "--porcelain=v1", "-z", "--untracked-files=all"]);
  // An unreadable or missing worktree is not a clean one.
  if (status.code !== 0) throw new HostError("COMMAND_FAILED", `git status in ${dir} failed: ${status.stderr.trim() || `exit ${status.code}`}`);
  const before = parseStatus(status.stdout);
  const files = [...before.dirty, ...before.untracked];
  if (!files.length) return { committed: false, sha: null, files: [] };
  const add = await git(dir, ["add", "-A", "--", "."]);
  if (add.code !== 0) throw new HostError("COMMAND_FAILED", `git add in ${dir} failed: ${add.stderr.trim()}`);
  // Hooks are skipped: they may depend on the dead worker's environment, and recovery must not
  // be refused by a linter. The commit is marked so a reviewer knows to check it.
  const commit = await git(dir, ["-c", `user.name=${author.name}`, "-c", `user.email=${author.email}`, "commit", "--no-verify", "-q", "-m", message]);
  if (commit.code !== 0) throw new HostError("COMMAND_FAILED", `git commit in ${dir} failed: ${(commit.stderr || commit.stdout).trim()}`);
  const sha = (await git(dir, ["rev-parse", "HEAD"])).stdout.trim();
  return { committed: true, sha, files };
}

/** Newest mtime under dir, breadth first, skipping .git and node_modules, bounded by maxEntries. */
export async function newestActivity(dir: string, opts: { maxEntries?: number } = {}) {
  const max = opts.maxEntries ?? 5000;
  let best: { mtimeMs: number; path: string } | null = null;
  let scanned = 0;
  const queue = [dir];
  while (queue.length && scanned < max) {
    const d = queue.shift()!;
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (scanned >= max) break;
      if (e.name === ".git" || e.name === "node_modules") continue;
      const p = join(d, e.name);
      scanned++;
      try {
        const st = await lstat(p);
        if (!best || st.mtimeMs > best.mtimeMs) best = { mtimeMs: st.mtimeMs, path: p };
        if (e.isDirectory()) queue.push(p);
      } catch {
        // Vanished while we looked: not evidence either way.
      }
    }
  }
  return best ? { ...best, scanned } : null;
}

/** Up to maxBytes of a text file, or null when absent. */
export async function readTextFile(path: string, maxBytes: number): Promise<string | null> {
  try {
    const buf = await readFile(path);
    return buf.subarray(0, maxBytes).toString("utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "ENOTDIR") return null;
    throw new HostError("COMMAND_FAILED", `cannot read ${path}: ${(e as Error).message}`);
  }
}
