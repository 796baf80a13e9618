import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * Runs `body` (TypeScript, an ES module) in a child Node process that is killed after
 * `timeoutMs`, and returns what it printed. For code that could block its event loop (a regular
 * expression that backtracks): a blocked loop cannot time out a test in this process, a killed
 * child fails it with ETIMEDOUT. `imports` maps names to repo-relative module paths; each module
 * is imported whole under that name. Runs from a file, not `-e`, so threads the code starts
 * inherit no --input-type flag.
 */
export function runWithDeadline(imports: Record<string, string>, body: string, timeoutMs = 60_000): { stdout: string; failure: string } {
  const lines = Object.entries(imports).map(([name, path]) => `import * as ${name} from ${JSON.stringify(join(ROOT, path))};`);
  const file = join(mkdtempSync(join(tmpdir(), "switchyard-deadline-")), "child.mts");
  writeFileSync(file, `${lines.join("\n")}\n${body}\n`);
  try {
    const child = spawnSync(process.execPath, ["--import", "tsx", file], { encoding: "utf8", timeout: timeoutMs, cwd: ROOT });
    const failure = child.error ? child.error.message : child.status !== 0 ? `exit ${child.status}: ${child.stderr}` : "";
    return { stdout: child.stdout ?? "", failure };
  } finally {
    rmSync(dirname(file), { recursive: true, force: true });
  }
}
