import { execFile } from "node:child_process";
import { HostError } from "../../functions/lib/host.ts";

/** What a finished external command produced; a non-zero exit is data, not an exception. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** How to run one external tool and how to report that it is not installed. */
export interface ExecOptions {
  timeoutMs: number;
  /** Builds the error thrown when the binary cannot be executed at all. */
  missing: (bin: string) => HostError;
  /** Output cap; pane captures with long scrollback can exceed Node's 1 MiB default. */
  maxBuffer?: number;
  /** How errors name the command (default: the binary and its first argument). */
  label?: string;
  /** The environment to run it with (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs `bin` with an argument array (never through a shell) and resolves with its exit code
 * and output whatever the exit code. Rejects with the tool's `missing` error when the binary
 * is absent or not executable, TIMEOUT when it overruns, COMMAND_FAILED on other spawn errors.
 */
export function execTool(bin: string, args: string[], opts: ExecOptions): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      args,
      { timeout: opts.timeoutMs, maxBuffer: opts.maxBuffer ?? 16 * 1024 * 1024, encoding: "utf8", env: opts.env },
      (error, stdout, stderr) => {
        if (!error) return resolve({ code: 0, stdout, stderr });
        const err = error as NodeJS.ErrnoException & { code?: string | number; killed?: boolean; signal?: string | null };
        // By default name the tool and subcommand only: other arguments can be long typed text.
        const what = opts.label ?? (args[0] === undefined ? bin : `${bin} ${args[0]}`);
        if (err.code === "ENOENT" || err.code === "EACCES") return reject(opts.missing(bin));
        if (err.killed && err.signal) return reject(new HostError("TIMEOUT", `'${what}' timed out after ${opts.timeoutMs} ms`));
        if (typeof err.code === "number") return resolve({ code: err.code, stdout, stderr });
        reject(new HostError("COMMAND_FAILED", `'${what}' failed: ${err.message}`));
      },
    );
  });
}
