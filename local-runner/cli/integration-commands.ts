import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { AGENT_KINDS } from "../../schema/enums.ts";
import { agentLaunchConfig } from "../agents.ts";
import { resolveHome } from "../home.ts";
import { agentServerUrl, DEFAULT_HOOK_URL } from "./hooks-commands.ts";
import { EXIT_FAILED, EXIT_OK, flag, HintedError, str, UsageError, type Args, type CommandSpec, type GlobalOptions } from "./spec.ts";

const execFileP = promisify(execFile);

/** The name the Switchyard MCP server is registered under in each agent. */
export const MCP_SERVER_NAME = "switchyard";
/** The variable agents read their own Switchyard token from (set by spawn). */
const TOKEN_ENV = "SWITCHYARD_TOKEN";

/** Claude Code's MCP config scopes; Codex has user only. */
const MCP_SCOPES = ["user", "project", "local"] as const;

// --agent and --scope are checked against their choices before a command runs.
function agentOf(a: Args): "claude" | "codex" {
  const v = str(a, "agent") as "claude" | "codex" | undefined;
  if (v === undefined) throw new UsageError("--agent is required: claude or codex");
  return v;
}

function print(g: GlobalOptions, json: unknown, lines: string[]): void {
  process.stdout.write(`${g.json ? JSON.stringify(json, null, 2) : lines.join("\n")}\n`);
}

/** The agent's CLI as this machine runs it (SWITCHYARD_CLAUDE_BIN / SWITCHYARD_CODEX_BIN, PATH, node_modules). */
function agentBin(agent: "claude" | "codex", g: GlobalOptions): string {
  const home = g.home ? resolveHome(process.env, { home: g.home }) : { home: "", hostName: "" };
  return agentLaunchConfig(process.env, home as ReturnType<typeof resolveHome>)[agent].command[0]!;
}

async function mcpUrl(a: Args, g: GlobalOptions): Promise<{ url: string; source: string }> {
  const flagged = str(a, "mcp-url");
  const server = await agentServerUrl("mcp-url", flagged, g);
  const base = (flagged === undefined ? `${server.url}/mcp` : server.url).replace(/\/+$/, "");
  if (!/^https?:\/\/[^\s/]+/.test(base)) throw new UsageError(`--mcp-url must be an http(s) URL, got '${base}'`);
  return { url: base, source: server.source };
}

async function run(bin: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const { stdout, stderr } = await execFileP(bin, args, { timeout: 60_000, maxBuffer: 1024 * 1024 });
    return { ok: true, out: `${stdout}${stderr}`.trim() };
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    return { ok: false, out: `${x.stdout ?? ""}${x.stderr ?? ""}`.trim() || x.message };
  }
}

/**
 * The argv that registers the server with an agent. Claude Code expands `${VAR}` in the
 * header when it connects; Codex reads the bearer token from the named variable itself.
 * Either way the token stays out of the agent's config file.
 */
export function mcpAddArgs(agent: "claude" | "codex", url: string, scope: string): string[] {
  if (agent === "claude")
    return ["mcp", "add", "--transport", "http", "--scope", scope, MCP_SERVER_NAME, url, "--header", `Authorization: Bearer \${${TOKEN_ENV}}`];
  return ["mcp", "add", MCP_SERVER_NAME, "--url", url, "--bearer-token-env-var", TOKEN_ENV];
}

/** What the agent has registered under our name now, as its own CLI reports it, or null. */
async function registered(agent: "claude" | "codex", bin: string, scope: string): Promise<string | null> {
  const r = agent === "claude" ? await run(bin, ["mcp", "get", MCP_SERVER_NAME]) : await run(bin, ["mcp", "get", MCP_SERVER_NAME, "--json"]);
  if (!r.ok) return null;
  if (agent === "claude" && !new RegExp(`Scope: .*${scope}`, "i").test(r.out)) return null;
  return r.out;
}

async function mcpInstall(a: Args, g: GlobalOptions): Promise<number> {
  const agent = agentOf(a);
  const { url, source } = await mcpUrl(a, g);
  const scope = str(a, "scope") ?? "user";
  if (agent === "codex" && scope !== "user") throw new UsageError("codex keeps MCP servers in $CODEX_HOME/config.toml only: --scope user");
  const bin = agentBin(agent, g);
  const add = mcpAddArgs(agent, url, scope);
  const have = await registered(agent, bin, scope);
  const current = have !== null && have.includes(url) && have.includes(TOKEN_ENV);
  const out = {
    agent,
    url,
    url_source: source,
    scope,
    command: [bin, ...add],
    action: current ? "unchanged" : have ? "replace" : "add",
    dry_run: flag(a, "dry-run"),
  };
  if (current || flag(a, "dry-run")) {
    print(g, out, [current ? `${agent}: ${MCP_SERVER_NAME} already points at ${url}` : `would run: ${[bin, ...add].join(" ")}`, `(URL from ${source})`]);
    return EXIT_OK;
  }
  if (have) {
    const removed = await run(bin, agent === "claude" ? ["mcp", "remove", "--scope", scope, MCP_SERVER_NAME] : ["mcp", "remove", MCP_SERVER_NAME]);
    if (!removed.ok) throw new HintedError(`${agent} mcp remove failed: ${removed.out}`, `Remove it by hand: ${bin} mcp remove ${MCP_SERVER_NAME}`);
  }
  const r = await run(bin, add);
  if (!r.ok) throw new HintedError(`${agent} mcp add failed: ${r.out}`, `Run it by hand: ${[bin, ...add].join(" ")}`);
  print(g, { ...out, output: r.out }, [
    `${agent}: registered MCP server ${MCP_SERVER_NAME} → ${url} (${scope}; URL from ${source}); it authenticates with $${TOKEN_ENV}, which agents spawned by Switchyard have`,
  ]);
  return EXIT_OK;
}

