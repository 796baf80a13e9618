import { and, eq } from "drizzle-orm";
import { commands, type CommandRow } from "../../schema/commands.ts";
import { newCommandRow, type NewCommand } from "./store.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { isUniqueViolation } from "../lib/sql.ts";

/**
 * The scope of a body-level idempotency key: the caller and the task (or session) the command
 * is for. Two callers, or one caller for two tasks, never share a key, so a key cannot be used
 * to read another caller's command or to block theirs.
 */
export function enqueueScope(ctx: Ctx, target: { taskId?: string | null; sessionId?: string | null }): string {
  return `${actorOf(ctx.auth)}|${target.taskId ? `task:${target.taskId}` : `session:${target.sessionId ?? ""}`}`;
}

/**
 * Queues a command for a dispatcher or runner. The idempotency key is unique within its scope
 * (enqueueScope), so a retry with the same key returns the command the first call created
 * (created=false) instead of a duplicate; the same key reused for a different command is
 * refused. `respond` builds the route's 201 body when this is its write (stored with it under
 * the request's Idempotency-Key).
 */
export async function enqueueCommand(
  ctx: Ctx,
  input: NewCommand,
  respond?: (command: CommandRow) => unknown,
  /**
   * The payload fields the request itself gave, which a retry must repeat; the rest (the pane's
   * pid, its transcript path) the server fills in from the session, which may have changed since
   * (a /clear moves the transcript). Default: the whole payload.
   */
  requestFields?: readonly string[],
): Promise<{ command: CommandRow; created: boolean }> {
  const key = input.idempotencyKey ?? null;
  const scope = key ? enqueueScope(ctx, input) : null;
  const row = newCommandRow(ctx, { ...input, idempotencyScope: scope });
  try {
    await batchWithKey(ctx, [ctx.db.insert(commands).values(row)], respond ? { status: 201, body: respond(row) } : undefined);
    return { command: row, created: true };
  } catch (e) {
    if (!key || !isUniqueViolation(e)) throw e;
  }
  const [existing] = await ctx.db
    .select()
    .from(commands)
    .where(and(eq(commands.idempotencyScope, scope!), eq(commands.idempotencyKey, key)))
    .limit(1);
  if (!existing) throw new ApiError("CONFLICT", `idempotency key '${key}' is being used concurrently`, { hint: "Retry the request." });
  const same =
    existing.type === input.type &&
    existing.taskId === (input.taskId ?? null) &&
    existing.sessionId === (input.sessionId ?? null) &&
    canonical(pick(existing.payload, requestFields)) === canonical(pick(input.payload, requestFields)) &&
    existing.correlationId === (input.correlationId ?? null) &&
    existing.requiredPermission === (input.requiredPermission ?? null) &&
    existing.maxAttempts === row.maxAttempts;
  if (!same) {
    // A retry repeats its request; the same key with another message would drop the new one unsaid.
    throw new ApiError("IDEMPOTENCY_MISMATCH", `idempotency key '${key}' already names command ${existing.id} (${existing.type}), queued with other content`, {
      hint: "A key stands for one request: retry with exactly the same message and options, or use a new key for a different command.",
    });
  }
  return { command: existing, created: false };
}

/** `payload` restricted to `fields` (all of it without them). */
function pick(payload: Record<string, unknown>, fields?: readonly string[]): Record<string, unknown> {
  return fields ? Object.fromEntries(fields.map((f) => [f, payload[f] ?? null])) : payload;
}

/** JSON with object keys sorted, so two payloads compare by content whatever order built them. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
