import { and, desc, eq, like, or } from "drizzle-orm";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { eqLiteral } from "../lib/sql.ts";
import { findActiveSessionByName } from "../sessions/lookup.ts";

/**
 * Resolves a message recipient: an active session's name, then its id, then an app thread
 * title. Fails closed: a thread title shared by several sessions is ambiguous and refused, and
 * near-miss names are only offered as a hint, never guessed.
 */
export async function resolveRecipient(ctx: Ctx, to: string): Promise<SessionRow> {
  const byName = await findActiveSessionByName(ctx, to);
  if (byName) return byName;
  const [byId] = await ctx.db.select().from(sessions).where(eq(sessions.id, to)).limit(1);
  if (byId?.state === "active") return byId;
  const byTitle = await ctx.db
    .select()
    .from(sessions)
    .where(and(eq(sessions.threadTitle, to), eqLiteral(sessions.state, "active")))
    .limit(10);
  if (byTitle.length === 1) return byTitle[0]!;
  if (byTitle.length > 1) {
    throw new ApiError("CONFLICT", `recipient '${to}' is ambiguous: ${byTitle.length} active sessions have that thread title`, {
      hint: `Address one by name: ${byTitle.map((s) => s.name).join(", ")}.`,
    });
  }
  const [gone] = byId ? [byId] : await ctx.db.select().from(sessions).where(eq(sessions.name, to)).orderBy(desc(sessions.createdAt)).limit(1);
  if (gone) {
    throw new ApiError("SESSION_INACTIVE", `recipient '${to}' has been deregistered`, {
      hint: "Messages go only to active sessions; see `switchyard sessions`.",
    });
  }
  const pattern = `%${to.replace(/[%_\\]/g, "").slice(0, 60)}%`;
  const near = await ctx.db
    .select({ name: sessions.name })
    .from(sessions)
    .where(and(eqLiteral(sessions.state, "active"), or(like(sessions.name, pattern), like(sessions.threadTitle, pattern))))
    .orderBy(sessions.name)
    .limit(5);
  throw new ApiError("NOT_FOUND", `no active session named '${to}'`, {
    hint: near.length ? `Did you mean: ${near.map((s) => s.name).join(", ")}?` : "List sessions with `switchyard sessions`.",
  });
}