async function mcpUninstall(a: Args, g: GlobalOptions): Promise<number> {
  const agent = agentOf(a);
  const scope = str(a, "scope") ?? "user";
  const bin = agentBin(agent, g);
  const args = agent === "claude" ? ["mcp", "remove", "--scope", scope, MCP_SERVER_NAME] : ["mcp", "remove", MCP_SERVER_NAME];
  if (!(await registered(agent, bin, scope))) {
    print(g, { agent, action: "unchanged" }, [`${agent}: no MCP server named ${MCP_SERVER_NAME} (${scope})`]);
    return EXIT_OK;
  }
  if (flag(a, "dry-run")) {
    print(g, { agent, action: "remove", dry_run: true, command: [bin, ...args] }, [`would run: ${[bin, ...args].join(" ")}`]);
    return EXIT_OK;
  }
  const r = await run(bin, args);
  print(g, { agent, action: r.ok ? "removed" : "failed", output: r.out }, [r.ok ? `${agent}: removed MCP server ${MCP_SERVER_NAME}` : `error: ${r.out}`]);
  return r.ok ? EXIT_OK : EXIT_FAILED;
}

async function installSkills(a: Args, g: GlobalOptions): Promise<number> {
  const { installSkills: install, skillTargets } = await import("../skills.ts");
  const v = str(a, "agent") as "claude" | "codex" | undefined;
  const agents: Array<"claude" | "codex"> = v ? [v] : ["claude", "codex"];
  const dryRun = flag(a, "dry-run");
  const results = agents.map((agent) => ({ agent, dir: skillTargets(process.env)[agent], ...install(skillTargets(process.env)[agent], dryRun) }));
  const lines: string[] = [];
  for (const r of results) {
    for (const f of r.files) lines.push(`${r.agent}  ${f.path}  ${f.action === "unchanged" ? "unchanged" : dryRun ? `would ${f.action}` : `${f.action}d`}`);
    if (!r.files.length) lines.push(`${r.agent}  no skills found to install`);
  }
  print(g, { dry_run: dryRun, installed: results }, lines);
  return EXIT_OK;
}

/** Agent integration beyond hooks: the MCP server registration and the skills. */
export const INTEGRATION_COMMANDS: CommandSpec[] = [
  {
    name: "mcp install",
    group: "hooks",
    summary: "Register Switchyard's MCP endpoint (/mcp) with Claude Code or Codex, through the agent's own CLI",
    options: {
      agent: { type: "string", choices: AGENT_KINDS, description: "Which agent (required)" },
      scope: { type: "string", choices: MCP_SCOPES, description: "Claude's config scope (default user); Codex has only user" },
      "mcp-url": {
        type: "string",
        value: "URL",
        description: `The endpoint (default: --url, else $SWITCHYARD_URL, else the running \`switchyard up\` of the home, else ${DEFAULT_HOOK_URL}, plus /mcp)`,
      },
      "dry-run": { type: "boolean", description: "Print the command and change nothing" },
    },
    examples: ["switchyard mcp install --agent claude", "switchyard mcp install --agent codex --mcp-url http://127.0.0.1:8787/mcp"],
    home: "none",
    local: mcpInstall,
  },
  {
    name: "mcp uninstall",
    group: "hooks",
    summary: "Remove Switchyard's MCP endpoint from Claude Code or Codex",
    options: {
      agent: { type: "string", choices: AGENT_KINDS, description: "Which agent (required)" },
      scope: { type: "string", choices: MCP_SCOPES, description: "Claude's config scope (default user)" },
      "dry-run": { type: "boolean", description: "Print the command and change nothing" },
    },
    home: "none",
    local: mcpUninstall,
  },
  {
    name: "install-skills",
    group: "hooks",
    summary: "Copy every skill under skills/ into ~/.claude/skills and $CODEX_HOME/skills (idempotent)",
    options: {
      agent: { type: "string", choices: AGENT_KINDS, description: "Only this agent (default both)" },
      "dry-run": { type: "boolean", description: "Say what would be written and write nothing" },
    },
    examples: ["switchyard install-skills", "switchyard install-skills --agent codex --dry-run"],
    home: "none",
    local: installSkills,
  },
];
