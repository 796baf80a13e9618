import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { CodexAppServer, listCodexHooks, type CodexHookInfo } from "../codex-app-server.ts";
import { appendElement, insertMember, nodeAt, parseTree, removeChild, replaceValue, plainValue, type JsonNode } from "./json-edit.ts";

export type HookAgentName = "claude" | "codex";
export type HookScope = "user" | "project";

/**
 * Claude Code 2.1.329 runs HTTP hooks natively (no process per event) for every event but
 * SessionStart and Setup, which take only command hooks; Codex 0.169 runs command hooks only.
 */
export const CLAUDE_HTTP_EVENTS = [
  "UserPromptSubmit",
  "PreToolUse",
  "PostToolUse",
  "PermissionRequest",
  "Notification",
  "Stop",
  "StopFailure",
  "PreCompact",
  "PostCompact",
  "SessionEnd",
] as const;
export const CLAUDE_COMMAND_EVENTS = ["SessionStart"] as const;
export const CODEX_EVENTS = [
  "SessionStart",
  "UserPromptSubmit",
  "PreToolUse",
  "PermissionRequest",
  "PostToolUse",
  "PreCompact",
  "PostCompact",
  "Stop",
] as const;

/** The environment variable hooks read their token from. */
export const HOOK_TOKEN_ENV = "SWITCHYARD_HOOK_TOKEN";
/** Seconds an HTTP hook may take before Claude gives up on it and carries on. */
export const HTTP_HOOK_TIMEOUT_S = 2;
/** Seconds a command hook may take (the script's own curl gives up after 2). */
export const COMMAND_HOOK_TIMEOUT_S = 5;

/** Where one agent's hooks live for one scope. */
export interface HookTarget {
  agent: HookAgentName;
  scope: HookScope;
  /** The settings file the hooks are merged into. */
  file: string;
  /** Codex only: the user config.toml where hook trust is recorded. */
  trustFile?: string;
}

/** The settings file of an agent for a scope. */
export function hookTarget(agent: HookAgentName, scope: HookScope, env: NodeJS.ProcessEnv, cwd: string): HookTarget {
  if (agent === "claude") {
    const user = env.CLAUDE_CONFIG_DIR || join(env.HOME || homedir(), ".claude");
    // Project scope uses the personal, git-ignored settings file: the hook URL and token are
    // this machine's, not the team's.
    return { agent, scope, file: scope === "user" ? join(user, "settings.json") : join(cwd, ".claude", "settings.local.json") };
  }
  const codexHome = env.CODEX_HOME || join(env.HOME || homedir(), ".codex");
  return {
    agent,
    scope,
    file: scope === "user" ? join(codexHome, "hooks.json") : join(cwd, ".codex", "hooks.json"),
    trustFile: join(codexHome, "config.toml"),
  };
}

/** What the hooks call: the server URL and the home whose script and host token they use. */
export interface HookEndpoint {
  url: string;
  home: string;
}

/** The script command hooks run (Codex, and Claude's SessionStart). */
export function hookScriptPath(home: string): string {
  return join(home, "bin", "switchyard-hook");
}

/** The per-host hook token file the script falls back to when the agent has no token of its own. */
export function hostHookTokenPath(home: string): string {
  return join(home, "hook.token");
}

const shq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** The command string of the hook for `agent`. */
export function hookCommand(home: string, agent: HookAgentName): string {
  return `${shq(hookScriptPath(home))} ${agent}`;
}

/**
 * The text of `<home>/bin/switchyard-hook`: reads the payload on stdin and posts it. It never
 * fails the hook: without a server, a token or an answer within 2 s it prints nothing and exits
 * 0, so the agent carries on. Only a 200 answer is printed (it is hook output: `{}`, or the
 * re-prime context on SessionStart). The token travels in a header read from a here-document,
 * so it never shows in a process listing.
 */
