import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../../bin/switchyard.mjs", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** A real `switchyard up` OS process. */
export interface UpProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the base URL once the process prints it; rejects if it exits first. */
  url: Promise<string>;
  exit: Promise<number | null>;
}

/**
 * Starts `switchyard up --home HOME --port 0 ...extra` (a free port on 127.0.0.1) through
 * bin/switchyard.mjs, as a user would. The caller kills it (or sends SIGTERM) when done.
 */
export function startUpProcess(home: string, extra: string[] = [], env: Record<string, string> = {}): UpProcess {
  const child = spawn(process.execPath, [BIN, "up", "--home", home, "--port", "0", ...extra], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let out = "";
  let err = "";
  // "close" rather than "exit": it fires only after stdout and stderr are fully read.
  const exit = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const url = new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      const m = /api:\s+(http:\/\/\S+)\/v1/.exec(out);
      if (m) resolve(m[1]!);
    });
    void exit.then((code) => reject(new Error(`up exited with ${code} before listening:\n${out}\n${err}`)));
  });
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  return { child, stdout: () => out, stderr: () => err, url, exit };
}

/** SIGKILLs an up process that is still running (test cleanup). */
export function killUpProcess(p: UpProcess): void {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
}
