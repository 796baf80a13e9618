import { realpath, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, delimiter, isAbsolute, join, resolve, sep } from "node:path";
import type { TranscriptInspection } from "../../functions/lib/host.ts";
import { readBytes } from "./files.ts";

/** Where each agent keeps its transcripts on this host, before symlinks are resolved. */
export interface TranscriptRoots {
  codex: string[];
  claude: string[];
}

/**
 * The transcript roots of this host: `$CODEX_HOME/sessions` (CODEX_HOME defaults to ~/.codex),
 * `<config>/projects` for Claude Code (CLAUDE_CONFIG_DIR, and ~/.claude), plus the directories
 * the owner lists in SWITCHYARD_TRANSCRIPT_ROOTS (separated like PATH), which count for both.
 */
export function transcriptRootsFromEnv(
  env: NodeJS.ProcessEnv,
  over: { codexHome?: string; claudeConfigDir?: string; extraRoots?: string[]; home?: string } = {},
): TranscriptRoots {
  const home = over.home ?? homedir();
  const codexHome = over.codexHome ?? (env.CODEX_HOME || join(home, ".codex"));
  const claude = [over.claudeConfigDir ?? env.CLAUDE_CONFIG_DIR, join(home, ".claude")].filter((d): d is string => !!d).map((d) => join(d, "projects"));
  const extra = over.extraRoots ?? splitRoots(env.SWITCHYARD_TRANSCRIPT_ROOTS);
  return { codex: [join(codexHome, "sessions"), ...extra], claude: [...new Set(claude), ...extra] };
}

/** Parses a PATH-style list of directories, keeping absolute ones only. */
export function splitRoots(value: string | undefined): string[] {
  return (value ?? "")
    .split(delimiter)
    .map((d) => d.trim())
    .filter((d) => d && isAbsolute(d))
    .map((d) => resolve(d));
}

/** The longest first line a header check reads: a Codex session_meta carries the system prompt. */
const HEADER_BYTES = 1024 * 1024;
/** Claude Code writes several bookkeeping records before the first message. */
const CLAUDE_HEADER_LINES = 20;

function isUnder(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

async function resolvedRoots(roots: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const r of roots) {
    const real = await realpath(r).catch(() => null);
    if (real) out.push(real);
  }
  return [...new Set(out)];
}

type Header = { agentSessionId: string | null; cwd: string | null } | { error: string };

/** Reads what the first records of a transcript say, or why they are not that agent's. */
async function readHeader(path: string, kind: "codex" | "claude", size: number): Promise<Header> {
  if (size === 0) return { agentSessionId: null, cwd: null };
  const bytes = await readBytes(path, 0, Math.min(size, HEADER_BYTES));
  const text = new TextDecoder().decode(bytes);
  const complete = text.lastIndexOf("\n");
  // A first line still being written may be read whole only if the file ends there.
  const lines = (complete === -1 ? (size <= HEADER_BYTES ? text : "") : text.slice(0, complete)).split("\n").filter((l) => l.trim());
  const records: Record<string, unknown>[] = [];
  for (const line of lines.slice(0, kind === "codex" ? 1 : CLAUDE_HEADER_LINES)) {
    try {
      const v = JSON.parse(line);
      if (!v || typeof v !== "object" || Array.isArray(v)) return { error: "a first record is not a JSON object" };
      records.push(v as Record<string, unknown>);
    } catch {
      return { error: "a first record is not JSON" };
    }
  }
  if (records.length === 0) return { error: "no complete first record" };
  if (kind === "codex") {
    const first = records[0]!;
    const payload = first.payload as Record<string, unknown> | undefined;
    if (first.type !== "session_meta" || typeof payload?.id !== "string") return { error: "it does not start with a Codex session_meta record" };
    return { agentSessionId: payload.id, cwd: typeof payload.cwd === "string" ? payload.cwd : null };
  }
  const ids = new Set(records.map((r) => r.sessionId).filter((x): x is string => typeof x === "string"));
  if (ids.size === 0) return { error: "its first records carry no Claude Code sessionId" };
  if (ids.size > 1) return { error: "its first records name more than one Claude Code session" };
  const cwd = records.map((r) => r.cwd).find((x): x is string => typeof x === "string") ?? null;
  return { agentSessionId: [...ids][0]!, cwd };
}

/**
 * Resolves and checks a transcript path (see Host.inspectTranscript). The path is resolved with
 * realpath, so a symlink is judged by what it points at; roots are resolved the same way.
 */
export async function inspectTranscript(
  path: string,
  kind: "codex" | "claude",
  roots: string[],
  opts: { header?: boolean } = {},
): Promise<TranscriptInspection> {
  const allowed = await resolvedRoots(roots);
  const label = kind === "codex" ? "Codex rollout" : "Claude Code transcript";
  const fail = (reason: "missing" | "not_allowed" | "not_transcript", message: string): TranscriptInspection => ({
    ok: false,
    reason,
    message,
    roots: allowed,
  });
  if (!isAbsolute(path)) return fail("not_allowed", `transcript path '${path}' is not absolute`);
  let real: string;
  try {
    real = await realpath(path);
  } catch {
    return fail("missing", `transcript file '${path}' does not exist`);
  }
  if (!allowed.some((r) => isUnder(real, r))) {
    return fail("not_allowed", `'${path}' resolves to '${real}', outside this host's ${label} roots`);
  }
  const st = await stat(real).catch(() => null);
  if (!st) return fail("missing", `transcript file '${path}' does not exist`);
  if (!st.isFile() || !basename(real).endsWith(".jsonl")) return fail("not_allowed", `'${path}' is not a .jsonl file`);
  if (opts.header) {
    const h = await readHeader(real, kind, st.size).catch((e: Error) => ({ error: `it cannot be read (${e.message})` }));
    if ("error" in h) return fail("not_transcript", `'${path}' is not a ${label}: ${h.error}`);
    return { ok: true, path: real, ...h };
  }
  return { ok: true, path: real, agentSessionId: null, cwd: null };
}
