import { execFile } from "node:child_process";
import { basename } from "node:path";
import type { AgentAuth } from "../../functions/lib/host.ts";

/** True for the Node binary a script-based CLI is launched with (`node codex.js`). */
function isNode(arg: string): boolean {
  return arg === process.execPath || /^node(\.exe)?$/.test(basename(arg));
}

function run(argv: string[], env: Record<string, string>, timeoutMs: number): Promise<{ code: number | null; out: string; error?: string }> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, timeout: timeoutMs, encoding: "utf8" }, (error, stdout, stderr) => {
      const out = `${stdout}\n${stderr}`;
      if (!error) return resolve({ code: 0, out });
      const err = error as NodeJS.ErrnoException & { code?: string | number; killed?: boolean };
      if (typeof err.code === "number") return resolve({ code: err.code, out });
      resolve({ code: null, out, error: err.killed ? `timed out after ${timeoutMs} ms` : err.message });
    });
  });
}

/** The last meaningful line of a status command's output (Codex prefixes warnings about its home). */
function lastLine(out: string): string {
  const lines = out
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !/^WARNING:|^Additional CA cert/.test(l));
  return lines.at(-1) ?? "";
}

/**
 * Asks the agent CLI itself whether it is signed in, with the environment a spawn would give it
 * (an ANTHROPIC_API_KEY there counts for Claude Code; Codex's TUI ignores OPENAI_API_KEY and
 * asks to sign in, and so does `codex login status`). Only the real CLIs are asked: another
 * program configured in their place (a test double) is reported as unknown, not run.
 */
export async function agentAuth(kind: "codex" | "claude", launch: { command: string[]; env?: Record<string, string> }, timeoutMs = 10_000): Promise<AgentAuth> {
  // --no-daemon belongs to the TUI; the status subcommands reject unknown flags.
  const argv = launch.command.filter((a) => a !== "--no-daemon");
  const exe = argv.find((a) => !isNode(a));
  if (!exe || !new RegExp(`^${kind}(\\.js|\\.mjs|\\.cjs|\\.exe|\\.cmd)?$`).test(basename(exe))) {
    return { signed_in: null, detail: `${exe ? basename(exe) : "(no command)"} is not the ${kind} CLI; sign-in not checked` };
  }
  const env = launch.env ?? {};
  if (kind === "codex") {
    const r = await run([...argv, "login", "status"], env, timeoutMs);
    if (r.code === 0) return { signed_in: true, detail: lastLine(r.out) || "logged in" };
    if (r.code !== null && /not logged in/i.test(r.out)) return { signed_in: false, detail: "`codex login status`: not logged in" };
    return { signed_in: null, detail: `\`codex login status\` failed: ${r.error ?? (lastLine(r.out) || `exit ${r.code}`)}` };
  }
  const r = await run([...argv, "auth", "status"], env, timeoutMs);
  try {
    const status = JSON.parse(r.out.slice(r.out.indexOf("{"), r.out.lastIndexOf("}") + 1)) as {
      loggedIn?: unknown;
      authMethod?: unknown;
      apiKeySource?: unknown;
    };
    if (status.loggedIn === true) return { signed_in: true, detail: `${status.authMethod}${status.apiKeySource ? ` from ${status.apiKeySource}` : ""}` };
    if (status.loggedIn === false) return { signed_in: false, detail: "`claude auth status`: not logged in" };
  } catch {
    // Not the JSON this version prints: fall through to unknown.
  }
  return { signed_in: null, detail: `\`claude auth status\` failed: ${r.error ?? (lastLine(r.out) || `exit ${r.code}`)}` };
}
