// One writer-and-feeder OS process for telemetry-feed-crash.test.ts: writes audit events in
// small batches (each queues its events for telemetry) and, after every FEED_EVERY of them, feeds
// the queue — another process's events as well as its own. Prints {"feeding": true} just before a
// feed and {"fed": n} after it, so the parent can SIGKILL it inside one.
//
// argv: <db-url> <name> <events>
import { auditInsert } from "../../functions/lib/audit.ts";
import { makeCtx } from "../../functions/lib/ctx.ts";
import { openDatabase } from "../../functions/lib/db.ts";
import { feedTelemetry } from "../../functions/telemetry/feed.ts";
import { emit, readyThenGo } from "../helpers/worker-process.ts";

const [url, name, total] = process.argv.slice(2);
const PER_BATCH = 10;
const FEED_EVERY = 400;

const database = await openDatabase({ url: url!, timeoutMs: 20_000 });
const ctx = makeCtx({ database, hostName: name! }, { kind: "owner", tokenId: `tok_${name}` });
await readyThenGo();
let sinceFeed = 0;
for (let n = 0; n < Number(total); n += PER_BATCH) {
  const stmts = Array.from(
    { length: PER_BATCH },
    (_, i) => auditInsert(ctx, { kind: "test_feed", payload: { worker: name, n: n + i, run_id: `run_${name}` } }).stmt,
  );
  await ctx.db.batch(stmts as [(typeof stmts)[number], ...typeof stmts]);
  sinceFeed += PER_BATCH;
  if (sinceFeed >= FEED_EVERY) {
    sinceFeed = 0;
    emit({ feeding: true });
    const report = await feedTelemetry(ctx, { maxBatches: 1 });
    emit({ fed: report.fed });
  }
}
emit({ done: true });
database.close();
