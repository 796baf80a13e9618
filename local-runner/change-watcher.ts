import { createClient, type Client } from "@libsql/client";
import type { Logger } from "../functions/lib/ctx.ts";
import type { InboxNotifier } from "../functions/lib/notifier.ts";

/** How often the watcher asks SQLite whether another connection committed, while someone waits. */
export const CHANGE_POLL_MS = 5;

/**
 * The newest pending item of each waited inbox, read straight off `inbox_items_target_idx`
 * backwards (target, consumed_at IS NULL, created_at, rowid): one index seek per inbox, whatever
 * the inbox holds. The inboxes travel as one JSON array so the statement text never changes.
 */
export const NEWEST_PENDING_SQL = `SELECT j.value AS inbox,
  (SELECT i.id FROM inbox_items i WHERE i.target_session_id = j.value AND i.consumed_at IS NULL
    ORDER BY i.created_at DESC, i.rowid DESC LIMIT 1) AS newest
FROM json_each(?) j`;

/** True for a database that another process can share through the file system. */
export function watchableUrl(url: string): boolean {
  return url.startsWith("file:") && !url.includes(":memory:") && url !== "file:";
}

/**
 * Wakes this process's inbox long polls when another process (another `switchyard up` on the
 * same database file) writes an item for them.
 *
 * While at least one long poll waits, it polls `PRAGMA data_version` on a connection of its own
 * every few ms. SQLite changes that number when any other connection commits, and reading it
 * touches no table, so an idle database costs almost nothing. On a change it reads the newest
 * pending item of every waited inbox in one indexed statement and signals the inboxes whose
 * newest item is not the one it saw last; the notifier hands that to the head consumer and the
 * watchers, which check the database as they would on a local send. When nobody waits it stops
 * polling and closes its connection.
 *
 * A remote database (libsql://, https://) gets no watcher: each request there may reach another
 * connection, so data_version says nothing about other clients, and the long polls' re-check
 * interval is the floor.
 */
export class ChangeWatcher {
  #client: Client | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #running = false;
  #stopped = false;
  #version: unknown = null;
  /** Newest pending item id of each waited inbox as last read (null: none pending). */
  readonly #newest = new Map<string, string | null>();
  readonly #unsubscribe: () => void;
  /** Signals sent because of another process's change (for tests and diagnostics). */
  signals = 0;

  constructor(private readonly opts: { url: string; notifier: InboxNotifier; pollMs?: number; log?: Logger }) {
    this.#unsubscribe = opts.notifier.onWait(() => this.#schedule(0));
  }

  /** True while it polls (someone waits, or the last poll has not yet seen that nobody does). */
  get active(): boolean {
    return this.#client !== null || this.#timer !== null || this.#running;
  }

  #schedule(ms: number): void {
    if (this.#stopped || this.#timer || this.#running) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#tick();
    }, ms);
    // A waiting request keeps the process alive, not its watcher.
    this.#timer.unref?.();
  }

  async #tick(): Promise<void> {
    this.#running = true;
    let again = false;
    try {
      again = await this.#check();
    } catch (e) {
      // A failed read is retried on the next tick; the re-check interval still covers the waits.
      if (!this.#stopped) this.opts.log?.warn("change watcher: read failed", { error: (e as Error).message });
      this.#close();
      again = true;
    } finally {
      this.#running = false;
    }
    if (again) this.#schedule(this.opts.pollMs ?? CHANGE_POLL_MS);
  }

  /** One poll; false when nobody waits any more (the watcher goes idle). */
  async #check(): Promise<boolean> {
    const inboxes = this.opts.notifier.waitedInboxes();
    if (inboxes.length === 0 || this.#stopped) {
      this.#close();
      return false;
    }
    this.#client ??= createClient({ url: this.opts.url });
    const rs = await this.#client.execute("PRAGMA data_version");
    const version = rs.rows[0]?.[0] ?? null;
    const changed = version !== this.#version;
    this.#version = version;
    // An inbox that started waiting since the last poll is read once whatever data_version says:
    // an item may have arrived between its own check and this poll.
    const toRead = changed ? inboxes : inboxes.filter((i) => !this.#newest.has(i));
    const waited = new Set(inboxes);
    for (const i of this.#newest.keys()) if (!waited.has(i)) this.#newest.delete(i);
    if (toRead.length === 0) return true;
    const rows = (await this.#client.execute({ sql: NEWEST_PENDING_SQL, args: [JSON.stringify(toRead)] })).rows;
    for (const r of rows) {
      const inbox = String(r.inbox);
      const newest = r.newest === null ? null : String(r.newest);
      const seen = this.#newest.get(inbox);
      this.#newest.set(inbox, newest);
      if (newest !== null && newest !== seen) {
        this.signals++;
        this.opts.notifier.signal(inbox);
      }
    }
    return true;
  }

  #close(): void {
    this.#client?.close();
    this.#client = null;
    this.#version = null;
    this.#newest.clear();
  }

  /** Stops polling for good and closes the connection. */
  stop(): void {
    this.#stopped = true;
    this.#unsubscribe();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#close();
  }
}