export function hookScriptText(e: HookEndpoint): string {
  return [
    "#!/bin/sh",
    "# Written by `switchyard hooks install`: posts the agent's hook payload (stdin) to Switchyard.",
    "# It never fails or holds up the agent: no server, no token or no answer within 2 s => exit 0.",
    'agent="$1"',
    `url="\${SWITCHYARD_HOOK_URL:-${e.url}}/v1/hooks/$agent"`,
    `token="\${${HOOK_TOKEN_ENV}:-}"`,
    `[ -n "$token" ] || token=$(cat ${shq(hostHookTokenPath(e.home))} 2>/dev/null)`,
    'if [ -z "$token" ]; then cat >/dev/null; exit 0; fi',
    "out=$(curl -sS -m 2 -X POST -H 'Content-Type: application/json' -H @/dev/fd/3 --data-binary @- -w '\\n%{http_code}' \"$url\" 2>/dev/null 3<<EOF",
    "Authorization: Bearer $token",
    "EOF",
    ")",
    'code=$(printf "%s" "$out" | tail -n 1)',
    'if [ "$code" = "200" ]; then printf "%s" "$out" | sed \'$d\'; fi',
    "exit 0",
    "",
  ].join("\n");
}

/** The handler Switchyard installs for one event. */
export function desiredHandler(agent: HookAgentName, event: string, e: HookEndpoint): Record<string, unknown> {
  if (agent === "claude" && (CLAUDE_HTTP_EVENTS as readonly string[]).includes(event)) {
    return {
      type: "http",
      url: `${e.url}/v1/hooks/claude`,
      timeout: HTTP_HOOK_TIMEOUT_S,
      headers: { Authorization: `Bearer $${HOOK_TOKEN_ENV}` },
      allowedEnvVars: [HOOK_TOKEN_ENV],
    };
  }
  return { type: "command", command: hookCommand(e.home, agent), timeout: COMMAND_HOOK_TIMEOUT_S };
}

/** The events Switchyard installs for an agent. */
export function hookEvents(agent: HookAgentName): string[] {
  return agent === "claude" ? [...CLAUDE_COMMAND_EVENTS, ...CLAUDE_HTTP_EVENTS] : [...CODEX_EVENTS];
}

/** True for a handler that Switchyard installed (any URL or home). */
export function isOurHandler(agent: HookAgentName, h: unknown): boolean {
  if (!h || typeof h !== "object") return false;
  const x = h as { type?: unknown; url?: unknown; command?: unknown };
  if (x.type === "http" && typeof x.url === "string") return x.url.endsWith(`/v1/hooks/${agent}`);
  return x.type === "command" && typeof x.command === "string" && /switchyard-hook'? (claude|codex)$/.test(x.command) && x.command.endsWith(` ${agent}`);
}

/** Where our handler sits in a settings file: event, group index, handler index. */
interface Found {
  event: string;
  group: number;
  handler: number;
  value: Record<string, unknown>;
}

