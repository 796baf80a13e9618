import { mkdirSync, realpathSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Host } from "../../functions/lib/host.ts";

/** Where a test's transcripts may live: the test host's roots (TestEnv has both). */
export interface TranscriptRootsLike {
  codexSessions: string;
  claudeProjects: string;
}

let seq = 0;

/** The session_meta record a Codex rollout starts with. */
export function codexMeta(id = `thread-${++seq}`, cwd = "/work"): string {
  return `${JSON.stringify({ timestamp: "2026-11-21T12:00:00.000Z", type: "session_meta", payload: { id, cwd, originator: "test" } })}\n`;
}

/**
 * A Codex rollout path under the test host's sessions root, `YYYY/MM/DD/rollout-<name>.jsonl`
 * like Codex writes. With `content` (default: just the session_meta record) the file is written.
 */
export function codexRollout(roots: TranscriptRootsLike, name: string, content: string | null = codexMeta()): string {
  const path = join(roots.codexSessions, "2026", "11", "21", `rollout-${name}.jsonl`);
  mkdirSync(dirname(path), { recursive: true });
  if (content !== null) writeFileSync(path, content);
  return path;
}

/** A Claude Code record carrying its session id (what the first records of a transcript hold). */
export function claudeRecord(sessionId: string, extra: Record<string, unknown> = { type: "mode", mode: "normal" }): string {
  return `${JSON.stringify({ ...extra, sessionId })}\n`;
}

/** A Claude Code transcript path `projects/<slug>/<id>.jsonl` under the test host's root, written like rollouts. */
export function claudeTranscript(roots: TranscriptRootsLike, sessionId: string, content: string | null = claudeRecord(sessionId), slug = "-work"): string {
  const path = join(roots.claudeProjects, slug, `${sessionId}.jsonl`);
  mkdirSync(dirname(path), { recursive: true });
  if (content !== null) writeFileSync(path, content);
  return path;
}

/** A process that holds a file open (as an agent holds its transcript), for pid checks. */
export interface Holder {
  pid: number;
  /** Kills it (and only it) and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts `node` holding `path` open for appending (creating it if needed), so strict discovery
 * finds `path` from its pid. Extra `env` (e.g. a tmux pane's) is passed through.
 */
export async function holdOpen(path: string): Promise<Holder> {
  const { spawn } = await import("node:child_process");
  const script = `const fs=require("fs");fs.openSync(${JSON.stringify(path)},"a");console.log("ready");setInterval(()=>{},1000)`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`holder of ${path} exited ${code}`)));
  });
  return {
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/**
 * Starts a tmux session `name` whose pane process holds `path` open for appending and prints
 * nothing (a silent agent: its screen never changes), and waits until the host sees it holding
 * the file. Registration with `tmux_session` and the path then records the pane's pid, as it
 * does for a real agent.
 */
export async function holdInTmux(host: Host, name: string, path: string, cwd: string): Promise<{ tmux: string; pid: number }> {
  const script = `require("fs").openSync(${JSON.stringify(path)},"a");setInterval(()=>{},1000)`;
  await host.tmuxNewSession({ name, cwd, command: [process.execPath, "-e", script] });
  const want = realpathSync(path);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const pid = await host.tmuxPanePid(name);
    if (pid !== null && (await host.discoverTranscript(pid, { strict: true }))?.path === want) return { tmux: name, pid };
    if (Date.now() > deadline) throw new Error(`the pane of ${name} did not open ${path}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
