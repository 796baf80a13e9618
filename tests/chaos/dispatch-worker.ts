// One dispatcher OS process for dispatch-chaos.test.ts: the real dispatch loop over a shared file
// database, with one test-only difference — notify_manager's executor is replaced (through the
// Services `executors` override) by a side effect the parent can audit: it appends
// "<command_id> <generation>" to an append-only log. The parent kills these processes with
// SIGKILL at random and checks the log against the database afterwards.
//
// argv: <db-url> <dispatcher-id> <log-path> <lease-ms>
import { appendFileSync } from "node:fs";
import { z } from "@hono/zod-openapi";
import type { ExecutorTable } from "../../functions/lib/ctx.ts";
import { openDatabase } from "../../functions/lib/db.ts";
import { runDispatchLoop } from "../../local-runner/dispatcher.ts";

const [url, dispatcherId, logPath, leaseArg] = process.argv.slice(2);

/** fail_through: attempts (by generation) up to this one report failure, so retries happen. */
const ChaosPayload = z.object({ n: z.number().int(), fail_through: z.number().int().min(0) });

const executors = {
  notify_manager: {
    payload: ChaosPayload,
    async run(_ctx: unknown, cmd: { id: string; claimGeneration: number }, p: z.infer<typeof ChaosPayload>) {
      appendFileSync(logPath!, `${cmd.id} ${cmd.claimGeneration}\n`);
      return cmd.claimGeneration <= p.fail_through ? { ok: false, result: { n: p.n }, error: "chaos: told to fail" } : { ok: true, result: { n: p.n } };
    },
  },
} as unknown as ExecutorTable;

const database = await openDatabase({ url: url! });
const ac = new AbortController();
process.once("SIGTERM", () => ac.abort());
process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`);
const result = await runDispatchLoop(
  { database, hostName: "chaos", executors },
  {
    dispatcherId: dispatcherId!,
    leaseMs: Number(leaseArg),
    limit: 20,
    intervalMs: 50,
    retryBaseMs: 50,
    route: false,
    signal: ac.signal,
    onError: (e) => process.stderr.write(`pass failed: ${e.message}\n`),
  },
);
process.stdout.write(`${JSON.stringify({ done: true, ...result, busy_retries: database.busyRetries() })}\n`);
database.close();
