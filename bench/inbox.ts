// Inbox benchmarks: how fast a long-polling consumer gets an item sent in the same process
// (woken by the notifier) and from another process (found by the database re-check), and the
// cost of consuming the next item when 100,000 are queued. Run alone with `npx tsx bench/inbox.ts`,
// or as part of `npm run bench`.
import { InboxNotifier, type ConsumerTurn } from "../functions/lib/notifier.ts";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createApp } from "../functions/app.ts";
import { consumeNext } from "../functions/messages/inbox-consume.ts";
import { sendMessage } from "../functions/messages/send.ts";
import { makeCtx } from "../functions/lib/ctx.ts";
import { makeId } from "../functions/lib/ids.ts";
import { registerSession } from "../functions/sessions/register.ts";
import { resolveHome } from "../local-runner/home.ts";
import { openLocalServices, type LocalServices } from "../local-runner/services.ts";
import { latencyRow, type BenchRow } from "./lib.ts";

export type InboxBenchRow = BenchRow;

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SENDER = join(ROOT, "bench", "inbox-sender.ts");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const wallNow = () => performance.timeOrigin + performance.now();

function row(id: string, label: string, samples: number[], targetP50?: number): InboxBenchRow {
  return latencyRow(id, label, samples, targetP50 === undefined ? undefined : { p50_ms: targetP50 });
}

