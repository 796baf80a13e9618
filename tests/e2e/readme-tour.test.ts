// README's "A 60-second tour", run as written: the first bash block of that section goes to
// bash line for line; only its placeholders are filled from fixtures — the project directory,
// the worker's rollout (a real one under a temp CODEX_HOME/sessions), its tmux session (a real
// Codex TUI), the manager's pid (another real Codex) and the names `pair` starts. Real agent
// CLIs against the loopback model stub; SWITCHYARD_HOME set explicitly, run from the project
// directory, not the home.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { resolveHome } from "../../local-runner/home.ts";
import { openLocalServices } from "../../local-runner/services.ts";
import {
  AGENT_ENV_UNSET,
  agentCommand,
  capturePane,
  codexRollouts,
  killTmuxSession,
  makeCodexHome,
  paneState,
  startInTmux,
  startStub,
  submitPrompt,
  uniqueSessionName,
  waitFor,
  whoHolds,
  type AgentHome,
  type StubServer,
} from "../helpers/agents.ts";

const execFileP = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The first ```bash block under "## A 60-second tour", as written. */
function tourBlock(readme: string): string {
  const section = readme.slice(readme.indexOf("## A 60-second tour"));
  const m = /```bash\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error("README has no bash block under 'A 60-second tour'");
  return m[1]!;
}

/** Commands of a bash block: comment-only and blank lines dropped, backslash continuations joined. */
function commandsOf(block: string): string[] {
  const out: string[] = [];
  let pending = "";
  for (const line of block.split("\n")) {
    if (!pending && (!line.trim() || line.trim().startsWith("#"))) continue;
    pending += line;
    // A continued line stays continued: bash joins it.
    if (pending.endsWith("\\")) {
      pending += "\n";
      continue;
    }
    out.push(pending);
    pending = "";
  }
  return out;
}

let stub: StubServer | undefined;
let home: AgentHome | undefined;
let swHome: string | undefined;
const panes: string[] = [];
/** Dispatchers `pair` started in the background, by the pid it printed. */
const dispatchers: number[] = [];
afterAll(async () => {
  for (const pid of dispatchers) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
  for (const p of panes) await killTmuxSession(p);
  await stub?.close();
  home?.cleanup();
  if (swHome) rmSync(swHome, { recursive: true, force: true });
});

/** A Codex TUI in its own tmux session that has answered one prompt, so its rollout exists. */
async function codexWithRollout(name: string, prompt: string) {
  const session = await startInTmux(name, agentCommand("codex", home!));
  panes.push(name);
  await waitFor(async () => paneState("codex", await capturePane(session.target)) === "idle" || undefined, 30_000, `${name} idle`);
  await submitPrompt(session.target, prompt);
  const rollout = await waitFor(() => whoHolds(session.panePid, /\/rollout-[^/]*\.jsonl$/)[0]?.file, 30_000, `${name} rollout`);
  await waitFor(async () => paneState("codex", await capturePane(session.target)) === "idle" || undefined, 30_000, `${name} turn`);
  return { ...session, rollout };
}

describe("README: A 60-second tour", () => {
  it("runs as written, from the project directory, with real agents", { timeout: 300_000 }, async () => {
    const block = tourBlock(readFileSync(join(ROOT, "README.md"), "utf8"));
    stub = await startStub("codex", []);
    home = await makeCodexHome(stub.url);
    // The home `npm start` would have made: an existing database and owner token.
    swHome = mkdtempSync(join(tmpdir(), "security-tour-home-"));
    (await openLocalServices({ home: resolveHome({}, { home: swHome }) })).database.close();

    const worker = await codexWithRollout(uniqueSessionName("security-tour-w"), "Say hello");
    const manager = await codexWithRollout(uniqueSessionName("security-tour-m"), "Say hello too");
    const w1 = `sec${process.pid}w1`;
    const m1 = `sec${process.pid}m1`;
    panes.push(`sy-codex-${w1}`, `sy-codex-${m1}`);

    // The placeholders, and nothing else, are replaced.
    const filled = block
      .replace("~/src/auth-service", home.workdir)
      .replace("~/.codex/sessions/2026/11/21/rollout-....jsonl", worker.rollout)
      .replace("--tmux-session codex-auth", `--tmux-session ${worker.name}`)
      .replace("--pid 4242", `--pid ${manager.panePid}`)
      .replace("--worker-name w1 --manager-name m1", `--worker-name ${w1} --manager-name ${m1}`);
    expect(filled).not.toMatch(/rollout-\.\.\.\.|4242|codex-auth\b|~\/src/);
    const commands = commandsOf(filled);
    expect(commands.length).toBeGreaterThanOrEqual(12);
    // Each command is echoed before it runs, so its output can be told apart; `set -e` stops at
    // the first that fails.
    const script = ["shopt -s expand_aliases", "set -e", ...commands.flatMap((c, i) => [`echo "@@@ ${i}"`, c])].join("\n");
    const scriptPath = join(swHome, "tour.sh");
    writeFileSync(scriptPath, script);

    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      LANG: process.env.LANG ?? "C.UTF-8",
      TERM: "xterm-256color",
      ...home.env,
      NO_PROXY: "127.0.0.1,localhost",
      SWITCHYARD_HOME: swHome,
      // pair starts Codex itself: pass the stub's key through to the agents it spawns.
      SWITCHYARD_AGENT_ENV: "STUB_OPENAI_API_KEY,NO_PROXY",
    };
    for (const k of AGENT_ENV_UNSET) if (!(k in home.env) && k !== "NO_PROXY") delete env[k];
    let stdout = "";
    let failure: unknown = null;
    try {
      // From the checkout, as the alias line expects; the tour then moves to the project.
      ({ stdout } = await execFileP("bash", [scriptPath], { cwd: ROOT, env, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 }));
    } catch (e) {
      failure = e;
      stdout = (e as { stdout?: string }).stdout ?? "";
    }
    for (const m of stdout.matchAll(/^started dispatcher \S+ \(pid (\d+),/gm)) dispatchers.push(Number(m[1]));
    const outputs = stdout.split(/^@@@ (\d+)\n/m);
    const outputOf = (i: number) => outputs[outputs.indexOf(String(i)) + 1] ?? "";
    const ranTo = Math.max(...outputs.filter((_, i) => i % 2 === 1).map(Number));
    expect({ failure: failure ? String((failure as { stderr?: string }).stderr ?? failure).slice(-2000) : null, ranTo }).toEqual({
      failure: null,
      ranTo: commands.length - 1,
    });

    const index = (re: RegExp) => commands.findIndex((c) => re.test(c));
    const cycle = JSON.parse(outputOf(index(/switchyard cycle auth-refactor --json/)));
    expect(cycle).toMatchObject({ task: "auth-refactor", worker_session: "auth-w", manager_session: "auth-m", worker_alive: true, manager_alive: true });
    expect(outputOf(index(/register-worker/))).toContain("auth-w");
    expect(outputOf(index(/session-nudge/))).toMatch(/^nudged auth-w: submitted after \d+ Enter press/);
    expect(outputOf(index(/switchyard pair/))).toContain(w1);
    expect(dispatchers).toHaveLength(1);
    expect(outputOf(index(/finish-task/))).toMatch(/auth-refactor/);
    const rollout = readFileSync(worker.rollout, "utf8");
    expect(rollout).toContain("Run the tests and report failures only");
    // pair left its own two rollouts beside the two the fixtures made.
    expect(codexRollouts(home.configDir).length).toBe(4);
  });
});
