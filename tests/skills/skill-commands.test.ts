// Every fenced shell command of every SKILL.md under skills/, run verbatim with bash against a
// running server, in the order the skill gives them, as the principal the skill (or a
// `# as the owner|worker|manager` comment above the commands) says. Placeholders are shell
// variables the skill tells the agent to set; the fixture below supplies them. A skill added
// later is picked up without touching this file; if it needs a variable the fixture does not
// have, the test says which.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliShimDir, ensureCliShim } from "../../local-runner/agents.ts";
import { skillDirs, skillsRoot } from "../../local-runner/skills.ts";
import { killTmux, startFakeTui } from "../functions/actuate/fake-tui.ts";
import { createTask, registerSession } from "../helpers/factories.ts";
import { serveApp } from "../helpers/hooks.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";

const execFileP = promisify(execFile);

type Principal = "owner" | "worker" | "manager";

/** One command as written in the skill, with who runs it. */
interface SkillCommand {
  text: string;
  as: Principal;
  line: number;
}

/** Who runs a skill's commands unless a comment says otherwise. */
const DEFAULT_PRINCIPAL: Record<string, Principal> = {
  "supervise-workers": "manager",
  "advice-broker": "worker",
};

/**
 * The fenced bash/sh/shell blocks of a SKILL.md as commands: comment lines skipped (a
 * `# as the X` comment switches the principal for the rest of its block), a line ending in a
 * backslash kept together with the next.
 */