/** A notifier that says when a long poll starts listening, so each sample starts while it waits. */
class ListeningNotifier extends InboxNotifier {
  #onListen: (() => void) | null = null;
  override consumer(inbox: string, abort?: AbortSignal): ConsumerTurn {
    const turn = super.consumer(inbox, abort);
    this.#onListen?.();
    this.#onListen = null;
    return turn;
  }
  listening(): Promise<void> {
    return new Promise((r) => (this.#onListen = r));
  }
}

async function freshHome(): Promise<{ dir: string; services: LocalServices }> {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-bench-inbox-"));
  const services = await openLocalServices({ home: { ...resolveHome({}, { home: dir }), hostName: "bench" } });
  return { dir, services };
}

/** Registers the session whose inbox is benchmarked (no tmux: items stay pull_required). */
async function inboxSession(services: LocalServices, name: string) {
  const ctx = makeCtx(services, { kind: "owner", tokenId: "tok_bench" });
  const { session_id } = await registerSession(ctx, { name, role: "manager" });
  return { ctx, sessionId: session_id };
}

/**
 * In-process wake: a consumer long-polls with a 60 s re-check interval, so only the notifier can
 * wake it; each sample runs from the start of the send to the consumer holding the item.
 */
async function wakeInProcess(n: number): Promise<number[]> {
  const { dir, services } = await freshHome();
  try {
    const notifier = new ListeningNotifier();
    services.notifier = notifier;
    const { ctx } = await inboxSession(services, "bench-mgr");
    const samples: number[] = [];
    for (let i = -10; i < n; i++) {
      const listening = notifier.listening();
      const waiting = consumeNext(ctx, { session: "bench-mgr" }, { wait: true, timeout: 60, interval: 60 });
      await listening;
      // Let the first (empty) check finish so the item is found by waking.
      await sleep(5);
      const t0 = performance.now();
      await sendMessage(ctx, { to: "bench-mgr", body: `wake ${i}`, msg_type: "notify" });
      const got = await waiting;
      const dt = performance.now() - t0;
      if (!got.item || got.woken_by !== "notifier") throw new Error(`sample ${i} was not woken by the notifier: ${JSON.stringify(got)}`);
      if (i >= 0) samples.push(dt);
    }
    return samples;
  } finally {
    services.database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Cross-process wake: another OS process sends; this process finds the item only by its
 * database re-check every `intervalS`, so latency is about half the interval plus a check.
 */
async function wakeCrossProcess(n: number, intervalS: number): Promise<number[]> {
  const { dir, services } = await freshHome();
  const child = spawn(process.execPath, ["--import", "tsx", SENDER, services.database.url, "bench-mgr"], { cwd: ROOT, stdio: ["pipe", "pipe", "inherit"] });
  try {
    const { ctx } = await inboxSession(services, "bench-mgr");
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    if ((await lines.next()).value !== "ready") throw new Error("sender did not start");
    const samples: number[] = [];
    for (let i = -5; i < n; i++) {
      const waiting = consumeNext(ctx, { session: "bench-mgr" }, { wait: true, timeout: 60, interval: intervalS });
      // Start each send at a different phase of the re-check cycle.
      await sleep(5 + (((i + 5) * 7) % Math.max(1, Math.round(intervalS * 1000))));
      child.stdin!.write("send\n");
      const sentAt = Number((await lines.next()).value);
      const got = await waiting;
      const dt = wallNow() - sentAt;
      if (!got.item) throw new Error(`sample ${i} got no item`);
      if (i >= 0) samples.push(dt);
    }
    return samples;
  } finally {
    child.stdin!.end();
    child.kill();
    services.database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Inserts `count` pending items for one session in large multi-row statements. */
async function seedItems(services: LocalServices, sessionId: string, count: number) {
  const client = services.database.client;
  const now = Date.now();
  for (let start = 0; start < count; start += 5000) {
    const stmts = [];
    for (let chunk = start; chunk < Math.min(count, start + 5000); chunk += 500) {
      const values: string[] = [];
      const args: Array<string | number> = [];
      for (let i = chunk; i < Math.min(count, chunk + 500, start + 5000); i++) {
        values.push("(?, ?, 'message', '{}', 'pull_required', ?)");
        args.push(makeId("inb", now + i), sessionId, now + i);
      }
      stmts.push({
        sql: `INSERT INTO inbox_items (id, target_session_id, signal_type, payload_json, delivery_mode, created_at) VALUES ${values.join(",")}`,
        args,
      });
    }
    await client.batch(stmts, "write");
  }
}

/** Consume latency through the in-process API with `queued` items pending for the session. */
async function consumeDeep(queued: number, n: number): Promise<number[]> {
  const { dir, services } = await freshHome();
  try {
    const { sessionId } = await inboxSession(services, "deep-mgr");
    await seedItems(services, sessionId, queued);
    const app = createApp(services);
    const headers = { Authorization: `Bearer ${services.ownerToken}`, "Content-Type": "application/json" };
    const samples: number[] = [];
    for (let i = -20; i < n; i++) {
      const t0 = performance.now();
      const res = await app.request("/v1/sessions/deep-mgr/inbox/consume", { method: "POST", headers, body: "{}" });
      const body = (await res.json()) as { item: unknown; has_more: boolean };
      const dt = performance.now() - t0;
      if (!body.item || !body.has_more) throw new Error(`consume ${i} found no item`);
      if (i >= 0) samples.push(dt);
    }
    return samples;
  } finally {
    services.database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every inbox row, in the order bench/run.ts prints them. */
export async function inboxBench(opts: { wakes?: number; crossWakes?: number; queued?: number; consumes?: number } = {}): Promise<InboxBenchRow[]> {
  const inProc = await wakeInProcess(opts.wakes ?? 200);
  const cross = await wakeCrossProcess(opts.crossWakes ?? 60, 0.05);
  const queued = opts.queued ?? 100_000;
  const consumes = opts.consumes ?? 1000;
  const deep = await consumeDeep(queued, consumes);
  // The same consumes on a short queue show whether depth costs anything.
  const shallow = await consumeDeep(consumes + 100, consumes);
  return [
    row("inbox_wake_inprocess", "long-poll wake, in-process send (notifier)", inProc, 25),
    row("inbox_wake_crossprocess", "long-poll wake, send from another process (re-check 50 ms)", cross),
    row("inbox_consume_100k", `consume next, ${queued.toLocaleString("en")} items queued, in-process API`, deep),
    row("inbox_consume_shallow", `consume next, ${(consumes + 100).toLocaleString("en")} items queued, in-process API`, shallow),
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await inboxBench()) console.log(JSON.stringify(r));
}
