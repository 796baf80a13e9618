import { and, like, or, sql } from "drizzle-orm";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { eqLiteral, rowsByArm } from "../lib/sql.ts";

/** Which rule read a row of the recipient lookup (4: the sender's own row). */
type Arm = 0 | 1 | 2 | 3 | 4;

/** A recipient lookup: the sender's own row, and the recipient, or the error that explains why not. */
export interface RecipientLookup {
  self: SessionRow | undefined;
  recipient(): Promise<SessionRow>;
}

/**
 * Resolves a message recipient: an active session's name, then its id, then an app thread
 * title. Fails closed: a thread title shared by several sessions is ambiguous and refused, and
 * near-miss names are only offered as a hint, never guessed. Every rule, the "deregistered"
 * check and (with `selfId`) the sender's own row are read in one statement, each arm off its
 * own index: a send is one round trip for both parties, and only a miss reads again (the hint).
 * `recipient()` answers or throws, so the caller can check the sender first.
 */
export async function lookUpRecipient(ctx: Ctx, to: string, selfId?: string): Promise<RecipientLookup> {
  const arms = [
    sql`SELECT * FROM (SELECT 0 AS "sy_arm", * FROM ${sessions} WHERE "name" = ${to} AND "state" = 'active' LIMIT 1)`,
    sql`SELECT 1, * FROM ${sessions} WHERE "id" = ${to}`,
    sql`SELECT * FROM (SELECT 2, * FROM ${sessions} WHERE "thread_title" = ${to} AND "state" = 'active' LIMIT 10)`,
    sql`SELECT * FROM (SELECT 3, * FROM ${sessions} WHERE "name" = ${to} ORDER BY "created_at" DESC LIMIT 1)`,
    ...(selfId === undefined ? [] : [sql`SELECT 4, * FROM ${sessions} WHERE "id" = ${selfId}`]),
  ];
  const arm = rowsByArm(sessions, await ctx.db.all<Record<string, unknown>>(sql.join(arms, sql` UNION ALL `)));
  return { self: selfId === undefined ? undefined : arm(4)[0], recipient: () => pick(ctx, to, arm) };
}

async function pick(ctx: Ctx, to: string, arm: (n: Arm) => SessionRow[]): Promise<SessionRow> {
  const [byName] = arm(0);
  if (byName) return byName;
  const [byId] = arm(1);
  if (byId?.state === "active") return byId;
  const byTitle = arm(2);
  if (byTitle.length === 1) return byTitle[0]!;
  if (byTitle.length > 1) {
    throw new ApiError("CONFLICT", `recipient '${to}' is ambiguous: ${byTitle.length} active sessions have that thread title`, {
      hint: `Address one by name: ${byTitle.map((s) => s.name).join(", ")}.`,
    });
  }
  const gone = byId ?? arm(3)[0];
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
