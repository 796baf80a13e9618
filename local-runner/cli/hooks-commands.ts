import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { HOOK_AGENTS } from "../../schema/enums.ts";
import { agentLaunchConfig } from "../agents.ts";
import { resolveHome } from "../home.ts";
import type { FileChange, HookAgentName, HookEndpoint, HookScope, HookTarget } from "../hooks/install.ts";
import { openTransport } from "./connect.ts";
import { EXIT_FAILED, EXIT_OK, flag, HintedError, pos, str, UsageError, type Args, type CommandSpec, type GlobalOptions } from "./spec.ts";
import { nextPageHintFor } from "./paging.ts";

const enc = encodeURIComponent;
/** Where hooks post when nothing says otherwise (no flag, no $SWITCHYARD_URL, no running `up`): `switchyard up`'s default. */
export const DEFAULT_HOOK_URL = "http://127.0.0.1:8787";

/** A server URL handed to agents, and what it came from (printed, so a wrong guess is visible). */
export interface ServerUrl {
  url: string;
  source: string;
}

/**
 * The server agents should reach: the command's own flag, else --url / $SWITCHYARD_URL (the
 * server this command talks to), else the `switchyard up` running on the home (which records
 * its URL, port included), else the default port.
 */
export async function agentServerUrl(flagName: string, flagValue: string | undefined, g: GlobalOptions): Promise<ServerUrl> {
  if (flagValue !== undefined) return { url: flagValue.replace(/\/+$/, ""), source: `--${flagName}` };
  if (g.url) return { url: g.url.replace(/\/+$/, ""), source: "--url / $SWITCHYARD_URL" };
  if (g.home) {
    const { runningUp } = await import("../up-record.ts");
    const up = runningUp(g.home);
    if (up) return { url: up.url, source: `the running \`switchyard up\` (pid ${up.pid})` };
  }
  return { url: DEFAULT_HOOK_URL, source: "the default; no --url, $SWITCHYARD_URL or running `switchyard up` for this home" };
}

/** Where hooks are installed: the user's settings, or this project's. */
const HOOK_SCOPES = ["user", "project"] as const satisfies readonly HookScope[];

// --agent and --scope are checked against their choices before a command runs.
function agentsOf(a: Args, required: boolean): HookAgentName[] {
  const v = str(a, "agent") as HookAgentName | undefined;
  if (v === undefined) {
    if (required) throw new UsageError("--agent is required: claude or codex");
    return [...HOOK_AGENTS];
  }
  return [v];
}

function scopeOf(a: Args): HookScope {
  return (str(a, "scope") as HookScope | undefined) ?? "user";
}

async function endpoint(a: Args, g: GlobalOptions): Promise<HookEndpoint & { source: string }> {
  if (!g.home) throw new HintedError("hooks need a switchyard home (the hook script and host token live there)", "Run `switchyard init` here, or pass --home.");
  const { url, source } = await agentServerUrl("hook-url", str(a, "hook-url"), g);
  if (!/^https?:\/\/[^\s/]+/.test(url)) throw new UsageError(`--hook-url must be an http(s) URL, got '${url}'`);
  return { url, home: g.home, source };
}

function print(g: GlobalOptions, json: unknown, lines: string[]): void {
  process.stdout.write(`${g.json ? JSON.stringify(json, null, 2) : lines.join("\n")}\n`);
}

function changeLine(c: FileChange, dryRun: boolean): string {
  const what = [
    c.added.length ? `add ${c.added.join(", ")}` : null,
    c.updated.length ? `update ${c.updated.join(", ")}` : null,
    c.removed.length ? `remove ${c.removed.join(", ")}` : null,
  ]
    .filter(Boolean)
    .join("; ");
  const done = {
    create: "created",
    update: "updated",
    restore: "restored to its bytes before install",
    delete: "deleted (install had created it)",
    unchanged: "",
  };
  const action =
    c.action === "unchanged"
      ? c.removed.length || c.added.length || c.updated.length
        ? "unchanged"
        : "unchanged (nothing of Switchyard's to change)"
      : `${dryRun ? `would ${c.action}` : done[c.action]}${what ? `: ${what}` : ""}`;
  return `${c.agent} ${c.scope}  ${c.file}  ${action}${c.note ? `\n  note: ${c.note}` : ""}`;
}

/** How this machine runs codex (the same binary spawned agents get). */
function codexCommand(g: GlobalOptions): string {
  return agentLaunchConfig(process.env, resolveHome(process.env, { home: g.home })).codex.command[0]!;
}

