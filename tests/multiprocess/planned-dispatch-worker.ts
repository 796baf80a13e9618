// One dispatcher OS process for planned-batch-crash.test.ts: the real dispatch loop over a shared
// file database, with notify_manager's executor replaced (through the Services `executors`
// override) by a database-only effect the parent can count: its plan writes one events row
// naming the command and the claim generation, committed with the command's outcome. Planning
// takes a few ms per command, so a batch of 20 spends most of its life between its claim and its
// one commit — where the parent's SIGKILLs land.
//
// argv: <db-url> <dispatcher-id> <lease-ms> [<drain-lease-ms> | off] (default: the loop's own drain lease)
// env: WORKER_CLOCK_SKEW_MS (this process's clock runs that far ahead, or behind when negative: a
// host whose clock disagrees), WORKER_INTERVAL_MS (idle pause, default 50).
import { z } from "@hono/zod-openapi";
import { auditInsert } from "../../functions/lib/audit.ts";
import type { Ctx, ExecutorTable } from "../../functions/lib/ctx.ts";
import { openDatabase } from "../../functions/lib/db.ts";
import type { CommandRow } from "../../schema/commands.ts";
import { runDispatchLoop } from "../../local-runner/dispatcher.ts";
import { emit } from "../helpers/worker-process.ts";

const [url, dispatcherId, leaseArg, drainArg] = process.argv.slice(2);
const Payload = z.object({ n: z.number().int() });
const effect = (ctx: Ctx, cmd: CommandRow) =>
  auditInsert(ctx, { kind: "test_planned_effect", payload: { command_id: cmd.id, generation: cmd.claimGeneration } });

const executors = {
  notify_manager: {
    payload: Payload,
    async plan(ctx: Ctx, cmd: CommandRow, p: z.infer<typeof Payload>) {
      await new Promise((r) => setTimeout(r, 5));
      return { stmts: [effect(ctx, cmd).stmt], result: { n: p.n } };
    },
    // Only when a plan cannot commit (its claim went stale, which started then refuses): the
    // same effect, written on its own after side_effect_started.
    async run(ctx: Ctx, cmd: CommandRow, p: z.infer<typeof Payload>) {
      await effect(ctx, cmd).stmt;
      return { ok: true, result: { n: p.n, via: "run" } };
    },
  },
} as unknown as ExecutorTable;

const database = await openDatabase({ url: url! });
const ac = new AbortController();
process.once("SIGTERM", () => ac.abort());
emit({ ready: true, pid: process.pid });
const skew = Number(process.env.WORKER_CLOCK_SKEW_MS ?? 0);
const result = await runDispatchLoop(
  { database, hostName: "planned-crash", executors, clock: () => new Date(Date.now() + skew) },
  {
    dispatcherId: dispatcherId!,
    leaseMs: Number(leaseArg),
    drainLeaseMs: drainArg === undefined ? undefined : drainArg === "off" ? false : Number(drainArg),
    limit: 20,
    intervalMs: Number(process.env.WORKER_INTERVAL_MS ?? 50),
    route: false,
    signal: ac.signal,
    onError: (e) => process.stderr.write(`pass failed: ${e.message}\n`),
  },
);
emit({ done: true, ...result });
database.close();
