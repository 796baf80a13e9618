import { inboxEventType } from "../../../functions/messages/notifier.ts";
import type { TestEnv } from "../../helpers/services.ts";

/** A notifier that records what was signalled and tells when a long poll started listening. */
export class ObservedNotifier extends EventTarget {
  readonly signalled: string[] = [];
  #listeners = new Map<string, Array<() => void>>();
  #stopped = new Map<string, Array<() => void>>();

  override addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: AddEventListenerOptions | boolean): void {
    super.addEventListener(type, listener, options);
    for (const resolve of this.#listeners.get(type) ?? []) resolve();
    this.#listeners.delete(type);
  }

  override removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: EventListenerOptions | boolean): void {
    super.removeEventListener(type, listener, options);
    for (const resolve of this.#stopped.get(type) ?? []) resolve();
    this.#stopped.delete(type);
  }

  override dispatchEvent(event: Event): boolean {
    this.signalled.push(event.type);
    return super.dispatchEvent(event);
  }

  /** Resolves once a long poll listens on this session's inbox (so the test sends after it). */
  listening(sessionId: string): Promise<void> {
    const type = inboxEventType(sessionId);
    return new Promise((resolve) => this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), resolve]));
  }

  /** Resolves once a long poll on this session's inbox stops listening (it answered or gave up). */
  stopped(sessionId: string): Promise<void> {
    const type = inboxEventType(sessionId);
    return new Promise((resolve) => this.#stopped.set(type, [...(this.#stopped.get(type) ?? []), resolve]));
  }
}

/** Installs an ObservedNotifier as the process notifier of a test env. */
export function observeNotifier(env: TestEnv): ObservedNotifier {
  const n = new ObservedNotifier();
  env.services.notifier = n;
  return n;
}

/**
 * A margin for a long poll that started listening to finish its first (empty) database check,
 * so an item sent afterwards must be found by waking, which is what the caller asserts on.
 */
export function firstPollDone(): Promise<void> {
  return new Promise((r) => setTimeout(r, 200));
}