/**
 * Makes sure the home has a host hook token the hook script can fall back to, for agents that
 * were not spawned by Switchyard (those get a token of their own). Minted once; reused after.
 */
async function ensureHostToken(g: GlobalOptions, dryRun: boolean): Promise<{ path: string; minted: boolean; error?: string }> {
  const { hostHookTokenPath } = await import("../hooks/install.ts");
  const path = hostHookTokenPath(g.home!);
  if (existsSync(path) && readFileSync(path, "utf8").trim()) return { path, minted: false };
  if (dryRun) return { path, minted: true };
  const host = resolveHome(process.env, { home: g.home }).hostName;
  try {
    const t = await openTransport(g);
    try {
      const res = await t.send({ method: "POST", path: "/tokens", body: { scope: "hook", host, label: `hooks:${host}` } });
      if (res.status !== 201) return { path, minted: false, error: res.body?.error?.message ?? `HTTP ${res.status}` };
      writeFileSync(path, `${res.body.token}\n`, { mode: 0o600 });
      return { path, minted: true };
    } finally {
      await t.close();
    }
  } catch (e) {
    return { path, minted: false, error: (e as Error).message };
  }
}

async function install(a: Args, g: GlobalOptions): Promise<number> {
  const { ensureHookScript, hookTarget, installInto, codexTrust, writeCodexTrust } = await import("../hooks/install.ts");
  const dryRun = flag(a, "dry-run");
  const { source, ...e } = await endpoint(a, g);
  const scope = scopeOf(a);
  const out: Record<string, unknown> = { dry_run: dryRun, url: e.url, url_source: source, changes: [] as FileChange[], trust: [] as unknown[] };
  const lines: string[] = [];
  const script = ensureHookScript(e, dryRun);
  out.script = { path: (await import("../hooks/install.ts")).hookScriptPath(e.home), written: script };
  if (script) lines.push(`${dryRun ? "would write" : "wrote"} ${(out.script as { path: string }).path}`);
  const token = await ensureHostToken(g, dryRun);
  out.host_token = token;
  if (token.minted) lines.push(`${dryRun ? "would mint" : "minted"} a host hook token into ${token.path}`);
  if (token.error) lines.push(`warning: no host hook token (${token.error}); agents spawned by Switchyard bring their own`);
  let failed = false;
  for (const agent of agentsOf(a, true)) {
    const target: HookTarget = hookTarget(agent, scope, process.env, process.cwd());
    const change = installInto(target, e, dryRun);
    (out.changes as FileChange[]).push(change);
    lines.push(changeLine(change, dryRun));
    if (agent === "codex" && !dryRun) {
      try {
        const trust = await codexTrust(codexCommand(g), process.env, process.cwd(), target.file, e.home);
        const written = writeCodexTrust(target.trustFile!, trust, dryRun);
        (out.trust as unknown[]).push({ file: target.trustFile, ...written, errors: trust.errors });
        if (written.changed) lines.push(`codex trust  ${target.trustFile}  trusted ${written.trusted.length} hook(s) with the hashes codex reports`);
        if (trust.hooks.length < (await import("../hooks/install.ts")).hookEvents("codex").length) {
          failed = true;
          lines.push(
            `error: codex lists ${trust.hooks.length} of Switchyard's hooks in ${target.file}${trust.errors.length ? `: ${JSON.stringify(trust.errors)}` : ""}`,
          );
        }
      } catch (err) {
        failed = true;
        lines.push(
          `error: could not record codex hook trust: ${(err as Error).message}`,
          "hint: run `codex` and open /hooks to trust Switchyard's hooks by hand",
        );
      }
    } else if (agent === "codex") lines.push(`codex trust  ${target.trustFile}  would trust Switchyard's hooks (hashes from codex app-server hooks/list)`);
  }
  lines.push(
    `hooks post to ${e.url}/v1/hooks/<agent> (from ${source}) with $SWITCHYARD_HOOK_TOKEN (spawned agents have it; others: export SWITCHYARD_HOOK_TOKEN=$(cat ${token.path}))`,
  );
  print(g, out, lines);
  return failed ? EXIT_FAILED : EXIT_OK;
}

