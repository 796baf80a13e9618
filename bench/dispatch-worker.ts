// One dispatcher process for bench/dispatch.ts: waits for "go" on stdin, runs dispatch passes
// with a no-op executor until the queue is empty, and prints how many commands it processed.
// argv: <db-url> <dispatcher-id>
import { createInterface } from "node:readline";
import { z } from "@hono/zod-openapi";
import type { ExecutorTable } from "../functions/lib/ctx.ts";
import { makeCtx } from "../functions/lib/ctx.ts";
import { openDatabase } from "../functions/lib/db.ts";
import { DISPATCH_PLUGINS } from "../functions/executors.ts";
import { dispatchPass } from "../functions/queue/dispatch-pass.ts";

const [url, dispatcherId] = process.argv.slice(2);
const database = await openDatabase({ url: url! });
const executors = { notify_manager: { payload: z.object({ n: z.number() }), run: async () => ({ ok: true, result: {} }) } } as unknown as ExecutorTable;
const ctx = makeCtx({ database, hostName: "bench", executors }, { kind: "daemon", tokenId: dispatcherId! });
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
await new Promise<void>((resolve) => {
  const rl = createInterface({ input: process.stdin });
  rl.once("line", () => {
    rl.close();
    resolve();
  });
});
let processed = 0;
for (;;) {
  const r = await dispatchPass(ctx, DISPATCH_PLUGINS, { dispatcherId: dispatcherId!, limit: 20, route: false });
  processed += r.claimed;
  if (r.claimed === 0) break;
}
process.stdout.write(`${JSON.stringify({ done: true, processed })}\n`);
database.close();
