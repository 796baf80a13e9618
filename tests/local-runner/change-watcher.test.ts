import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { makeCtx } from "../../functions/lib/ctx.ts";
import { consumeNext } from "../../functions/messages/inbox-consume.ts";
import { listInbox } from "../../functions/messages/inbox-list.ts";
import { sendMessage } from "../../functions/messages/send.ts";
import { registerSession } from "../../functions/sessions/register.ts";
import { ChangeWatcher, NEWEST_PENDING_SQL, watchableUrl } from "../../local-runner/change-watcher.ts";
import { resolveHome } from "../../local-runner/home.ts";
import { openLocalServices, wakeIntervalFromEnv, type LocalServices } from "../../local-runner/services.ts";

// Two Services on one database file stand for two `switchyard up` processes: each has its own
// connections and its own notifier, so a send through one can reach a wait on the other only
// through the database. tests/multiprocess/cross-server-wake.test.ts does it with real processes.

let dir: string | undefined;
const opened: LocalServices[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.database.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

async function twoServers(opts: { watchChanges?: boolean } = {}) {
  dir = mkdtempSync(join(tmpdir(), "switchyard-watch-"));
  const home = { ...resolveHome({}, { home: dir }), hostName: "test-host" };
  const a = await openLocalServices({ home, watchChanges: opts.watchChanges });
  const b = await openLocalServices({ home, watchChanges: opts.watchChanges });
  opened.push(a, b);
  const ctxA = makeCtx(a, { kind: "owner", tokenId: "tok_a" });
  const ctxB = makeCtx(b, { kind: "owner", tokenId: "tok_b" });
  await registerSession(ctxA, { name: "mgr", role: "manager" });
  return { a, b, ctxA, ctxB };
}

const waitFor = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe("ChangeWatcher: another process's write wakes this process's long polls", () => {
  it("wakes a consumer waiting on A when B sends, long before its 30 s re-check", async () => {
    const { a, ctxA, ctxB } = await twoServers();
    expect(a.changeWatcher).toBeInstanceOf(ChangeWatcher);
    const t0 = performance.now();
    const waiting = consumeNext(ctxA, { session: "mgr" }, { wait: true, timeout: 30, interval: 30 });
    await waitFor(() => a.notifier!.waiting(ctxA.notifier!.waitedInboxes()[0] ?? "").consumers === 1);
    // Let the first (empty) check finish, so the item must be found by waking.
    await new Promise((r) => setTimeout(r, 50));
    const sent = await sendMessage(ctxB, { to: "mgr", body: "from B", msg_type: "notify" });
    const got = await waiting;
    expect(got).toMatchObject({ item: { id: sent.inbox_item_id }, woken_by: "notifier", timed_out: false });
    // Generous: the point is that it was not the 30 s re-check (bench/multiserver.ts has the speed).
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(a.changeWatcher!.signals).toBeGreaterThan(0);
  });

  it("wakes a list watcher (wait without consuming) the same way", async () => {
    const { a, ctxA, ctxB } = await twoServers();
    const waiting = listInbox(ctxA, { session: "mgr" }, { limit: 10, wait: true, timeout: 30, interval: 30 });
    await waitFor(() => a.notifier!.waitedInboxes().length === 1);
    await new Promise((r) => setTimeout(r, 50));
    await sendMessage(ctxB, { to: "mgr", body: "from B", msg_type: "notify" });
    const got = await waiting;
    expect(got).toMatchObject({ count: 1, timed_out: false, woken_by: "notifier" });
  });

  it("without a watcher the same wait is found only by the re-check (the fallback it replaces)", async () => {
    const { a, ctxA, ctxB } = await twoServers({ watchChanges: false });
    expect(a.changeWatcher).toBeNull();
    const waiting = consumeNext(ctxA, { session: "mgr" }, { wait: true, timeout: 30, interval: 0.3 });
    await waitFor(() => a.notifier!.waitedInboxes().length === 1);
    await new Promise((r) => setTimeout(r, 50));
    await sendMessage(ctxB, { to: "mgr", body: "from B", msg_type: "notify" });
    expect(await waiting).toMatchObject({ woken_by: "interval" });
  });

  it("hands one item to exactly one of two consumers waiting on different servers", async () => {
    const { a, b, ctxA, ctxB } = await twoServers();
    const onA = consumeNext(ctxA, { session: "mgr" }, { wait: true, timeout: 2, interval: 30 });
    const onB = consumeNext(ctxB, { session: "mgr" }, { wait: true, timeout: 2, interval: 30 });
    await waitFor(() => a.notifier!.waitedInboxes().length === 1 && b.notifier!.waitedInboxes().length === 1);
    await new Promise((r) => setTimeout(r, 50));
    const sent = await sendMessage(ctxA, { to: "mgr", body: "one", msg_type: "notify" });
    const results = await Promise.all([onA, onB]);
    const items = results.map((r) => r.item?.id ?? null);
    expect(items.filter((x) => x !== null)).toEqual([sent.inbox_item_id]);
    expect(results.filter((r) => r.timed_out)).toHaveLength(1);
  });

  it("polls only while someone waits, and closes its connection when nobody does", async () => {
    const { a, ctxA, ctxB } = await twoServers();
    const w = a.changeWatcher!;
    await sendMessage(ctxB, { to: "mgr", body: "nobody waits", msg_type: "notify" });
    await new Promise((r) => setTimeout(r, 50));
    expect(w.signals).toBe(0);
    expect(w.active).toBe(false);
    // A wait that finds the item at once still registers briefly; the watcher then goes idle.
    await consumeNext(ctxA, { session: "mgr" }, { wait: true, timeout: 1, interval: 30 });
    await waitFor(() => !w.active);
  });

  it("reads the newest pending item of each waited inbox off the target index (no scan, no sort)", async () => {
    const { a } = await twoServers();
    const plan = await a.database.client.execute({ sql: `EXPLAIN QUERY PLAN ${NEWEST_PENDING_SQL}`, args: ['["ses_x","ses_y"]'] });
    const details = plan.rows.map((r) => String(r.detail));
    expect(details.some((d) => /inbox_items_target_idx/.test(d))).toBe(true);
    expect(details.filter((d) => /SCAN i\b|TEMP B-TREE/.test(d))).toEqual([]);
  });
});

describe("which databases get a watcher, and the wake interval setting", () => {
  it("watches file databases only: a remote libSQL server gives no cross-client change signal", () => {
    expect(watchableUrl("file:/tmp/x.db")).toBe(true);
    expect(watchableUrl("file::memory:")).toBe(false);
    expect(watchableUrl("libsql://db.example.turso.io")).toBe(false);
    expect(watchableUrl("https://db.example.com")).toBe(false);
  });

  it("reads SWITCHYARD_WAKE_INTERVAL_MS and refuses a value out of range by name", () => {
    expect(wakeIntervalFromEnv({})).toBeUndefined();
    expect(wakeIntervalFromEnv({ SWITCHYARD_WAKE_INTERVAL_MS: "250" })).toBe(250);
    expect(() => wakeIntervalFromEnv({ SWITCHYARD_WAKE_INTERVAL_MS: "5" })).toThrow(/SWITCHYARD_WAKE_INTERVAL_MS='5'.*100 to 60000/);
    expect(() => wakeIntervalFromEnv({ SWITCHYARD_WAKE_INTERVAL_MS: "soon" })).toThrow(/whole number/);
  });

  it("uses the server's interval for a wait that names none", async () => {
    dir = mkdtempSync(join(tmpdir(), "switchyard-watch-"));
    const s = await openLocalServices({ home: { ...resolveHome({}, { home: dir }), hostName: "h" }, wakeIntervalMs: 150, watchChanges: false });
    opened.push(s);
    const ctx = makeCtx(s, { kind: "owner", tokenId: "tok" });
    await registerSession(ctx, { name: "mgr", role: "manager" });
    // 0.7 s of waiting at a 150 ms re-check is about 5 polls; at the old fixed 1 s it would be 1.
    const got = await consumeNext(ctx, { session: "mgr" }, { wait: true, timeout: 0.7 });
    expect(got.timed_out).toBe(true);
    expect(got.poll_count).toBeGreaterThanOrEqual(3);
  });
});
