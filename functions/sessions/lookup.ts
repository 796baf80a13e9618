import { sql } from "drizzle-orm";
import { sessions, type SessionRole, type SessionRow } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { rowsByArm } from "../lib/sql.ts";

/**
 * The active session with this name and, in the same statement, the newest row of any state that
 * carries it: a miss must say whether the name was deregistered, and a second read for that was
 * a second round trip on every 404. Both arms read an index (name, state, …) and (name, created_at,
 * id); the text is the same on every call, so the kept connection prepares it once.
 */
async function byName(ctx: Ctx, name: string): Promise<{ active: SessionRow | undefined; newest: SessionRow | undefined }> {
  const rows = await ctx.db.all<Record<string, unknown>>(sql`
    SELECT * FROM (SELECT 0 AS "sy_arm", * FROM ${sessions} WHERE "name" = ${name} AND "state" = 'active' LIMIT 1)
    UNION ALL SELECT * FROM (SELECT 1, * FROM ${sessions} WHERE "name" = ${name} ORDER BY "created_at" DESC LIMIT 1)`);
  const arm = rowsByArm(sessions, rows);
  return { active: arm(0)[0], newest: arm(1)[0] };
}

/** The active session with this name, or undefined. */
export async function findActiveSessionByName(ctx: Ctx, name: string): Promise<SessionRow | undefined> {
  return (await byName(ctx, name)).active;
}

/**
 * Finds the active session with this name; when only gone sessions carry it, says so. A role,
 * when given, must match.
 */
export async function activeSessionByName(ctx: Ctx, name: string, role?: SessionRole): Promise<SessionRow> {
  const { active: row, newest } = await byName(ctx, name);
  if (!row) {
    if (newest) {
      throw new ApiError("SESSION_INACTIVE", `session '${name}' has been deregistered`, {
        hint: `Register it again: switchyard register-${role ?? "worker"} --name ${name} ...`,
      });
    }
    throw new ApiError("NOT_FOUND", `session '${name}' not found`, { hint: "List sessions with `switchyard sessions`." });
  }
  if (role && row.role !== role) {
    throw new ApiError("ROLE_MISMATCH", `session '${name}' is a ${row.role}, not a ${role}`, {
      hint: `Pass a ${role} session; register one with switchyard register-${role}.`,
    });
  }
  return row;
}

/** Refuses a session principal acting on any session but its own, and a runner on another host's. */
export function assertSelfOrPrivileged(ctx: Ctx, session: SessionRow): void {
  if (ctx.auth.kind === "session" && ctx.auth.sessionId !== session.id) {
    throw new ApiError("FORBIDDEN", `a session token may act only on its own session, not '${session.name}'`, {
      hint: "Use the token returned when this session registered.",
    });
  }
  if (ctx.auth.kind === "runner" && session.host !== ctx.auth.host) {
    throw new ApiError("FORBIDDEN", `runner for host '${ctx.auth.host}' cannot act on session '${session.name}' on '${session.host ?? "(no host)"}'`, {
      hint: "Use the runner token of the session's host, or the owner token.",
    });
  }
}
