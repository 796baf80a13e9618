import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DrafterCommand } from "../functions/lib/ctx.ts";

/** Default time an external drafter may take before it is killed and its job failed. */
export const DEFAULT_DRAFTER_TIMEOUT_MS = 60_000;
/** Largest stdout accepted from a drafter; more is treated as a failure, not truncated. */
const MAX_OUTPUT_BYTES = 1024 * 1024;

/**
 * Runs an external drafter: `argv` is executed directly (no shell), the context packet goes to
 * its stdin and its stdout is returned. The process gets a fresh temp directory as cwd and HOME
 * and an environment stripped to PATH and a locale, so the owner's tokens and the database URL
 * never reach it; anything else it needs must be passed in argv. It is killed after `timeoutMs`.
 */
export class ExternalDrafter implements DrafterCommand {
  readonly label: string;

  constructor(
    private readonly argv: string[],
    private readonly timeoutMs = DEFAULT_DRAFTER_TIMEOUT_MS,
  ) {
    if (!argv.length || !argv[0]) throw new Error("the drafter command is empty");
    this.label = argv.join(" ");
  }

  run(stdin: string): Promise<string> {
    const cwd = mkdtempSync(join(tmpdir(), "switchyard-drafter-"));
    const env = { PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin", LANG: "C.UTF-8", HOME: cwd, TMPDIR: cwd };
    return new Promise<string>((resolve, reject) => {
      const child = execFile(
        this.argv[0]!,
        this.argv.slice(1),
        { cwd, env, timeout: this.timeoutMs, killSignal: "SIGKILL", maxBuffer: MAX_OUTPUT_BYTES, encoding: "utf8" },
        (err, stdout, stderr) => {
          rmSync(cwd, { recursive: true, force: true });
          if (!err) return resolve(stdout);
          const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: string | number | null };
          const tail = stderr.trim().split("\n").slice(-3).join(" | ").slice(0, 500);
          if (e.killed && e.code === null) reject(new Error(`timed out after ${this.timeoutMs} ms`));
          else if (e.code === "ERR_CHILD_PROCESS_STDIO_MAXBUFFER") reject(new Error(`printed more than ${MAX_OUTPUT_BYTES} bytes`));
          else if (typeof e.code === "number") reject(new Error(`exited with status ${e.code}${tail ? `: ${tail}` : ""}`));
          else reject(new Error(`could not run: ${e.message}`));
        },
      );
      // A drafter that exits without reading its input must not crash this process with EPIPE.
      child.stdin?.on("error", () => {});
      child.stdin?.end(stdin);
    });
  }
}

/**
 * The external drafter configured in the environment, if any: SWITCHYARD_BROKER_DRAFTER is a
 * JSON array of argv (e.g. `["python3", "/opt/draft.py"]`) or a single executable path;
 * SWITCHYARD_BROKER_DRAFTER_TIMEOUT_SECONDS overrides the timeout.
 */
export function drafterFromEnv(env: NodeJS.ProcessEnv): ExternalDrafter | undefined {
  const raw = env.SWITCHYARD_BROKER_DRAFTER?.trim();
  if (!raw) return undefined;
  let argv: unknown;
  if (raw.startsWith("[")) {
    try {
      argv = JSON.parse(raw);
    } catch {
      throw new Error("SWITCHYARD_BROKER_DRAFTER is not a valid JSON array of strings");
    }
  } else argv = [raw];
  if (!Array.isArray(argv) || !argv.every((a) => typeof a === "string"))
    throw new Error("SWITCHYARD_BROKER_DRAFTER must be a JSON array of strings or one executable path");
  const seconds = env.SWITCHYARD_BROKER_DRAFTER_TIMEOUT_SECONDS;
  const timeoutMs = seconds && /^\d+$/.test(seconds) && Number(seconds) > 0 ? Number(seconds) * 1000 : DEFAULT_DRAFTER_TIMEOUT_MS;
  return new ExternalDrafter(argv as string[], timeoutMs);
}
