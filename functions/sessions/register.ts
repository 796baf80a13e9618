import type { z } from "@hono/zod-openapi";
import { eq, sql } from "drizzle-orm";
import { ingestCursors } from "../../schema/observe.ts";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import { auditInsert } from "../lib/audit.ts";
import { tokenInsert } from "../lib/auth.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import type { Host } from "../lib/host.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { canReach, hostErrorToApi, launchTranscriptRoots } from "../lib/local.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { isUniqueViolation, rowsByArm } from "../lib/sql.ts";
import { RegisterBody, RegisterResult } from "./schema.ts";
import { communicationFor, sessionToWire } from "./wire.ts";

export const registerRoute = defineRoute(
  ["owner", "runner"],
  {
    method: "post",
    path: "/sessions",
    tags: ["sessions"],
    summary: "Register a worker or manager session",
    description:
      "Records the session and issues its bearer token (returned once). On the server's own host the registration is checked: a transcript must resolve under the agent's transcript roots, start with that agent's records and not belong to another active session; --pid accepts only a transcript held by that process or its descendants; a tmux session must exist and its pane must be the agent's (its pid the session's pid or an ancestor). Registering the same name with the same identity again is idempotent: same session, ingest cursor reset, a fresh token. CLI: register-worker / register-manager.",
    request: { body: jsonBody(RegisterBody) },
    responses: { 201: jsonResponse(RegisterResult, "Registered") },
  },
  { idempotency: "atomic" },
);

export type RegisterInput = z.input<typeof RegisterBody>;
type Kind = "codex" | "claude";

const flagOf = (kind: Kind) => (kind === "codex" ? "--codex-session" : "--claude-session");
const labelOf = (kind: Kind) => (kind === "codex" ? "Codex rollout" : "Claude Code transcript");

/**
 * Finds the transcript a running agent has open, from the pid and its descendants only. An agent
 * that has not been prompted yet has no transcript file, which is the common reason this fails,
 * so the hint says what to do.
 */
async function discoverFromPid(host: Host, pid: number, name: string): Promise<{ path: string; kind: Kind }> {
  let found;
  try {
    found = await host.discoverTranscript(pid, { strict: true });
  } catch (e) {
    throw hostErrorToApi(e);
  }
  if (!found) {
    throw new ApiError("PATH_NOT_FOUND", `process ${pid} (and its descendants) has no Codex rollout or Claude Code transcript open yet`, {
      hint: `Type a prompt in the agent first (it creates the transcript on the first turn) and retry, or pass the path: switchyard register-... --name ${name} --codex-session PATH | --claude-session PATH`,
    });
  }
  return { path: found.path, kind: found.kind };
}

/**
 * Checks a transcript before it is registered (see Host.inspectTranscript). The owner is told
 * exactly what is wrong; anyone else gets one answer for "missing", "outside the roots" and
 * "not that agent's transcript", so registration cannot be used to probe which files exist.
 */
async function checkTranscript(ctx: Ctx, host: Host, path: string, kind: Kind) {
  const r = await host.inspectTranscript(path, kind, { extraRoots: launchTranscriptRoots(ctx), header: true });
  if (r.ok) return r;
  if (ctx.auth.kind !== "owner") {
    throw new ApiError("PATH_NOT_ALLOWED", `'${path}' is not a ${labelOf(kind)} this host allows sessions to register`, {
      hint: `Pass the agent's own existing transcript under its transcript root on that host (${kind === "codex" ? "$CODEX_HOME/sessions" : "Claude Code's projects/ directory"}, or a directory the owner listed in SWITCHYARD_TRANSCRIPT_ROOTS).`,
    });
  }
  if (r.reason === "missing") {
    throw new ApiError("PATH_NOT_FOUND", r.message, { hint: `Check the path passed to ${flagOf(kind)}; it must be the session's existing JSONL file.` });
  }
  throw new ApiError("PATH_NOT_ALLOWED", r.message, {
    hint:
      r.reason === "not_allowed"
        ? `Allowed roots here: ${r.roots.join(", ") || "(none exist)"}. Add a directory to SWITCHYARD_TRANSCRIPT_ROOTS (PATH-style list) on the server to allow more.`
        : `Pass the transcript ${kind === "codex" ? "Codex" : "Claude Code"} itself writes (${flagOf(kind)}).`,
  });
}

