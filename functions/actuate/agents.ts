import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { paneText } from "../lib/pane-text.ts";
import { AGENT_KINDS, CODEX_SANDBOXES, CODEX_APPROVALS } from "../../schema/enums.ts";

// In schema/enums.ts, which the CLI loads (without drizzle or zod) to check option values.
export { AGENT_KINDS, CODEX_SANDBOXES, CODEX_APPROVALS };

export type AgentKind = (typeof AGENT_KINDS)[number];

/** Launch options common to both CLIs; each maps them onto its own flags. */
export interface LaunchOptions {
  cwd: string;
  prompt?: string | null;
  sandbox?: (typeof CODEX_SANDBOXES)[number];
  askForApproval?: (typeof CODEX_APPROVALS)[number];
}

/**
 * The argv (and environment) that starts an agent TUI. The initial prompt is passed as an
 * argument rather than typed, so it cannot be mangled by paste detection. It comes after `--`,
 * so a prompt starting with '-' is never read as an option of the agent CLI, and it is made
 * literal text first (no control bytes or escape sequences; see lib/pane-text.ts).
 */
export function agentArgv(ctx: Ctx, agent: AgentKind, opts: LaunchOptions): { command: string[]; env: Record<string, string> } {
  const launch = ctx.agents?.[agent];
  if (!launch) {
    throw new ApiError("HOST_UNAVAILABLE", `this host has no ${agent} CLI configured`, {
      hint: agent === "codex" ? "Install @openai/codex or set SWITCHYARD_CODEX_BIN." : "Install @anthropic-ai/claude-code or set SWITCHYARD_CLAUDE_BIN.",
    });
  }
  const args: string[] = [];
  if (agent === "codex") {
    args.push("--cd", opts.cwd);
    if (opts.sandbox) args.push("--sandbox", opts.sandbox);
    if (opts.askForApproval) args.push("--ask-for-approval", opts.askForApproval);
  }
  const prompt = opts.prompt ? paneText(opts.prompt) : "";
  if (prompt.trim()) args.push("--", prompt);
  return { command: [...launch.command, ...args], env: { ...(launch.env ?? {}) } };
}

/** Names of variables that give an agent credentials or a model endpoint without a login. */
export function credentialVariables(env: Record<string, string> | undefined): string[] {
  return Object.keys(env ?? {}).filter((k) => /(_API_KEY|_AUTH_TOKEN|_OAUTH_TOKEN|_BASE_URL)$/.test(k) && !!env![k]);
}

/** What to do about an agent CLI that is not signed in. */
export function signInHint(agent: AgentKind): string {
  return agent === "codex"
    ? "Run `codex login` as the user that runs Switchyard (`codex login status` checks it); spawned agents would stop at its sign-in screen."
    : "Run `claude auth login`, or pass ANTHROPIC_API_KEY to the agents (SWITCHYARD_AGENT_ENV names extra variables to pass).";
}

/**
 * Refuses early when the agent CLI says it is not signed in, before a tmux session is started
 * and left waiting at a login screen. Skipped when the spawn environment brings a key or a
 * model endpoint of its own (a custom provider, a stub) or the host cannot ask the CLI.
 */
export async function assertSignedIn(ctx: Ctx, agent: AgentKind): Promise<void> {
  const launch = ctx.agents?.[agent];
  if (!launch || !ctx.host?.agentAuth || credentialVariables(launch.env).length) return;
  const status = await ctx.host.agentAuth(agent, launch);
  if (status.signed_in === false) {
    throw new ApiError("AGENT_NOT_SIGNED_IN", `${agent} is not signed in on ${ctx.hostName ? `host '${ctx.hostName}'` : "this host"}`, {
      hint: signInHint(agent),
    });
  }
}
