import type { Ctx } from "../lib/ctx.ts";

/** The event type a new inbox item for `sessionId` is announced under. */
export function inboxEventType(sessionId: string): string {
  return `inbox:${sessionId}`;
}

/** Wakes this process's long polls on a session's inbox; call after the item is committed. */
export function signalInbox(ctx: Ctx, sessionId: string): void {
  ctx.notifier?.dispatchEvent(new Event(inboxEventType(sessionId)));
}

/** Why a wait ended. */
export type WakeReason = "notifier" | "interval" | "aborted";

/**
 * Listens for a session's inbox signals from the moment it is created, so a signal that arrives
 * while the caller is still checking the database is not lost: the next `wait` returns at once.
 */
export class InboxWaiter {
  #signalled = false;
  #wake: ((why: WakeReason) => void) | null = null;
  readonly #type: string;
  readonly #onSignal = () => {
    this.#signalled = true;
    this.#wake?.("notifier");
  };

  constructor(
    private readonly ctx: Ctx,
    sessionId: string,
    private readonly abort?: AbortSignal,
  ) {
    this.#type = inboxEventType(sessionId);
    ctx.notifier?.addEventListener(this.#type, this.#onSignal);
  }

  /** Resolves on the next signal (or one that came since the last wait), after `ms`, or on abort. */
  wait(ms: number): Promise<WakeReason> {
    if (this.abort?.aborted) return Promise.resolve("aborted");
    if (this.#signalled) {
      this.#signalled = false;
      return Promise.resolve("notifier");
    }
    return new Promise<WakeReason>((resolve) => {
      const onAbort = () => finish("aborted");
      const timer = setTimeout(() => finish("interval"), ms);
      const finish = (why: WakeReason) => {
        clearTimeout(timer);
        this.abort?.removeEventListener("abort", onAbort);
        this.#wake = null;
        this.#signalled = false;
        resolve(why);
      };
      this.#wake = finish;
      this.abort?.addEventListener("abort", onAbort);
    });
  }

  /** Stops listening; call when the poll ends. */
  close(): void {
    this.ctx.notifier?.removeEventListener(this.#type, this.#onSignal);
    this.#wake = null;
  }
}