/** A session id and its token made before registration, so a spawned agent can start with its own token. */
export interface PresetIdentity {
  sessionId: string;
  token: Awaited<ReturnType<typeof tokenInsert>>;
  /**
   * A holding the caller has just proven with the same strict discovery registration uses (the
   * spawn's wait for its agent's transcript). Registration then does not ask lsof the same
   * question again: a second answer can only differ by a transient miss under load, which
   * refused spawns whose agent had plainly written its transcript.
   */
  held?: { pid: number; path: string };
}

/** Makes a session id and an (unsaved) token for it; registerSession stores both. */
export async function presetIdentity(ctx: Ctx, name: string): Promise<PresetIdentity> {
  const sessionId = ctx.newId("ses");
  return { sessionId, token: await tokenInsert(ctx.db, { id: ctx.newId("tok"), kind: "session", nowMs: ctx.now().getTime(), sessionId, label: name }) };
}

/** What registration establishes about an agent before anything is written. */
interface Identity {
  host: string | null;
  pid: number | null;
  pidStartedAt: number | null;
  transcriptPath: string | null;
  transcriptKind: Kind | null;
  agentSessionId: string | null;
  cwd: string | null;
  tmuxSession: string | null;
}

/**
 * Establishes the agent's identity and, where this process can reach its host, checks it: the
 * pid runs, the transcript is allowed and the agent's own, a tmux pane exists and is the
 * agent's. Elsewhere only what the caller can prove by construction is required.
 */
async function establish(ctx: Ctx, input: z.output<typeof RegisterBody>, held?: PresetIdentity["held"]): Promise<Identity> {
  if (input.codex_session && input.claude_session) {
    throw new ApiError("VALIDATION_FAILED", "pass either codex_session or claude_session, not both", {
      hint: "A session has one transcript: pass the one the agent writes (Codex rollout or Claude Code transcript).",
      fields: [{ field: "claude_session", message: "conflicts with codex_session" }],
    });
  }
  if (ctx.auth.kind === "runner" && input.host && input.host !== ctx.auth.host) {
    throw new ApiError("FORBIDDEN", `runner for host '${ctx.auth.host}' cannot register a session on '${input.host}'`, {
      hint: `Leave out host (it defaults to '${ctx.auth.host}'), or register from that host's runner or with the owner token.`,
    });
  }
  const owner = ctx.auth.kind === "owner";
  const host = input.host ?? (ctx.auth.kind === "runner" ? ctx.auth.host : (ctx.hostName ?? null));
  const id: Identity = {
    host,
    pid: input.pid ?? null,
    pidStartedAt: null,
    transcriptPath: input.codex_session ?? input.claude_session ?? null,
    transcriptKind: input.codex_session ? "codex" : input.claude_session ? "claude" : null,
    agentSessionId: null,
    cwd: input.cwd ?? null,
    tmuxSession: input.tmux_session ?? null,
  };
  if (!canReach(ctx, host)) {
    // Nothing on that host can be checked from here; the pane check before every keystroke
    // (verifyPane on the session's host) needs a pid and, for anyone but the owner, a transcript.
    if (!owner && id.tmuxSession && (id.pid === null || !id.transcriptPath)) {
      throw new ApiError("PANE_NOT_OWNED", "a tmux session registered by a runner needs the agent's pid and its transcript", {
        hint: "Pass --pid and --codex-session/--claude-session, so the pane can be checked on its host before anything is typed into it.",
      });
    }
    return id;
  }
  const h = ctx.host!;
  try {
    if (id.pid !== null) {
      id.pidStartedAt = await h.pidStartTime(id.pid);
      if (id.pidStartedAt === null) {
        throw new ApiError("NOT_FOUND", `no running process with pid ${id.pid}`, {
          hint: "Check the agent's pid (e.g. tmux display-message -p '#{pane_pid}').",
        });
      }
    }
    const explicit = id.transcriptPath !== null;
    if (!explicit && id.pid !== null) {
      const found = await discoverFromPid(h, id.pid, input.name);
      id.transcriptPath = found.path;
      id.transcriptKind = found.kind;
    }
    if (id.transcriptPath && id.transcriptKind) {
      const checked = await checkTranscript(ctx, h, id.transcriptPath, id.transcriptKind);
      id.transcriptPath = checked.path;
      id.agentSessionId = checked.agentSessionId;
      id.cwd ??= checked.cwd;
      // Against the resolved path: a name swapped for a symlink since the spawn looked resolves
      // elsewhere, and then lsof must be asked again.
      const proven = held !== undefined && held.pid === id.pid && held.path === checked.path;
      if (explicit && id.pid !== null && !proven && !(await holds(h, id.pid, checked.path))) {
        throw new ApiError("PATH_NOT_ALLOWED", `process ${id.pid} and its descendants do not hold '${input.codex_session ?? input.claude_session}'`, {
          hint: "--pid accepts only the transcript that process (or a child of it) writes. Leave out the path to have it found, or check the pid.",
        });
      }
    }
    if (id.tmuxSession) await checkPane(ctx, h, id, input.name);
  } catch (e) {
    throw hostErrorToApi(e);
  }
  return id;
}

