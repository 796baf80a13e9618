import type { CommandType } from "../../schema/commands.ts";

/** The most commands a grown claim takes, whatever the backlog (see BatchGrowth). */
export const MAX_GROWN_BATCH = 200;

/**
 * Lease time budgeted per database-only command of a grown batch: a grown batch never holds more
 * commands than its lease covers at this pace (a planned effect is a few reads, well under it).
 */
export const GROWN_MS_PER_COMMAND = 50;

/** How often, at most, a grown dispatcher goes without a claim open to every type (see BatchGrowth). */
export const FULL_SCOPE_EVERY_MS = 1000;

/** What one claim of a looping dispatcher asks for. */
export interface BatchAsk {
  /** Most commands to claim. */
  limit: number;
  /** Types to claim: every type this process runs, or only the database-only ones for a grown batch. */
  types: readonly CommandType[];
}

/**
 * Adaptive batch size for a looping dispatcher. With several dispatcher processes on one
 * database file, each write batch waits for SQLite's single writer lock, and a process that finds
 * it taken sleeps in the busy handler, so the cost of contention is per batch, not per command.
 * A deep backlog is therefore drained in fewer, bigger batches: a claim that comes back full makes
 * the next one twice as big (up to the cap), and one that comes back short returns to the base.
 *
 * Only database-only effects (executors with a `plan`, committed with their outcomes in one write)
 * are claimed in a grown batch: a batch of effects outside the database (typing into panes) keeps
 * the configured size, so its lease still covers it. The cap is also bounded by the lease
 * (GROWN_MS_PER_COMMAND per command). So that a grown dispatcher does not leave older external
 * commands waiting behind a long run of database-only ones, at least once a second
 * (FULL_SCOPE_EVERY_MS) it claims at the base size over every type. One-shot passes (cron,
 * `--once`) have no BatchGrowth and claim exactly their limit.
 */
export class BatchGrowth {
  /** The size the next grown claim asks for. */
  size: number;
  readonly cap: number;
  readonly fullScopeEveryMs: number;
  #fullScopeAtMs: number | null = null;
  #narrowed = false;
  /**
   * True when the last claim was a grown one (database-only types) that came back short: other
   * types may still be due, so the loop claims again at once (at the base size over every type)
   * instead of pausing.
   */
  narrowedShort = false;

  constructor(
    /** The configured limit: the starting size and the size of every batch over every type. */
    readonly base: number,
    opts: { leaseMs: number; cap?: number; fullScopeEveryMs?: number },
  ) {
    this.size = base;
    this.cap = Math.max(base, Math.min(opts.cap ?? MAX_GROWN_BATCH, Math.floor(opts.leaseMs / GROWN_MS_PER_COMMAND)));
    this.fullScopeEveryMs = opts.fullScopeEveryMs ?? FULL_SCOPE_EVERY_MS;
  }

  /**
   * What the next claim asks for, given every type this process runs and the database-only ones
   * among them. A claim over every type at the base size unless the last claims came back full,
   * there is a database-only type, and a claim over every type was made less than a second ago.
   */
  ask(nowMs: number, types: readonly CommandType[], planned: readonly CommandType[]): BatchAsk {
    const recent = this.#fullScopeAtMs !== null && nowMs >= this.#fullScopeAtMs && nowMs - this.#fullScopeAtMs < this.fullScopeEveryMs;
    this.#narrowed = this.size > this.base && planned.length > 0 && recent;
    if (this.#narrowed) return { limit: this.size, types: planned };
    this.#fullScopeAtMs = nowMs;
    return { limit: this.base, types };
  }

  /** A claim that asked for `asked` got `got`: full grows the next one, short resets it. */
  claimed(asked: number, got: number): void {
    const full = got >= asked && asked > 0;
    this.narrowedShort = this.#narrowed && !full;
    this.size = full ? Math.min(this.cap, Math.max(this.size, asked * 2)) : this.base;
  }
}