async function uninstall(a: Args, g: GlobalOptions): Promise<number> {
  const { hookTarget, uninstallFrom, removeCodexTrust } = await import("../hooks/install.ts");
  const dryRun = flag(a, "dry-run");
  if (!g.home) throw new HintedError("hooks uninstall needs the home that installed them", "Pass --home, or run it where `hooks install` ran.");
  const scope = scopeOf(a);
  const out: Record<string, unknown> = { dry_run: dryRun, changes: [] as FileChange[], trust_removed: [] as string[] };
  const lines: string[] = [];
  for (const agent of agentsOf(a, true)) {
    const target = hookTarget(agent, scope, process.env, process.cwd());
    const change = uninstallFrom(target, g.home, dryRun);
    (out.changes as FileChange[]).push(change);
    lines.push(changeLine(change, dryRun));
    if (agent === "codex") {
      const keys = removeCodexTrust(target.trustFile!, dryRun);
      (out.trust_removed as string[]).push(...keys);
      if (keys.length) lines.push(`codex trust  ${target.trustFile}  ${dryRun ? "would remove" : "removed"} the trust of ${keys.length} hook(s)`);
    }
  }
  print(g, out, lines);
  return EXIT_OK;
}

async function status(a: Args, g: GlobalOptions): Promise<number> {
  const { hookTarget, targetStatus, codexTrust } = await import("../hooks/install.ts");
  const e = g.home ? await endpoint(a, g) : null;
  const rows = [];
  const lines: string[] = [];
  for (const agent of agentsOf(a, false)) {
    for (const scope of ["user", "project"] as const) {
      const target = hookTarget(agent, scope, process.env, process.cwd());
      const st: ReturnType<typeof targetStatus> & { trust?: unknown; trust_error?: string } = targetStatus(target, e);
      if (agent === "codex" && st.events.length && !flag(a, "no-trust-check") && e) {
        try {
          const trust = await codexTrust(codexCommand(g), process.env, process.cwd(), target.file, e.home);
          st.trust = trust.hooks.map((h) => ({ event: h.event, trust: h.trust }));
        } catch (err) {
          st.trust_error = (err as Error).message;
        }
      }
      rows.push(st);
      const state = !st.exists
        ? "no file"
        : st.error
          ? `unreadable: ${st.error}`
          : st.events.length === 0
            ? "not installed"
            : `${st.events.length} event(s)${st.missing.length ? `, missing ${st.missing.join(", ")}` : ""}${st.url ? ` → ${st.url}` : ""}${st.current ? "" : " (differs from what install writes now; run hooks install)"}`;
      const trust = Array.isArray(st.trust)
        ? `; codex trust: ${(st.trust as Array<{ trust: string }>).every((t) => t.trust === "trusted") ? "trusted" : (st.trust as Array<{ event: string; trust: string }>).map((t) => `${t.event}=${t.trust}`).join(", ")}`
        : st.trust_error
          ? `; codex trust unknown (${st.trust_error})`
          : "";
      lines.push(`${agent.padEnd(6)} ${scope.padEnd(7)} ${target.file}  ${state}${trust}`);
    }
  }
  print(g, { hooks: rows }, lines);
  return EXIT_OK;
}

function renderState(b: any): string {
  const h = b.hook_state;
  if (!h) return `${b.session}: no hook event yet (hooks installed? switchyard hooks status)`;
  return `${b.session}: ${h.state} for ${h.age_seconds}s (set by ${h.agent} ${h.event}; ${h.events} event(s), last at ${h.last_event_at})${h.pending_transcript_path ? `\n  waiting for the new transcript ${h.pending_transcript_path}` : ""}`;
}

