import { eq } from "drizzle-orm";
import { commands, type CommandRow } from "../../schema/commands.ts";
import { createCommand } from "./store.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { isUniqueViolation } from "../lib/sql.ts";

/**
 * Queues a command for a dispatcher or runner. The idempotency key is a unique column, so a
 * retry with the same key returns the command the first call created (created=false) instead of
 * a duplicate; the same key reused for a different command is refused.
 */
export async function enqueueCommand(ctx: Ctx, input: Parameters<typeof createCommand>[1]): Promise<{ command: CommandRow; created: boolean }> {
  const key = input.idempotencyKey ?? null;
  try {
    return { command: await createCommand(ctx, input), created: true };
  } catch (e) {
    if (!key || !isUniqueViolation(e)) throw e;
  }
  const [existing] = await ctx.db.select().from(commands).where(eq(commands.idempotencyKey, key)).limit(1);
  if (!existing) throw new ApiError("CONFLICT", `idempotency key '${key}' is being used concurrently`, { hint: "Retry the request." });
  const same = existing.type === input.type && existing.taskId === (input.taskId ?? null) && existing.sessionId === (input.sessionId ?? null);
  if (!same) {
    throw new ApiError("IDEMPOTENCY_MISMATCH", `idempotency key '${key}' already names command ${existing.id} (${existing.type})`, {
      hint: "Use a new key for a different command.",
    });
  }
  return { command: existing, created: false };
}