function ours(agent: HookAgentName, root: JsonNode): Found[] {
  const hooks = plainValue(nodeAt(root, ["hooks"])) as Record<string, unknown> | undefined;
  const out: Found[] = [];
  if (!hooks || typeof hooks !== "object") return out;
  for (const [event, groups] of Object.entries(hooks)) {
    if (!Array.isArray(groups)) continue;
    groups.forEach((g, gi) => {
      const hs = (g as { hooks?: unknown })?.hooks;
      if (!Array.isArray(hs)) return;
      hs.forEach((h, hi) => {
        if (isOurHandler(agent, h)) out.push({ event, group: gi, handler: hi, value: h as Record<string, unknown> });
      });
    });
  }
  return out;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** What an install or uninstall did (or would do) to one file. */
export interface FileChange {
  agent: HookAgentName;
  scope: HookScope;
  file: string;
  action: "create" | "update" | "unchanged" | "delete" | "restore";
  added: string[];
  updated: string[];
  removed: string[];
  note?: string;
}

/**
 * The settings text with Switchyard's hooks merged in: each event gets one matcher group with
 * our handler, appended after the user's own; a handler of ours whose URL or home changed is
 * replaced in place; nothing else in the file is touched (edits are byte-range insertions).
 * For Claude, an `allowedHttpHookUrls` / `httpHookAllowedEnvVars` list already in the file gets
 * our URL / variable added, since a list that leaves them out would block our hooks.
 */
export function mergeHooks(agent: HookAgentName, text: string, file: string, e: HookEndpoint): { text: string; added: string[]; updated: string[] } {
  let t = text.trim() === "" ? "{}\n" : text;
  const added: string[] = [];
  const updated: string[] = [];
  for (const event of hookEvents(agent)) {
    const want = desiredHandler(agent, event, e);
    const root = parseTree(t, file);
    const have = ours(agent, root).filter((f) => f.event === event);
    if (have.length) {
      const f = have[0]!;
      if (!same(f.value, want)) {
        t = replaceValue(t, nodeAt(root, ["hooks", event, f.group, "hooks", f.handler])!, want);
        updated.push(event);
      }
      continue;
    }
    const group = { hooks: [want] };
    const hooksNode = nodeAt(root, ["hooks"]);
    if (!hooksNode) t = insertMember(t, root, "hooks", { [event]: [group] });
    else if (hooksNode.type !== "object") throw new Error(`${file}: "hooks" is not an object; fix it by hand, then install again`);
    else {
      const arr = nodeAt(root, ["hooks", event]);
      if (!arr) t = insertMember(t, hooksNode, event, [group]);
      else if (arr.type !== "array") throw new Error(`${file}: hooks.${event} is not an array; fix it by hand, then install again`);
      else t = appendElement(t, arr, group);
    }
    added.push(event);
  }
  if (agent === "claude") {
    for (const [key, want] of [
      ["allowedHttpHookUrls", `${e.url}/v1/hooks/claude`],
      ["httpHookAllowedEnvVars", HOOK_TOKEN_ENV],
    ] as const) {
      const root = parseTree(t, file);
      const list = nodeAt(root, [key]);
      if (list?.type === "array" && !(plainValue(list) as unknown[]).includes(want)) {
        t = appendElement(t, list, want);
        updated.push(key);
      }
    }
  }
  return { text: t, added, updated };
}

/**
 * The settings text without Switchyard's hooks (and without our entries in Claude's allow
 * lists): each handler of ours is removed with its group when the group holds nothing else,
 * and an event list or `hooks` object left empty goes too.
 */
export function removeHooks(agent: HookAgentName, text: string, file: string, url: string | null): { text: string; removed: string[] } {
  let t = text;
  const removed: string[] = [];
  for (;;) {
    const root = parseTree(t, file);
    const found = ours(agent, root).at(-1);
    if (!found) break;
    const groupNode = nodeAt(root, ["hooks", found.event, found.group])!;
    const handlers = plainValue(nodeAt(root, ["hooks", found.event, found.group, "hooks"])) as unknown[];
    t = handlers.length === 1 ? removeChild(t, groupNode) : removeChild(t, nodeAt(root, ["hooks", found.event, found.group, "hooks", found.handler])!);
    const after = parseTree(t, file);
    const arr = nodeAt(after, ["hooks", found.event]);
    if (arr && (arr.children ?? []).length === 0) t = removeChild(t, arr.parent!);
    const hooks = nodeAt(parseTree(t, file), ["hooks"]);
    if (hooks && hooks.type === "object" && (hooks.children ?? []).length === 0) t = removeChild(t, hooks.parent!);
    if (!removed.includes(found.event)) removed.push(found.event);
  }
  if (agent === "claude") {
    for (const key of ["allowedHttpHookUrls", "httpHookAllowedEnvVars"]) {
      for (;;) {
        const list = nodeAt(parseTree(t, file), [key]);
        const idx = (list?.children ?? []).findIndex((c) => {
          const v = plainValue(c);
          return key === "httpHookAllowedEnvVars"
            ? v === HOOK_TOKEN_ENV
            : typeof v === "string" && (url ? v === `${url}/v1/hooks/claude` : v.endsWith("/v1/hooks/claude"));
        });
        if (idx < 0) break;
        t = removeChild(t, list!.children![idx]!);
        if (!removed.includes(key)) removed.push(key);
      }
    }
  }
  return { text: t, removed };
}

// ---------------------------------------------------------------------------------------------
// The manifest: what install found and wrote, so uninstall gives back the exact bytes.

interface ManifestEntry {
  existed: boolean;
  /** The file's bytes before the first install (base64), when it existed. */
  before: string | null;
  /** SHA-256 of the bytes install left; when the file still has them, uninstall restores `before`. */
  after: string;
  url: string;
}

function manifestPath(home: string): string {
  return join(home, "hooks", "installed.json");
}

function readManifest(home: string): Record<string, ManifestEntry> {
  try {
    return JSON.parse(readFileSync(manifestPath(home), "utf8")) as Record<string, ManifestEntry>;
  } catch {
    return {};
  }
}

function writeManifest(home: string, m: Record<string, ManifestEntry>): void {
  mkdirSync(dirname(manifestPath(home)), { recursive: true, mode: 0o700 });
  atomicWrite(manifestPath(home), `${JSON.stringify(m, null, 2)}\n`, 0o600);
}

const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

/** Writes through a temp file and a rename, so the agent never reads half a settings file. */
function atomicWrite(file: string, text: string, mode?: number): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.switchyard.tmp`;
  writeFileSync(tmp, text, mode === undefined ? undefined : { mode });
  renameSync(tmp, file);
}

/** Writes the hook script when its text changed; returns whether it did. */
export function ensureHookScript(e: HookEndpoint, dryRun: boolean): boolean {
  const path = hookScriptPath(e.home);
  const text = hookScriptText(e);
  if (existsSync(path) && readFileSync(path, "utf8") === text) return false;
  if (!dryRun) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    atomicWrite(path, text, 0o755);
    chmodSync(path, 0o755);
  }
  return true;
}

/** Merges our hooks into one target's settings file (or says what it would do). */
export function installInto(t: HookTarget, e: HookEndpoint, dryRun: boolean): FileChange {
  const existed = existsSync(t.file);
  const before = existed ? readFileSync(t.file) : null;
  const merged = mergeHooks(t.agent, before?.toString("utf8") ?? "", t.file, e);
  const change: FileChange = { agent: t.agent, scope: t.scope, file: t.file, action: "unchanged", added: merged.added, updated: merged.updated, removed: [] };
  if (!merged.added.length && !merged.updated.length) return change;
  change.action = existed ? "update" : "create";
  if (dryRun) return change;
  const manifest = readManifest(e.home);
  const prior = manifest[t.file];
  // The first install keeps the original bytes; a later one (an upgrade of our handlers) keeps
  // them too, as long as nobody else changed the file in between.
  const keep = prior && before && sha(before) === prior.after ? prior : null;
  atomicWrite(t.file, merged.text);
  manifest[t.file] = {
    existed: keep ? keep.existed : existed,
    before: keep ? keep.before : before ? before.toString("base64") : null,
    after: sha(merged.text),
    url: e.url,
  };
  writeManifest(e.home, manifest);
  return change;
}

/** Removes our hooks from one target's settings file, restoring the original bytes when it can. */
export function uninstallFrom(t: HookTarget, home: string, dryRun: boolean): FileChange {
  const change: FileChange = { agent: t.agent, scope: t.scope, file: t.file, action: "unchanged", added: [], updated: [], removed: [] };
  if (!existsSync(t.file)) return change;
  const now = readFileSync(t.file);
  const manifest = readManifest(home);
  const entry = manifest[t.file];
  const stripped = removeHooks(t.agent, now.toString("utf8"), t.file, entry?.url ?? null);
  change.removed = stripped.removed;
  if (!stripped.removed.length) return change;
  if (entry && sha(now) === entry.after) {
    // Untouched since install: give back exactly what was there.
    change.action = entry.existed ? "restore" : "delete";
    if (!dryRun) {
      if (entry.existed) atomicWrite(t.file, Buffer.from(entry.before ?? "", "base64").toString("utf8"));
      else rmSync(t.file);
    }
  } else {
    change.action = "update";
    change.note = "the file changed since install; removed Switchyard's entries and kept everything else";
    if (!dryRun) atomicWrite(t.file, stripped.text);
  }
  if (!dryRun && entry) {
    delete manifest[t.file];
    writeManifest(home, manifest);
  }
  return change;
}

/** Our hooks as they are now in one target's file. */
export interface TargetStatus {
  agent: HookAgentName;
  scope: HookScope;
  file: string;
  exists: boolean;
  events: string[];
  missing: string[];
  url: string | null;
  current: boolean;
  error?: string;
}

/** Reads which of our hooks a target's file holds, and whether they match what install writes. */
export function targetStatus(t: HookTarget, e: HookEndpoint | null): TargetStatus {
  const st: TargetStatus = { agent: t.agent, scope: t.scope, file: t.file, exists: existsSync(t.file), events: [], missing: [], url: null, current: false };
  if (!st.exists) {
    st.missing = hookEvents(t.agent);
    return st;
  }
  try {
    const root = parseTree(readFileSync(t.file, "utf8"), t.file);
    const found = ours(t.agent, root);
    st.events = [...new Set(found.map((f) => f.event))];
    st.missing = hookEvents(t.agent).filter((ev) => !st.events.includes(ev));
    const http = found.find((f) => f.value.type === "http");
    st.url = http ? String(http.value.url).replace(/\/v1\/hooks\/claude$/, "") : null;
    st.current = !!e && st.missing.length === 0 && found.every((f) => same(f.value, desiredHandler(t.agent, f.event, e)));
  } catch (err) {
    st.error = (err as Error).message;
  }
  return st;
}

// ---------------------------------------------------------------------------------------------
// Codex hook trust

const TRUST_BEGIN = "# >>> switchyard hooks trust: `switchyard hooks uninstall --agent codex` removes this block";
const TRUST_END = "# <<< switchyard hooks trust";

/** The config.toml text with our trust block cut out (and the newline we added before it). */
function withoutTrustBlock(text: string): { text: string; keys: string[] } {
  const start = text.indexOf(TRUST_BEGIN);
  if (start < 0) return { text, keys: [] };
  const endMarker = text.indexOf(TRUST_END, start);
  const end = endMarker < 0 ? text.length : text.indexOf("\n", endMarker) + 1 || text.length;
  const block = text.slice(start, end);
  const keys = [...block.matchAll(/^\[hooks\.state\."(.*)"\]$/gm)].map((m) => JSON.parse(`"${m[1]}"`) as string);
  let head = text.slice(0, start);
  // The block records whether install had to end the user's last line first.
  if (block.startsWith(`${TRUST_BEGIN} (newline added)`)) head = head.replace(/\n$/, "");
  return { text: head + text.slice(end), keys };
}

/** Trust statuses of our hooks for one target, from Codex itself. */
export interface CodexTrust {
  file: string;
  hooks: Array<{ key: string; event: string; trust: CodexHookInfo["trustStatus"]; hash: string }>;
  errors: unknown[];
}

/** Asks `codex app-server` (hooks/list) how Codex sees our hooks in `file`. */
export async function codexTrust(codex: string, env: NodeJS.ProcessEnv, cwd: string, file: string, home: string): Promise<CodexTrust> {
  const server = await CodexAppServer.start(codex, env);
  try {
    const listed = await listCodexHooks(server, cwd);
    const cmd = hookCommand(home, "codex");
    return {
      file,
      hooks: listed.hooks
        .filter((h) => h.sourcePath === file && h.command === cmd)
        .map((h) => ({ key: h.key, event: h.eventName, trust: h.trustStatus, hash: h.currentHash })),
      errors: listed.errors,
    };
  } finally {
    await server.close();
  }
}

/**
 * Records trust for our Codex hooks in the user config.toml, with the hashes Codex itself
 * reports (never computed here), in one marked block appended at the end of the file; the
 * rest of the file is not touched, and uninstall cuts the block out again. Codex skips an
 * untrusted hook without a word, which is why install does this: the owner asked for exactly
 * these hooks.
 */
export function writeCodexTrust(trustFile: string, trust: CodexTrust, dryRun: boolean): { trusted: string[]; already: string[]; changed: boolean } {
  const existing = existsSync(trustFile) ? readFileSync(trustFile, "utf8") : "";
  const { text: rest, keys: ourKeys } = withoutTrustBlock(existing);
  // Hooks trusted outside our block (by /hooks in the TUI) stay as the user left them.
  const need = trust.hooks.filter((h) => h.trust !== "trusted" || ourKeys.includes(h.key));
  const already = trust.hooks.filter((h) => !need.includes(h)).map((h) => h.key);
  if (!need.length) return { trusted: [], already, changed: false };
  const addNewline = rest.length > 0 && !rest.endsWith("\n");
  const lines = [`${TRUST_BEGIN}${addNewline ? " (newline added)" : ""}`];
  for (const h of need) lines.push(`[hooks.state.${JSON.stringify(h.key)}]`, `trusted_hash = ${JSON.stringify(h.hash)}`);
  lines.push(TRUST_END, "");
  const next = `${rest}${addNewline ? "\n" : ""}${lines.join("\n")}`;
  if (!dryRun && next !== existing) {
    if (rest.trim() === "" && existing === "") mkdirSync(dirname(trustFile), { recursive: true });
    atomicWrite(trustFile, next);
  }
  return { trusted: need.map((h) => h.key), already, changed: next !== existing };
}

/** Removes our trust block from config.toml; deletes the file when the block was all of it. */
export function removeCodexTrust(trustFile: string, dryRun: boolean): string[] {
  if (!existsSync(trustFile)) return [];
  const existing = readFileSync(trustFile, "utf8");
  const { text, keys } = withoutTrustBlock(existing);
  if (text === existing) return [];
  if (!dryRun) {
    if (text === "") rmSync(trustFile);
    else atomicWrite(trustFile, text);
  }
  return keys;
}
