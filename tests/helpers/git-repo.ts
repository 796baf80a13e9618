import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Runs git in `dir` with an argument array and returns its stdout. */
export function git(dir: string, ...args: string[]): string {
  return execFileSync("git", ["-C", dir, ...args], { encoding: "utf8", env: { ...process.env, GIT_TERMINAL_PROMPT: "0" } });
}

/**
 * A real repository at `dir`: `main` with one commit, and a worker branch `work` checked out,
 * as a dispatched worker's worktree looks before it has done anything.
 */
export function workerRepo(dir: string): string {
  mkdirSync(dir, { recursive: true });
  git(dir, "init", "-q", "-b", "main");
  git(dir, "config", "user.name", "Test");
  git(dir, "config", "user.email", "test@example.invalid");
  writeFileSync(join(dir, "app.ts"), "export const version = 1;\n");
  git(dir, "add", "app.ts");
  git(dir, "commit", "-q", "-m", "initial");
  git(dir, "checkout", "-q", "-b", "work");
  return dir;
}

/** Sets every file and folder under dir (not .git) to have been written `ageSeconds` ago. */
export function ageTree(dir: string, ageSeconds: number): void {
  const t = (Date.now() - ageSeconds * 1000) / 1000;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name === ".git") continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      utimesSync(p, t, t);
    }
  };
  walk(dir);
  utimesSync(dir, t, t);
}
