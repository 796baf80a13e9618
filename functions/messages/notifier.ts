import type { Ctx } from "../lib/ctx.ts";

export type { WakeReason } from "../lib/notifier.ts";

/**
 * Announces one new item in a session's inbox to this process's waiting long polls: the consumer
 * at the head of that inbox's line and any list watchers. Call after the item is committed.
 */
export function signalInbox(ctx: Ctx, sessionId: string): void {
  ctx.notifier?.signal(sessionId);
}