function fencedCommands(markdown: string, defaultAs: Principal): SkillCommand[] {
  const out: SkillCommand[] = [];
  const lines = markdown.split("\n");
  let inBlock = false;
  let as = defaultAs;
  let pending: { text: string; line: number } | null = null;
  lines.forEach((raw, i) => {
    const fence = /^```\s*(\w*)/.exec(raw);
    if (fence) {
      if (!inBlock) {
        inBlock = ["bash", "sh", "shell"].includes(fence[1]!);
        as = defaultAs;
        // A non-shell block is skipped whole.
        if (!inBlock && fence[1] !== undefined) inBlock = false;
      } else inBlock = false;
      return;
    }
    if (!inBlock) return;
    const line = raw.trimEnd();
    const who = /^#\s*as the (owner|worker|manager)\b/.exec(line.trim());
    if (who) {
      as = who[1] as Principal;
      return;
    }
    if (!pending && (line.trim() === "" || line.trim().startsWith("#"))) return;
    // Kept as written, backslash-newline included: bash joins the lines itself.
    pending = pending ? { text: `${pending.text}\n${line}`, line: pending.line } : { text: line, line: i + 1 };
    if (!line.endsWith("\\")) {
      out.push({ text: pending.text, as, line: pending.line });
      pending = null;
    }
  });
  return out;
}

/** Shell variables a command reads (`$NAME`, `${NAME}`, upper case). */
function variablesOf(cmd: string): string[] {
  return [...new Set([...cmd.matchAll(/\$\{?([A-Z_][A-Z0-9_]*)\}?/g)].map((m) => m[1]!))];
}

interface Fixture {
  env: TestEnv;
  url: string;
  tokens: Record<Principal, string>;
  names: Record<"worker" | "manager" | "task", string>;
  /** Variables computed just before the command that reads them (ids made by earlier commands). */
  lazy: Record<string, () => Promise<string>>;
  close(): Promise<void>;
}

/** A served app, a bound task with a worker in a real tmux pane (a fake TUI) and a pull manager. */
async function fixture(): Promise<Fixture> {
  const env = await makeTestEnv();
  const server = await serveApp(env);
  const tui = await startFakeTui(env);
  const worker = await registerSession(env, "worker", { codex_session: tui.rollout, tmux_session: tui.tmux });
  const manager = await registerSession(env, "manager");
  const task = await createTask(env, { goal: "pass the skill test" });
  const bound = await env.call("POST", "/v1/bindings", { body: { task: task.task.name, worker: worker.session.name, manager: manager.session.name } });
  if (bound.status !== 201) throw new Error(`bind: ${JSON.stringify(bound.body)}`);
  // Something in the manager's inbox for each of its inbox reads.
  for (const body of ["status please", "and again"]) await env.call("POST", "/v1/messages", { body: { to: manager.session.name, body } });
  ensureCliShim(env.dir);
  return {
    env,
    url: server.url,
    tokens: { owner: env.owner, worker: worker.token, manager: manager.token },
    names: { worker: worker.session.name, manager: manager.session.name, task: task.task.name },
    lazy: {
      ADVICE: async () => {
        const q = await env.call("GET", "/v1/broker/advice");
        const first = q.body.advice?.[0]?.id;
        if (!first) throw new Error("no open advice request in the queue for $ADVICE");
        return first;
      },
    },
    async close() {
      await killTmux(env, tui.tmux);
      await server.close();
      env.close();
    },
  };
}

async function runCommand(f: Fixture, cmd: SkillCommand): Promise<{ code: number; out: string }> {
  const session = cmd.as === "worker" ? f.names.worker : f.names.manager;
  const vars: Record<string, string> = {
    SWITCHYARD_URL: f.url,
    SWITCHYARD_TOKEN: f.tokens[cmd.as],
    TASK: f.names.task,
    WORKER: f.names.worker,
    MANAGER: f.names.manager,
    SESSION: session,
  };
  for (const v of variablesOf(cmd.text)) {
    if (v in vars || v === "PATH" || v === "HOME") continue;
    if (!f.lazy[v]) throw new Error(`the fixture has no value for $${v} (skill line ${cmd.line}); add it to tests/skills/skill-commands.test.ts`);
    vars[v] = await f.lazy[v]!();
  }
  try {
    const { stdout, stderr } = await execFileP("bash", ["-c", `set -o pipefail\n${cmd.text}`], {
      env: { PATH: [cliShimDir(f.env.dir), process.env.PATH].join(delimiter), HOME: f.env.dir, ...vars },
      timeout: 90_000,
      maxBuffer: 8 * 1024 * 1024,
    });
    return { code: 0, out: `${stdout}${stderr}` };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === "number" ? x.code : 1, out: `${x.stdout ?? ""}${x.stderr ?? ""}` };
  }
}

const SKILLS = skillDirs();

describe("skills", () => {
  it("ships the skills the agents are told about", () => {
    expect(SKILLS).toEqual(expect.arrayContaining(["advice-broker", "supervise-workers"]));
  });

  for (const skill of SKILLS) {
    describe(skill, () => {
      const text = readFileSync(join(skillsRoot(), skill, "SKILL.md"), "utf8");
      const commands = fencedCommands(text, DEFAULT_PRINCIPAL[skill] ?? "owner");
      let f: Fixture;
      beforeAll(async () => {
        f = await fixture();
      }, 60_000);
      afterAll(async () => f?.close());

      it("has a name and description, CLI and curl forms and an error-handling section", () => {
        expect(text).toMatch(new RegExp(`^---\\n+name: ${skill}\\n+description: .+`, "m"));
        expect(text).toMatch(/switchyard [a-z]/);
        expect(text).toMatch(/curl /);
        expect(text).toMatch(/^## Error handling/m);
      });

      it(`runs all ${commands.length} fenced commands verbatim, exiting 0`, async () => {
        const failures: string[] = [];
        for (const cmd of commands) {
          const r = await runCommand(f, cmd);
          if (r.code !== 0) failures.push(`line ${cmd.line} as ${cmd.as}: exit ${r.code}\n$ ${cmd.text}\n${r.out.slice(0, 2000)}`);
        }
        expect(failures).toEqual([]);
      }, 300_000);
    });
  }
});

describe("fencedCommands", () => {
  it("joins continuations, skips comments and other languages, and honours '# as the …'", () => {
    const md = [
      "```bash",
      "# a note",
      'switchyard cycle "$TASK" \\',
      "  --json",
      "# as the owner",
      "switchyard broker queue --json",
      "```",
      "```json",
      '{"not": "a command"}',
      "```",
      "```bash",
      "curl -sf x",
      "```",
    ].join("\n");
    expect(fencedCommands(md, "worker")).toEqual([
      { text: 'switchyard cycle "$TASK" \\\n  --json', as: "worker", line: 3 },
      { text: "switchyard broker queue --json", as: "owner", line: 6 },
      { text: "curl -sf x", as: "worker", line: 12 },
    ]);
  });
});
