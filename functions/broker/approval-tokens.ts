import { and, eq, gt, isNull, lt, sql } from "drizzle-orm";
import type { ResultSet } from "@libsql/client";
import type { BaseSQLiteDatabase } from "drizzle-orm/sqlite-core";
import { approvalTokens, brokerEvents, brokerRuns, type ApprovalTokenRow } from "../../schema/broker.ts";
import { sessions } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { withWriteTransaction, type Schema } from "../lib/db.ts";
import { sha256Hex } from "../lib/ids.ts";
import type { TokenFailure } from "./schema.ts";
import { brokerEventValues } from "./wire.ts";
import { eqLiteral } from "../lib/sql.ts";

/** The database or an open transaction: token checks run in either. */
export type DbOrTx = BaseSQLiteDatabase<"async", ResultSet, Schema>;

/** Which token is presented (by secret on a send, by id when the owner checks one) and for what. */
export interface TokenScope {
  secret?: string;
  tokenId?: string;
  runId: string;
  /** The recipient: a session id, or the name of the live session. */
  toSession: string;
  threadId: string;
}

/** A verdict on a token for a scope: usable, or the one reason it is refused. */
export type TokenVerdict = { ok: true; token: ApprovalTokenRow } | { ok: false; reason: TokenFailure; token: ApprovalTokenRow | null };

/** A scope whose secret is already hashed, so no transaction waits on the digest. */
export type HashedScope = Omit<TokenScope, "secret"> & { secretHash?: string };

/** Hashes a scope's secret; do this before opening the transaction that consumes the token. */
export async function hashTokenScope(scope: TokenScope): Promise<HashedScope> {
  const { secret, ...rest } = scope;
  return secret === undefined ? rest : { ...rest, secretHash: await sha256Hex(secret) };
}

async function findToken(db: DbOrTx, scope: HashedScope): Promise<ApprovalTokenRow | null> {
  if (scope.secretHash !== undefined) {
    const [row] = await db.select().from(approvalTokens).where(eq(approvalTokens.secretHash, scope.secretHash)).limit(1);
    return row ?? null;
  }
  if (scope.tokenId !== undefined) {
    const [row] = await db.select().from(approvalTokens).where(eq(approvalTokens.id, scope.tokenId)).limit(1);
    return row ?? null;
  }
  return null;
}

/** True when `given` names the session a token is scoped to: its id, or the name it has while live. */
async function sameSession(db: DbOrTx, scopedId: string, given: string): Promise<boolean> {
  if (given === scopedId) return true;
  const [s] = await db
    .select({ id: sessions.id })
    .from(sessions)
    .where(and(eq(sessions.id, scopedId), eq(sessions.name, given), eqLiteral(sessions.state, "active")))
    .limit(1);
  return !!s;
}

/**
 * Says whether a token may be used for a scope, checking in a fixed order so each refusal has
 * exactly one reason: missing, revoked, expired, overused, run / session / thread mismatch,
 * then the run itself (mode scoped_auto_send, state running).
 */
async function checkIn(ctx: Ctx, db: DbOrTx, scope: HashedScope): Promise<TokenVerdict> {
  const token = await findToken(db, scope);
  if (!token) return { ok: false, reason: "missing", token: null };
  const fail = (reason: TokenFailure): TokenVerdict => ({ ok: false, reason, token });
  if (token.revokedAt !== null) return fail("revoked");
  if (token.expiresAt <= ctx.now().getTime()) return fail("expired");
  if (token.uses >= token.maxUses) return fail("overused");
  if (token.runId !== scope.runId) return fail("run_mismatch");
  if (!(await sameSession(db, token.toSession, scope.toSession))) return fail("session_mismatch");
  if (token.threadId !== scope.threadId) return fail("thread_mismatch");
  const [run] = await db.select({ mode: brokerRuns.mode, state: brokerRuns.state }).from(brokerRuns).where(eq(brokerRuns.id, token.runId)).limit(1);
  if (!run || run.mode !== "scoped_auto_send") return fail("wrong_run_mode");
  if (run.state !== "running") return fail("run_not_running");
  return { ok: true, token };
}

/** Read-only check of a token against a scope; uses nothing. */
export async function checkApprovalToken(ctx: Ctx, scope: TokenScope): Promise<TokenVerdict> {
  return checkIn(ctx, ctx.db, await hashTokenScope(scope));
}

/**
 * Takes one use of a token inside the caller's write transaction, so the use commits (or rolls
 * back) with whatever the caller does with it: a check, then one conditional UPDATE (uses <
 * max_uses, not revoked, not expired), so concurrent senders in any number of processes never
 * exceed max_uses. A refusal writes a token_refused event and changes nothing else.
 */
export async function consumeApprovalTokenIn(ctx: Ctx, tx: DbOrTx, scope: HashedScope, adviceId: string | null = null): Promise<TokenVerdict> {
  const verdict = await checkIn(ctx, tx, scope);
  const nowMs = ctx.now().getTime();
  let result: TokenVerdict = verdict;
  if (verdict.ok) {
    const [used] = await tx
      .update(approvalTokens)
      .set({ uses: sql`${approvalTokens.uses} + 1` })
      .where(
        and(
          eq(approvalTokens.id, verdict.token.id),
          isNull(approvalTokens.revokedAt),
          gt(approvalTokens.expiresAt, nowMs),
          lt(approvalTokens.uses, approvalTokens.maxUses),
        ),
      )
      .returning();
    result = used ? { ok: true, token: used } : { ok: false, reason: "overused", token: verdict.token };
  }
  await tx.insert(brokerEvents).values(
    brokerEventValues(ctx, {
      kind: result.ok ? "token_consumed" : "token_refused",
      runId: scope.runId,
      adviceId,
      payload: {
        token_id: result.token?.id ?? null,
        thread_id: scope.threadId,
        to_session: scope.toSession,
        ...(result.ok ? { uses: result.token.uses, max_uses: result.token.maxUses } : { reason: result.reason }),
      },
    }),
  );
  return result;
}

/**
 * Consumes exactly one use of an approval token for a scoped send, atomically, failing closed
 * with a distinct reason when the token is missing, expired, revoked, used up, scoped to
 * another run / session / thread, or belongs to a run that is not a running scoped_auto_send run.
 */
export async function consumeApprovalToken(ctx: Ctx, scope: TokenScope): Promise<TokenVerdict> {
  const h = await hashTokenScope(scope);
  return withWriteTransaction(ctx.db, (tx) => consumeApprovalTokenIn(ctx, tx as unknown as DbOrTx, h));
}
