import type { Client, Transaction } from "@libsql/client";

/*
 * Database clients for measuring what a request costs against a remote libSQL/Turso database,
 * where every call is a network hop. Both wrap the real client (see `wrapClient` in
 * functions/lib/db.ts); nothing is mocked: the statements still run on the real file.
 *
 * A round trip is one call that would cross the network: `execute`, `batch`, `executeMultiple`,
 * `migrate`, opening an interactive transaction, and every statement, commit and rollback inside
 * one. An interactive transaction therefore costs at least three and holds the write lock across
 * them, which is what the round-trip budget forbids on hot paths.
 */

/** What a counting client has seen since its last reset. */
export interface RoundTrips {
  /** Calls that would each be a network hop. */
  count: number;
  /** Interactive transactions opened (each holds a lock across round trips). */
  transactions: number;
  /** The SQL (first 120 characters) or kind of each round trip, in order, for failure messages. */
  log: string[];
  reset(): void;
}

/** A fresh round-trip tally. */
export function roundTrips(): RoundTrips {
  return {
    count: 0,
    transactions: 0,
    log: [],
    reset() {
      this.count = 0;
      this.transactions = 0;
      this.log = [];
    },
  };
}

type Hook = (what: string) => Promise<void> | void;

const sqlOf = (stmt: unknown): string => {
  if (typeof stmt === "string") return stmt;
  if (Array.isArray(stmt)) return String(stmt[0]);
  return String((stmt as { sql?: unknown })?.sql ?? "?");
};
const short = (sql: string) => sql.replace(/\s+/g, " ").trim().slice(0, 120);

/** The methods of a client or transaction that each cost one round trip, and how to name them. */
const HOPS: Record<string, (args: unknown[]) => string> = {
  execute: (a) => short(sqlOf(a[0])),
  batch: (a) => `batch[${(a[0] as unknown[]).length}]: ${(a[0] as unknown[]).map((s) => short(sqlOf(s)).slice(0, 40)).join(" | ")}`,
  executeMultiple: () => "executeMultiple",
  migrate: () => "migrate",
  commit: () => "COMMIT",
  rollback: () => "ROLLBACK",
};

/** A proxy that runs `hook` before every round trip of `target`; transactions are wrapped too. */
function hooked<T extends Client | Transaction>(target: T, hook: Hook, onTransaction?: () => void): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const value = Reflect.get(t, prop, receiver);
      if (typeof value !== "function") return value;
      const name = String(prop);
      if (name === "transaction") {
        return async (...args: unknown[]) => {
          onTransaction?.();
          await hook("BEGIN (interactive transaction)");
          const tx = (await value.apply(t, args)) as Transaction;
          return hooked(tx, hook);
        };
      }
      const describe = HOPS[name];
      if (!describe) return value.bind(t);
      return async (...args: unknown[]) => {
        await hook(describe(args));
        return value.apply(t, args);
      };
    },
  });
}

/** Wraps `inner` so every round trip is counted into `tally`. */
export function countingClient(inner: Client, tally: RoundTrips): Client {
  return hooked(
    inner,
    (what) => {
      tally.count++;
      tally.log.push(what);
    },
    () => {
      tally.transactions++;
    },
  );
}

/** A latency that can be changed while the client is in use (0 while a test sets up, say). */
export interface Latency {
  ms: number;
}

/**
 * Wraps `inner` so every round trip first waits `latency.ms`, as a hop to a remote database
 * would. Only this process's own calls wait; SQLite's locks are held no longer than the real
 * statements take, except by an interactive transaction, whose every statement waits inside it.
 */
export function latencyClient(inner: Client, latency: Latency): Client {
  return hooked(inner, () => (latency.ms > 0 ? new Promise<void>((r) => setTimeout(r, latency.ms)) : undefined));
}

/** The simulated latency the HTTP suite runs with in CI (SWITCHYARD_TEST_DB_LATENCY_MS), or 0. */
export function latencyFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.SWITCHYARD_TEST_DB_LATENCY_MS;
  if (!raw) return 0;
  const ms = Number(raw);
  if (!Number.isFinite(ms) || ms < 0) throw new Error(`SWITCHYARD_TEST_DB_LATENCY_MS must be a non-negative number of milliseconds, not '${raw}'`);
  return ms;
}
