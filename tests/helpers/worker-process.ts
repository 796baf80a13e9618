import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** A TypeScript worker process that reports in JSON lines, the first `{"ready": true}`. */
export interface WorkerProcess<L> {
  child: ChildProcess;
  /** Every line it printed except the ready marker, parsed. */
  lines: L[];
  stderr: string[];
  /** Settles once the worker is ready, or has exited without ever being ready. */
  ready: Promise<void>;
  /** The exit code, once stdout and stderr are fully read. */
  exit: Promise<number | null>;
}

/**
 * Starts `node [nodeArgs] --import tsx SCRIPT ...args` from the repository root and collects its
 * lines. `nodeArgs` are Node's own flags (e.g. --expose-gc); `env` is added to this process's environment.
 */
export function spawnWorker<L extends { ready?: true } = { ready?: true }>(
  script: string,
  args: string[],
  nodeArgs: string[] = [],
  env: Record<string, string> = {},
): WorkerProcess<L> {
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", script, ...args], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  const lines: L[] = [];
  const stderr: string[] = [];
  child.stderr!.setEncoding("utf8").on("data", (d: string) => stderr.push(d));
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  createInterface({ input: child.stdout! }).on("line", (text) => {
    const line = JSON.parse(text) as L;
    if (line.ready) markReady();
    else lines.push(line);
  });
  // "close" rather than "exit": it fires only after stdout and stderr are fully read.
  const exit = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  // A worker that dies before it is ready must not leave the test waiting forever.
  void exit.then(() => markReady());
  return { child, lines, stderr, ready, exit };
}

/** Parent side: lets every worker waiting in `readyThenGo` start at the same moment. */
export function go(workers: Iterable<{ child: ChildProcess }>): void {
  for (const w of workers) w.child.stdin!.end("go\n");
}

/** Worker side: prints one JSON line for the parent (spawnWorker parses it). */
export function emit(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/**
 * Worker side of the start handshake: prints `{"ready": true}`, then waits for the parent's one
 * line on stdin (`go`), so several processes begin their work together.
 */
export async function readyThenGo(): Promise<void> {
  emit({ ready: true });
  await new Promise<void>((resolve) => {
    const rl = createInterface({ input: process.stdin });
    rl.once("line", () => {
      // An open stdin would keep the process alive after its last write.
      rl.close();
      resolve();
    });
  });
}
