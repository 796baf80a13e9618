/** Why a wait ended: an in-process signal (or the consumer ahead handing over), the timer, or the caller hanging up. */
export type WakeReason = "notifier" | "interval" | "aborted";

/** One waiting request. */
class Waiter {
  #signalled = false;
  #wake: ((why: WakeReason) => void) | null = null;

  constructor(private readonly abort?: AbortSignal) {}

  /** True when a signal arrived that no wait has taken yet. */
  get pending(): boolean {
    return this.#signalled;
  }

  /** Wakes the wait in progress, or makes the next one return at once. */
  signal(): void {
    this.#signalled = true;
    this.#wake?.("notifier");
  }

  /** Resolves on a signal (or one that came since the last wait), after `ms`, or on abort. */
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
      this.abort?.addEventListener("abort", onAbort, { once: true });
    });
  }
}

/**
 * A consumer's place in the line of one inbox's waiting consumers in this process. Only the
 * consumer at the head checks the database (on its interval, on a signal, or at once when it
 * reaches the head); the others wait their turn. So one new item wakes one consumer, and
 * hundreds of waiting long polls cost one poller per inbox per process, not a herd of claims.
 */
export class ConsumerTurn {
  readonly #waiter: Waiter;

  constructor(
    private readonly line: ConsumerTurn[],
    private readonly onLeave: () => void,
    abort?: AbortSignal,
  ) {
    this.#waiter = new Waiter(abort);
    line.push(this);
  }

  /** True when this consumer is first in line and so the one that checks the inbox. */
  get isHead(): boolean {
    return this.line[0] === this;
  }

  /**
   * Waits up to `ms` for a reason to check the inbox: a new item signalled to the head, or
   * reaching the head because the consumer ahead left (it took an item or gave up).
   */
  next(ms: number): Promise<WakeReason> {
    return this.#waiter.wait(ms);
  }

  /** Signals this consumer (the head) that an item arrived. */
  signal(): void {
    this.#waiter.signal();
  }

  /**
   * Leaves the line; the next consumer becomes head. It checks the inbox at once unless this
   * head just took an item and saw nothing more pending (`drained`) and no signal came since:
   * then there is nothing to check until the next signal or its re-check interval.
   */
  leave(opts: { drained?: boolean } = {}): void {
    const i = this.line.indexOf(this);
    if (i === -1) return;
    this.line.splice(i, 1);
    if (i === 0 && (!opts.drained || this.#waiter.pending)) this.line[0]?.signal();
    this.onLeave();
  }
}

/** A request that waits for an inbox to have items without taking them (list with wait). */
export class InboxWatch {
  readonly #waiter: Waiter;

  constructor(
    private readonly set: Set<InboxWatch>,
    private readonly onLeave: () => void,
    abort?: AbortSignal,
  ) {
    this.#waiter = new Waiter(abort);
    set.add(this);
  }

  /** Waits up to `ms` for a signal. */
  next(ms: number): Promise<WakeReason> {
    return this.#waiter.wait(ms);
  }

  signal(): void {
    this.#waiter.signal();
  }

  /** Stops watching. */
  leave(): void {
    if (this.set.delete(this)) this.onLeave();
  }
}

/**
 * In-process inbox wake-ups, one per Services. A new item wakes the one consumer at the head of
 * that inbox's line (see ConsumerTurn) and every watcher (they only read). Plain maps rather
 * than an EventTarget: any number of waiters, and no listener-count warnings.
 */
export class InboxNotifier {
  readonly #lines = new Map<string, ConsumerTurn[]>();
  readonly #watches = new Map<string, Set<InboxWatch>>();

  /** Joins the consumer line of `inbox`; call `leave()` when the request ends. */
  consumer(inbox: string, abort?: AbortSignal): ConsumerTurn {
    const l = this.#lines.get(inbox) ?? [];
    this.#lines.set(inbox, l);
    return new ConsumerTurn(
      l,
      () => {
        if (l.length === 0 && this.#lines.get(inbox) === l) this.#lines.delete(inbox);
      },
      abort,
    );
  }

  /** Starts watching `inbox`; call `leave()` when the request ends. */
  watch(inbox: string, abort?: AbortSignal): InboxWatch {
    const s = this.#watches.get(inbox) ?? new Set<InboxWatch>();
    this.#watches.set(inbox, s);
    return new InboxWatch(
      s,
      () => {
        if (s.size === 0 && this.#watches.get(inbox) === s) this.#watches.delete(inbox);
      },
      abort,
    );
  }

  /** Announces one new item in `inbox`: wakes its head consumer and its watchers. */
  signal(inbox: string): void {
    this.#lines.get(inbox)?.[0]?.signal();
    for (const w of this.#watches.get(inbox) ?? []) w.signal();
  }

  /** Waiting consumers and watchers of `inbox` in this process (for tests and diagnostics). */
  waiting(inbox: string): { consumers: number; watchers: number } {
    return { consumers: this.#lines.get(inbox)?.length ?? 0, watchers: this.#watches.get(inbox)?.size ?? 0 };
  }
}
