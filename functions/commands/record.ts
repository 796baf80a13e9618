import { and, eq, sql } from "drizzle-orm";
import { commandAttempts, commands, type CommandRow, type CommandType } from "../../schema/commands.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { iso } from "../lib/sql.ts";

/** Default lease for a claimed command; an executor that outlives it loses the claim. */
export const DEFAULT_LEASE_MS = 120_000;

/** Creates the durable row for a side effect before anything happens. */
export async function createCommand(
  ctx: Ctx,
  input: {
    type: CommandType;
    sessionId?: string | null;
    taskId?: string | null;
    host?: string | null;
    payload: Record<string, unknown>;
    dryRun?: boolean;
    correlationId?: string | null;
    idempotencyKey?: string | null;
    maxAttempts?: number;
    requiredPermission?: string | null;
  },
): Promise<CommandRow> {
  const nowMs = ctx.now().getTime();
  const row: CommandRow = {
    id: ctx.newId("cmd"),
    type: input.type,
    state: input.dryRun ? "dry_run" : "pending",
    taskId: input.taskId ?? null,
    sessionId: input.sessionId ?? null,
    host: input.host ?? null,
    payload: input.payload,
    result: null,
    error: null,
    idempotencyKey: input.idempotencyKey ?? null,
    correlationId: input.correlationId ?? null,
    attempts: 0,
    maxAttempts: input.maxAttempts ?? 1,
    claimedBy: null,
    claimGeneration: 0,
    leaseExpiresAt: null,
    nextAttemptAt: null,
    requiredPermission: input.requiredPermission ?? null,
    createdBy: actorOf(ctx.auth),
    createdAt: nowMs,
    updatedAt: nowMs,
    completedAt: input.dryRun ? nowMs : null,
  };
  await ctx.db.insert(commands).values(row);
  return row;
}

/** A live claim on a command: who holds it and under which fencing generation. */
export interface Claim {
  command: CommandRow;
  dispatcherId: string;
  generation: number;
  attemptId: string;
}

/**
 * Claims a pending command with one conditional UPDATE (the fencing generation increments),
 * then opens an attempt row. Null when someone else claimed it first.
 */
export async function claimCommand(ctx: Ctx, commandId: string, dispatcherId: string, leaseMs = DEFAULT_LEASE_MS): Promise<Claim | null> {
  const nowMs = ctx.now().getTime();
  const [claimed] = await ctx.db
    .update(commands)
    .set({
      state: "running",
      claimedBy: dispatcherId,
      claimGeneration: sql`${commands.claimGeneration} + 1`,
      leaseExpiresAt: nowMs + leaseMs,
      attempts: sql`${commands.attempts} + 1`,
      updatedAt: nowMs,
    })
    .where(and(eq(commands.id, commandId), eq(commands.state, "pending")))
    .returning();
  if (!claimed) return null;
  const attemptId = ctx.newId("att");
  await ctx.db.insert(commandAttempts).values({
    id: attemptId,
    commandId,
    dispatcherId,
    claimGeneration: claimed.claimGeneration,
    startedAt: nowMs,
  });
  return { command: claimed, dispatcherId, generation: claimed.claimGeneration, attemptId };
}

/** Records that the side effect is about to start; from here a crash leaves it ambiguous. */
export async function markSideEffectStarted(ctx: Ctx, claim: Claim): Promise<void> {
  await ctx.db.update(commandAttempts).set({ sideEffectStarted: true }).where(eq(commandAttempts.id, claim.attemptId));
}

/**
 * Finishes a claimed command. Refused (CONFLICT) when the claim is stale: the lease expired and
 * someone else holds a newer generation, so this executor's result must not overwrite theirs.
 */
export async function finishCommand(
  ctx: Ctx,
  claim: Claim,
  outcome: { ok: true; result: Record<string, unknown> } | { ok: false; error: string; result?: Record<string, unknown>; sideEffectCompleted?: boolean },
): Promise<CommandRow> {
  const nowMs = ctx.now().getTime();
  const [done] = await ctx.db
    .update(commands)
    .set({
      state: outcome.ok ? "succeeded" : "failed",
      result: outcome.result ?? null,
      error: outcome.ok ? null : outcome.error,
      leaseExpiresAt: null,
      updatedAt: nowMs,
      completedAt: nowMs,
    })
    .where(and(eq(commands.id, claim.command.id), eq(commands.state, "running"), eq(commands.claimGeneration, claim.generation)))
    .returning();
  await ctx.db
    .update(commandAttempts)
    .set({
      sideEffectCompleted: outcome.ok ? true : outcome.sideEffectCompleted ?? false,
      result: outcome.result ?? null,
      error: outcome.ok ? null : outcome.error,
      finishedAt: nowMs,
    })
    .where(eq(commandAttempts.id, claim.attemptId));
  if (!done) {
    throw new ApiError("CONFLICT", `command ${claim.command.id} is no longer held by claim generation ${claim.generation}`, {
      hint: "Its lease expired and it was reclaimed; the newer claim's result stands.",
    });
  }
  return done;
}

/** Marks a command that was never claimed as failed (e.g. its host is unreachable). */
export async function failUnclaimed(ctx: Ctx, commandId: string, error: string): Promise<void> {
  const nowMs = ctx.now().getTime();
  await ctx.db
    .update(commands)
    .set({ state: "failed", error, updatedAt: nowMs, completedAt: nowMs })
    .where(and(eq(commands.id, commandId), eq(commands.state, "pending")));
}

/** The wire form of a command row. */
export function commandToWire(c: CommandRow) {
  return {
    id: c.id,
    type: c.type,
    state: c.state,
    task_id: c.taskId,
    session_id: c.sessionId,
    host: c.host,
    payload: c.payload,
    result: c.result,
    error: c.error,
    correlation_id: c.correlationId,
    attempts: c.attempts,
    max_attempts: c.maxAttempts,
    claimed_by: c.claimedBy,
    claim_generation: c.claimGeneration,
    lease_expires_at: iso(c.leaseExpiresAt),
    created_by: c.createdBy,
    created_at: iso(c.createdAt)!,
    updated_at: iso(c.updatedAt)!,
    completed_at: iso(c.completedAt),
  };
}