/** `switchyard hooks …`: install, uninstall and inspect agent hooks. */
export const HOOKS_COMMANDS: CommandSpec[] = [
  {
    name: "hooks install",
    group: "hooks",
    summary: "Merge Switchyard's hooks into Claude Code's or Codex's own settings (idempotent)",
    options: {
      agent: { type: "string", choices: HOOK_AGENTS, description: "Which agent's settings (required)" },
      scope: {
        type: "string",
        choices: HOOK_SCOPES,
        description: "user: ~/.claude/settings.json or $CODEX_HOME/hooks.json; project: ./.claude/settings.local.json or ./.codex/hooks.json (default user)",
      },
      "hook-url": {
        type: "string",
        value: "URL",
        description: `Server the hooks post to (default: --url, else $SWITCHYARD_URL, else the running \`switchyard up\` of the home, else ${DEFAULT_HOOK_URL})`,
      },
      "dry-run": { type: "boolean", description: "Say what would change and change nothing" },
    },
    examples: ["switchyard hooks install --agent claude", "switchyard hooks install --agent codex --scope project --dry-run"],
    local: install,
  },
  {
    name: "hooks uninstall",
    group: "hooks",
    summary: "Remove Switchyard's hooks; a file untouched since install gets its exact old bytes back",
    options: {
      agent: { type: "string", choices: HOOK_AGENTS, description: "Which agent's settings (required)" },
      scope: { type: "string", choices: HOOK_SCOPES, description: "As for install (default user)" },
      "dry-run": { type: "boolean", description: "Say what would change and change nothing" },
    },
    examples: ["switchyard hooks uninstall --agent claude"],
    local: uninstall,
  },
  {
    name: "hooks status",
    group: "hooks",
    summary: "Which of Switchyard's hooks are installed where (and, for Codex, whether they are trusted)",
    options: {
      agent: { type: "string", choices: HOOK_AGENTS, description: "Only this agent (default both)" },
      "hook-url": { type: "string", value: "URL", description: "Compare against hooks posting here" },
      "no-trust-check": { type: "boolean", description: "Do not start codex app-server to read hook trust" },
    },
    examples: ["switchyard hooks status", "switchyard hooks status --agent codex --json"],
    home: "none",
    local: status,
  },
  {
    name: "hooks state",
    group: "hooks",
    summary: "A session's hook-derived state, its age and the event that set it",
    positionals: [{ name: "NAME", required: true, description: "Session name" }],
    examples: ["switchyard hooks state auth-w"],
    request: (a) => ({ method: "GET", path: `/sessions/${enc(pos(a, 0)!)}/hook-state` }),
    render: renderState,
  },
  {
    name: "hooks events",
    group: "hooks",
    summary: "A session's hook events, newest first",
    positionals: [{ name: "NAME", required: true, description: "Session name" }],
    options: {
      limit: { type: "string", value: "N", description: "Events per page (default 50)" },
      cursor: { type: "string", value: "CURSOR", description: "next_cursor of the previous page" },
      "include-content": { type: "boolean", description: "Show prompts, messages and tool commands instead of length markers" },
    },
    examples: ["switchyard hooks events auth-w --limit 10"],
    request: (a) => ({
      method: "GET",
      path: `/sessions/${enc(pos(a, 0)!)}/hook-events`,
      query: { limit: str(a, "limit"), cursor: str(a, "cursor"), include_content: flag(a, "include-content") },
    }),
    render: (b: any, a) =>
      [
        ...b.events.map(
          (e: any) =>
            `${e.id} ${e.received_at} ${e.event}${e.state_after ? ` -> ${e.state_after}` : ""}${e.payload.tool_name ? ` ${e.payload.tool_name}` : ""}`,
        ),
      ].join("\n") + nextPageHintFor(b, "hooks events", a) || "no hook events",
  },
  {
    name: "hooks token",
    group: "hooks",
    summary: "Mint a hook token for one session (it can only post that session's hook events)",
    positionals: [{ name: "NAME", required: true, description: "Session name" }],
    examples: ["export SWITCHYARD_HOOK_TOKEN=$(switchyard hooks token auth-w --json | jq -r .token)"],
    request: (a) => ({ method: "POST", path: `/sessions/${enc(pos(a, 0)!)}/hook-token` }),
    render: (b: any) => `${b.token}\n(hook token ${b.token_id} for ${b.session}; shown once: give it to the agent as SWITCHYARD_HOOK_TOKEN)`,
  },
  {
    name: "hooks settings",
    group: "hooks",
    summary: "Show or set a task's hook behaviour (--reprime on: re-prime the worker after /clear, compaction, resume)",
    positionals: [{ name: "TASK", required: true, description: "Task name" }],
    options: { reprime: { type: "string", choices: ["on", "off"], description: "Set re-priming on a context reset" } },
    examples: ["switchyard hooks settings auth-refactor --reprime on"],
    request: (a) => {
      const v = str(a, "reprime");
      if (v === undefined) return { method: "GET", path: `/tasks/${enc(pos(a, 0)!)}/hook-settings` };
      return { method: "POST", path: `/tasks/${enc(pos(a, 0)!)}/hook-settings`, body: { reprime_on_reset: v === "on" } };
    },
    render: (b: any) => `${b.task}: re-prime on reset ${b.reprime_on_reset ? "on" : "off"}`,
  },
];
