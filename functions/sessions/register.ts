import type { z } from "@hono/zod-openapi";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import { auditInsert } from "../lib/audit.ts";
import { tokenInsert } from "../lib/auth.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { canReach, hostErrorToApi } from "../lib/local.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { isUniqueViolation } from "../lib/sql.ts";
import { RegisterBody, RegisterResult } from "./schema.ts";
import { communicationFor, sessionToWire } from "./wire.ts";

export const registerRoute = defineRoute(["owner", "runner"], {
  method: "post",
  path: "/sessions",
  tags: ["sessions"],
  summary: "Register a worker or manager session",
  description: "Records the session and issues its bearer token (returned once). CLI: register-worker / register-manager.",
  request: { body: jsonBody(RegisterBody) },
  responses: { 201: jsonResponse(RegisterResult, "Registered") },
});

export type RegisterInput = z.infer<typeof RegisterBody>;

/**
 * Finds the transcript a running agent has open. An agent that has not been prompted yet has
 * no transcript file, which is the common reason this fails, so the hint says what to do.
 */
async function discoverFromPid(ctx: Ctx, pid: number, name: string): Promise<{ path: string; kind: "codex" | "claude" }> {
  if (!(await ctx.host!.pidAlive(pid))) {
    throw new ApiError("NOT_FOUND", `no running process with pid ${pid}`, { hint: "Check the agent's pid (e.g. tmux display-message -p '#{pane_pid}')." });
  }
  let found;
  try {
    found = await ctx.host!.discoverTranscript(pid);
  } catch (e) {
    throw hostErrorToApi(e);
  }
  if (!found) {
    throw new ApiError("PATH_NOT_FOUND", `process ${pid} has no Codex rollout or Claude Code transcript open yet`, {
      hint: `Type a prompt in the agent first (it creates the transcript on the first turn) and retry, or pass the path: switchyard register-... --name ${name} --codex-session PATH | --claude-session PATH`,
    });
  }
  return { path: found.path, kind: found.kind };
}

/** A session id and its token made before registration, so a spawned agent can start with its own token. */
export interface PresetIdentity {
  sessionId: string;
  token: Awaited<ReturnType<typeof tokenInsert>>;
}

/** Makes a session id and an (unsaved) token for it; registerSession stores both. */
export async function presetIdentity(ctx: Ctx, name: string): Promise<PresetIdentity> {
  const sessionId = ctx.newId("ses");
  return { sessionId, token: await tokenInsert(ctx.db, { id: ctx.newId("tok"), kind: "session", nowMs: ctx.now().getTime(), sessionId, label: name }) };
}

/** Registers a session, issues its token and writes the audit row, atomically. */
export async function registerSession(ctx: Ctx, input: RegisterInput, preset?: PresetIdentity) {
  if (input.codex_session && input.claude_session) {
    throw new ApiError("VALIDATION_FAILED", "pass either codex_session or claude_session, not both", {
      fields: [{ field: "claude_session", message: "conflicts with codex_session" }],
    });
  }
  if (ctx.auth.kind === "runner" && input.host && input.host !== ctx.auth.host) {
    throw new ApiError("FORBIDDEN", `runner for host '${ctx.auth.host}' cannot register a session on '${input.host}'`);
  }
  const host = input.host ?? (ctx.auth.kind === "runner" ? ctx.auth.host : (ctx.hostName ?? null));
  let transcriptPath = input.codex_session ?? input.claude_session ?? null;
  let transcriptKind: "codex" | "claude" | null = input.codex_session ? "codex" : input.claude_session ? "claude" : null;
  if (!transcriptPath && input.pid !== undefined && canReach(ctx, host)) {
    const found = await discoverFromPid(ctx, input.pid, input.name);
    transcriptPath = found.path;
    transcriptKind = found.kind;
  }

  let pidStartedAt: number | null = null;
  if (canReach(ctx, host)) {
    if (transcriptPath && !(await ctx.host!.fileExists(transcriptPath))) {
      const flag = transcriptKind === "codex" ? "--codex-session" : "--claude-session";
      throw new ApiError("PATH_NOT_FOUND", `transcript file '${transcriptPath}' does not exist`, {
        hint: `Check the path passed to ${flag}; it must be the session's existing JSONL file.`,
      });
    }
    if (input.pid !== undefined) pidStartedAt = await ctx.host!.pidStartTime(input.pid);
  }

  const nowMs = ctx.now().getTime();
  const { sessionId, token } = preset ?? (await presetIdentity(ctx, input.name));
  const row: SessionRow = {
    id: sessionId,
    name: input.name,
    role: input.role,
    state: "active",
    pid: input.pid ?? null,
    pidStartedAt,
    host,
    cwd: input.cwd ?? null,
    tmuxSession: input.tmux_session ?? null,
    transcriptPath,
    transcriptKind,
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
    payload: { name: row.name, role: row.role, host, pid: row.pid, tmux_session: row.tmuxSession, transcript_path: transcriptPath },
  });
  try {
    await ctx.db.batch([ctx.db.insert(sessions).values(row), token.stmt, audit.stmt]);
  } catch (e) {
    if (isUniqueViolation(e)) {
      throw new ApiError("NAME_TAKEN", `an active session is already named '${input.name}'`, {
        hint: `Choose another name, or deregister the old one: switchyard deregister ${input.name}`,
      });
    }
    throw e;
  }
  const communication = communicationFor(row);
  return { session: sessionToWire(row), session_id: sessionId, token: token.secret, communication, event_id: audit.id };
}
