// One dispatcher process for bench/queue-perf.ts. Prints {"ready":true}, then for every "go" line
// on stdin runs dispatch passes (as a dispatcher's own loop would) until a pass claims nothing,
// and prints {"done":true,"processed":N}. Exits when stdin ends.
//
// The notify_manager executor does nothing, so the rows measure the queue's own cost. Like the
// real one (functions/messages/inbox-executors.ts), it is a database-only effect: it has a `plan`
// (here with no statements), so the queue commits a run of them with their outcomes in one batch.
// argv: <db-url> <dispatcher-id>
import { createInterface } from "node:readline";
import { z } from "@hono/zod-openapi";
import type { ExecutorTable } from "../functions/lib/ctx.ts";
import { makeCtx } from "../functions/lib/ctx.ts";
import { openDatabase } from "../functions/lib/db.ts";
import { DISPATCH_PLUGINS } from "../functions/executors.ts";
import { dispatchPass } from "../functions/queue/dispatch-pass.ts";
import { HeartbeatThrottle } from "../functions/queue/dispatchers.ts";
import { DrainLease, releaseDrainLease } from "../functions/queue/drain-lease.ts";

const [url, dispatcherId] = process.argv.slice(2);
const database = await openDatabase({ url: url! });
// QUEUE_PERF_EXTERNAL_MS=N instead makes it an effect outside the database that takes N ms (no
// plan: started and outcome recorded around each), as a pane command is, for the drain lease's
// trade-off: standbys claim those too, so four processes still run them side by side.
const externalMs = Number(process.env.QUEUE_PERF_EXTERNAL_MS ?? 0);
const executors = {
  notify_manager:
    externalMs > 0
      ? { payload: z.object({ n: z.number() }), run: () => new Promise((r) => setTimeout(() => r({ ok: true, result: {} }), externalMs)) }
      : { payload: z.object({ n: z.number() }), run: async () => ({ ok: true, result: {} }), plan: async () => ({ stmts: [], result: {} }) },
} as unknown as ExecutorTable;
const ctx = makeCtx({ database, hostName: "bench", executors }, { kind: "daemon", tokenId: dispatcherId! });
// The throttle, the claim-ahead and the drain lease a dispatcher's own loop (local-runner/dispatcher.ts) uses.
// QUEUE_PERF_DRAIN_LEASE=0 runs without the lease (every process claims), for comparison;
// QUEUE_PERF_DRAIN_RELEASE=1 gives the lease up after every drain, so the processes of the next
// drain all race for it at its start (what a takeover costs) instead of the holder keeping it.
const drain = process.env.QUEUE_PERF_DRAIN_LEASE === "0" ? undefined : new DrainLease();
const opts = { dispatcherId: dispatcherId!, limit: 20, route: false, heartbeat: new HeartbeatThrottle(), prefetch: true, drain };
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
for await (const _line of createInterface({ input: process.stdin })) {
  let processed = 0;
  for (;;) {
    const r = await dispatchPass(ctx, DISPATCH_PLUGINS, opts);
    processed += r.claimed;
    if (r.claimed === 0) break;
  }
  if (drain?.held && drain.key && process.env.QUEUE_PERF_DRAIN_RELEASE === "1") {
    await releaseDrainLease(ctx, drain.key, dispatcherId!);
    drain.held = false;
  }
  process.stdout.write(`${JSON.stringify({ done: true, processed })}\n`);
}
database.close();
