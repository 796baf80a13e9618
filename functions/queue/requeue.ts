import { and, eq, inArray } from "drizzle-orm";
import { commands, type CommandState } from "../../schema/commands.ts";
import { commandToWire } from "./store.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError, notFound } from "../lib/errors.ts";
import { txWithKey } from "../lib/idempotency.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { CommandIdParam, RequeueResult } from "./schema.ts";
import { events } from "../../schema/events.ts";

export const requeueRoute = defineRoute(
  ["owner"],
  {
    method: "post",
    path: "/commands/{id}/requeue",
    tags: ["queue"],
    summary: "Put a dead, ambiguous or failed command back in the queue with its attempts reset",
    description:
      "Owner only: for an ambiguous command this is the owner deciding the side effect may run again. The attempt history is kept. CLI: commands requeue ID.",
    request: { params: CommandIdParam },
    responses: { 200: jsonResponse(RequeueResult, "Requeued") },
  },
  { idempotency: "atomic" },
);

const REQUEUEABLE: CommandState[] = ["dead", "ambiguous", "failed"];

/** Requeues a finished-but-unsuccessful command with one conditional UPDATE. */
export async function requeueCommand(ctx: Ctx, id: string, respond?: number) {
  const [before] = await ctx.db
    .select({ state: commands.state, taskId: commands.taskId, sessionId: commands.sessionId })
    .from(commands)
    .where(eq(commands.id, id))
    .limit(1);
  if (!before) throw notFound("command", id, "List commands with: switchyard commands --state dead");
  const nowMs = ctx.now().getTime();
  const audit = auditInsert(ctx, {
    kind: "command_requeued",
    taskId: before.taskId,
    sessionId: before.sessionId,
    payload: { command_id: id, previous_state: before.state },
  });
  // State change and audit row commit together, and the audit row only for a change that happened.
  const result = (r: typeof commands.$inferSelect) => ({ command_id: id, command: commandToWire(r), previous_state: before.state });
  const row = await txWithKey(
    ctx,
    async (tx) => {
      const [updated] = await tx
        .update(commands)
        .set({ state: "pending", attempts: 0, error: null, nextAttemptAt: null, leaseExpiresAt: null, completedAt: null, updatedAt: nowMs })
        .where(and(eq(commands.id, id), eq(commands.state, before.state), inArray(commands.state, REQUEUEABLE)))
        .returning();
      if (!updated) {
        throw new ApiError("CONFLICT", `command ${id} is ${before.state}; only ${REQUEUEABLE.join(", ")} commands can be requeued`, {
          hint: before.state === "pending" || before.state === "running" ? "It is already queued or running." : "It finished; nothing to retry.",
        });
      }
      await tx.insert(events).values(audit.row);
      return updated;
    },
    (r) => (respond ? { body: result(r), status: respond } : undefined),
  );
  return result(row);
}