/** True when `pid` or a descendant holds `path` (a Claude Code session file naming it counts). */
async function holds(host: Host, pid: number, path: string): Promise<boolean> {
  const found = await host.discoverTranscript(pid, { strict: true });
  return !!found && (found.path === path || !!found.alternatives?.includes(path));
}

/**
 * The tmux session must exist and its pane must be the agent's: with a pid, the pane's pid is
 * that pid or an ancestor of it; without one, the pane's process tree holds the transcript, and
 * the pane's pid becomes the session's pid. Only the owner may register a pane with neither.
 */
async function checkPane(ctx: Ctx, host: Host, id: Identity, name: string): Promise<void> {
  const tmux = id.tmuxSession!;
  const panePid = await host.tmuxPanePid(tmux);
  if (panePid === null) {
    throw new ApiError("NOT_FOUND", `tmux session '${tmux}' not found`, {
      hint: "Start the agent in that tmux session first, or leave out --tmux-session (the session then receives messages by polling its inbox).",
    });
  }
  if (id.pid !== null) {
    if (!(await host.processAncestry(id.pid)).includes(panePid)) {
      throw new ApiError("PANE_NOT_OWNED", `tmux session '${tmux}' runs pid ${panePid}, which is neither pid ${id.pid} nor an ancestor of it`, {
        hint: "Pass the tmux session the agent runs in (tmux display-message -p -t SESSION '#{pane_pid}' is the agent or its shell).",
      });
    }
    return;
  }
  if (id.transcriptPath) {
    if (!(await holds(host, panePid, id.transcriptPath))) {
      throw new ApiError("PANE_NOT_OWNED", `nothing running in tmux session '${tmux}' holds '${id.transcriptPath}'`, {
        hint: `Pass the tmux session the agent runs in, or --pid: switchyard register-... --name ${name} --pid PID --tmux-session SESSION`,
      });
    }
  } else if (ctx.auth.kind !== "owner") {
    throw new ApiError("PANE_NOT_OWNED", `cannot tell that tmux session '${tmux}' runs an agent`, {
      hint: "Pass the agent's --pid or its transcript with --tmux-session.",
    });
  }
  // The pane's own process stands for the agent from now on (liveness, the check before typing).
  id.pid = panePid;
  id.pidStartedAt = await host.pidStartTime(panePid);
}

/**
 * The active session named `name`, and (when `transcript` is given) another active session that
 * already holds that transcript, in one statement: both are checked before a registration, and
 * two reads were two round trips. Each arm reads its own index.
 */
async function activeByNameAndTranscript(ctx: Ctx, name: string, transcript: string | null) {
  const arms = [
    sql`SELECT * FROM (SELECT 0 AS "sy_arm", * FROM ${sessions} WHERE "name" = ${name} AND "state" = 'active' LIMIT 1)`,
    ...(transcript === null
      ? []
      : [sql`SELECT * FROM (SELECT 1, * FROM ${sessions} WHERE "transcript_path" = ${transcript} AND "state" = 'active' AND "name" != ${name} LIMIT 1)`]),
  ];
  const rows = await ctx.db.all<Record<string, unknown>>(sql.join(arms, sql` UNION ALL `));
  const arm = rowsByArm(sessions, rows);
  return { current: arm(0)[0], holder: arm(1)[0] };
}

/** True when an active session row is the same agent registered again. */
function sameIdentity(row: SessionRow, input: z.output<typeof RegisterBody>, id: Identity): boolean {
  return (
    row.role === input.role &&
    row.host === id.host &&
    row.pid === id.pid &&
    (id.pidStartedAt === null || row.pidStartedAt === id.pidStartedAt) &&
    row.transcriptPath === id.transcriptPath &&
    row.transcriptKind === id.transcriptKind &&
    row.tmuxSession === id.tmuxSession &&
    row.threadId === (input.thread_id ?? null)
  );
}

