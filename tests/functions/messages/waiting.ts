import { InboxNotifier, type ConsumerTurn, type InboxWatch } from "../../../functions/lib/notifier.ts";
import type { TestEnv } from "../../helpers/services.ts";

/** A notifier that records what was signalled and tells when a long poll started or stopped waiting. */
export class ObservedNotifier extends InboxNotifier {
  /** The inboxes (session ids) signalled, in order. */
  readonly signalled: string[] = [];
  #joined = new Map<string, Array<() => void>>();
  #left = new Map<string, Array<() => void>>();

  #fire(map: Map<string, Array<() => void>>, inbox: string): void {
    for (const resolve of map.get(inbox) ?? []) resolve();
    map.delete(inbox);
  }

  #observe<T extends ConsumerTurn | InboxWatch>(inbox: string, waiter: T): T {
    this.#fire(this.#joined, inbox);
    const leave = waiter.leave.bind(waiter);
    waiter.leave = () => {
      leave();
      this.#fire(this.#left, inbox);
    };
    return waiter;
  }

  override consumer(inbox: string, abort?: AbortSignal): ConsumerTurn {
    return this.#observe(inbox, super.consumer(inbox, abort));
  }

  override watch(inbox: string, abort?: AbortSignal): InboxWatch {
    return this.#observe(inbox, super.watch(inbox, abort));
  }

  override signal(inbox: string): void {
    this.signalled.push(inbox);
    super.signal(inbox);
  }

  /** Resolves once a long poll waits on this session's inbox (so the test sends after it). */
  listening(sessionId: string): Promise<void> {
    return new Promise((resolve) => this.#joined.set(sessionId, [...(this.#joined.get(sessionId) ?? []), resolve]));
  }

  /** Resolves once a long poll on this session's inbox stops waiting (it answered or gave up). */
  stopped(sessionId: string): Promise<void> {
    return new Promise((resolve) => this.#left.set(sessionId, [...(this.#left.get(sessionId) ?? []), resolve]));
  }
}

/** Installs an ObservedNotifier as the process notifier of a test env. */
export function observeNotifier(env: TestEnv): ObservedNotifier {
  const n = new ObservedNotifier();
  env.services.notifier = n;
  return n;
}

/**
 * A margin for a long poll that started waiting to finish its first (empty) database check,
 * so an item sent afterwards must be found by waking, which is what the caller asserts on.
 */
export function firstPollDone(): Promise<void> {
  return new Promise((r) => setTimeout(r, 200));
}
