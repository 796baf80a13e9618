import type { Ctx } from "../lib/ctx.ts";

export type { WakeReason } from "../lib/notifier.ts";

/**
 * Announces one new item in a session's inbox to this process's waiting long polls: the consumer
 * at the head of that inbox's line and any list watchers. Call after the item is committed.
 */
export function signalInbox(ctx: Ctx, sessionId: string): void {
  ctx.notifier?.signal(sessionId);
}

/** Default re-check interval when neither the request nor the server names one. */
export const DEFAULT_WAKE_INTERVAL_MS = 1000;

/** The re-check interval of one long poll in ms: the request's, else the server's default. */
export function recheckMs(ctx: Ctx, intervalSeconds: number | undefined): number {
  return intervalSeconds !== undefined ? intervalSeconds * 1000 : (ctx.wakeIntervalMs ?? DEFAULT_WAKE_INTERVAL_MS);
}