/**
 * Registers a session, issues its token and writes the audit row, atomically. `respond` is the
 * HTTP status when the caller is the register route, whose Idempotency-Key is then stored with
 * the write.
 */
export async function registerSession(ctx: Ctx, raw: RegisterInput, preset?: PresetIdentity, respond?: number) {
  const input = RegisterBody.parse(raw);
  if (input.force && ctx.auth.kind !== "owner") {
    throw new ApiError("FORBIDDEN", "only the owner may force a registration", { hint: "Leave out force." });
  }
  const id = await establish(ctx, input, preset?.held);
  const nowMs = ctx.now().getTime();

  const { current, holder } = await activeByNameAndTranscript(ctx, input.name, id.transcriptPath && !input.force ? id.transcriptPath : null);
  if (current && !preset && sameIdentity(current, input, id)) return reregister(ctx, current, respond);
  if (holder) {
    throw new ApiError("TRANSCRIPT_TAKEN", `transcript '${id.transcriptPath}' already belongs to active session '${holder.name}'`, {
      hint: `One agent, one session: deregister '${holder.name}' first${ctx.auth.kind === "owner" ? ", or pass force to register it twice" : ""}.`,
    });
  }

  const { sessionId, token } = preset ?? (await presetIdentity(ctx, input.name));
  const row: SessionRow = {
    id: sessionId,
    name: input.name,
    role: input.role,
    state: "active",
    pid: id.pid,
    pidStartedAt: id.pidStartedAt,
    host: id.host,
    cwd: id.cwd,
    tmuxSession: id.tmuxSession,
    transcriptPath: id.transcriptPath,
    transcriptKind: id.transcriptKind,
    agentSessionId: id.agentSessionId,
    threadId: input.thread_id ?? null,
    threadTitle: input.thread_title ?? null,
    tokenId: token.id,
    lastHeartbeatAt: nowMs,
    createdAt: nowMs,
    updatedAt: nowMs,
    goneAt: null,
  };
  const audit = auditInsert(ctx, {
    kind: "session_registered",
    sessionId,
    payload: {
      name: row.name,
      role: row.role,
      host: id.host,
      pid: row.pid,
      tmux_session: row.tmuxSession,
      transcript_path: id.transcriptPath,
      forced: input.force,
    },
  });
  const result = { session: sessionToWire(row), session_id: sessionId, token: token.secret, communication: communicationFor(row), event_id: audit.id };
  try {
    await batchWithKey(ctx, [ctx.db.insert(sessions).values(row), token.stmt, audit.stmt], respond ? { body: result, status: respond } : undefined);
  } catch (e) {
    if (isUniqueViolation(e)) {
      throw new ApiError("NAME_TAKEN", `an active session is already named '${input.name}'`, {
        hint: `Choose another name, or deregister the old one: switchyard deregister ${input.name}`,
      });
    }
    throw e;
  }
  return result;
}

/**
 * The same agent registered again under the same name: nothing about the session changes but
 * its ingest cursor, which starts over from byte 0 (events already stored are not stored twice),
 * and the caller gets a new token for it (the earlier ones stay valid).
 */
async function reregister(ctx: Ctx, row: SessionRow, respond?: number) {
  const nowMs = ctx.now().getTime();
  const token = await tokenInsert(ctx.db, { id: ctx.newId("tok"), kind: "session", nowMs, sessionId: row.id, label: row.name });
  const audit = auditInsert(ctx, { kind: "session_reregistered", sessionId: row.id, payload: { name: row.name, token_id: token.id, cursor_reset: true } });
  const result = { session: sessionToWire(row), session_id: row.id, token: token.secret, communication: communicationFor(row), event_id: audit.id };
  await batchWithKey(
    ctx,
    [
      ctx.db
        .update(ingestCursors)
        .set({ offset: 0, linesTotal: 0, skippedTotal: 0, skippingLine: false, seenSize: null, seenAt: null, updatedAt: nowMs })
        .where(eq(ingestCursors.sessionId, row.id)),
      token.stmt,
      audit.stmt,
    ],
    respond ? { body: result, status: respond } : undefined,
  );
  return result;
}
