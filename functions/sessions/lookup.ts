import { and, desc, eq, sql } from "drizzle-orm";
import { sessions, type SessionRole, type SessionRow } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { perDatabase, type Db } from "../lib/db.ts";
import { ApiError } from "../lib/errors.ts";
import { eqLiteral } from "../lib/sql.ts";

function buildActiveByName(db: Db) {
  return db
    .select()
    .from(sessions)
    .where(and(eq(sessions.name, sql.placeholder("name")), eqLiteral(sessions.state, "active")))
    .limit(1)
    .prepare();
}

const activeByNameQuery = perDatabase(buildActiveByName);

/**
 * The active session with this name, or undefined. Built once per database handle: nearly every
 * route that names a session starts here (send's recipient among them), and building the select
 * through drizzle each time cost more than running it.
 */
export async function findActiveSessionByName(ctx: Ctx, name: string): Promise<SessionRow | undefined> {
  const [row] = await activeByNameQuery(ctx.db).all({ name });
  return row;
}

/**
 * Finds the active session with this name; when only gone sessions carry it, says so. A role,
 * when given, must match.
 */
export async function activeSessionByName(ctx: Ctx, name: string, role?: SessionRole): Promise<SessionRow> {
  const row = await findActiveSessionByName(ctx, name);
  if (!row) {
    const [gone] = await ctx.db.select({ id: sessions.id }).from(sessions).where(eq(sessions.name, name)).orderBy(desc(sessions.createdAt)).limit(1);
    if (gone) {
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
