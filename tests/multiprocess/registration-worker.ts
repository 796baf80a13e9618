// One writer process for registrations.test.ts. It runs the domain functions against a shared
// file database and prints one JSON line per acknowledged write, so the parent can check that
// everything this process was told succeeded is really in the database afterwards.
//
// argv: <db-url> <worker-index> <operations> <busy-timeout-ms> <lanes>
// stdin: waits for one line ("go") before writing, so every worker starts at the same moment.
import { eq } from "drizzle-orm";
import { revokeToken } from "../../functions/admin/tokens.ts";
import { bindTask } from "../../functions/bindings/bind.ts";
import { makeCtx } from "../../functions/lib/ctx.ts";
import { openDatabase } from "../../functions/lib/db.ts";
import { registerSession } from "../../functions/sessions/register.ts";
import { createTask } from "../../functions/tasks/create.ts";
import { tokens } from "../../schema/auth.ts";
import { emit, readyThenGo } from "../helpers/worker-process.ts";

const [url, indexArg, opsArg, timeoutArg, lanesArg] = process.argv.slice(2);
const worker = Number(indexArg);
const operations = Number(opsArg);
const lanes = Number(lanesArg);

const ROUND = 5;

const database = await openDatabase({ url: url!, timeoutMs: Number(timeoutArg) });
const ctx = makeCtx({ database, hostName: `proc-${worker}` }, { kind: "owner", tokenId: "tok_multiprocess" });

await readyThenGo();

// Five operations per round: a worker, a manager, a task, the binding between them, and revoking
// the manager's token (an interactive write transaction rather than a batch). Rounds
// run in several concurrent lanes, as requests do in a server, so one lane's busy error and
// reconnect lands while other lanes have statements in flight on the same client.
let failed = 0;
const managerIds = new Map<number, string>();
async function operation(op: number) {
  const round = Math.floor(op / ROUND);
  const w = `p${worker}-w${round}`;
  const m = `p${worker}-m${round}`;
  const t = `p${worker}-t${round}`;
  try {
    switch (op % ROUND) {
      case 0:
        emit({ kind: "session", id: (await registerSession(ctx, { name: w, role: "worker" })).session_id });
        break;
      case 1: {
        const id = (await registerSession(ctx, { name: m, role: "manager" })).session_id;
        managerIds.set(round, id);
        emit({ kind: "session", id });
        break;
      }
      case 2:
        emit({ kind: "task", id: (await createTask(ctx, { name: t, goal: "multi-process write" })).task_id });
        break;
      case 3:
        emit({ kind: "binding", id: (await bindTask(ctx, { task: t, worker: w, manager: m })).binding_id });
        break;
      default: {
        const [token] = await ctx.db
          .select({ id: tokens.id })
          .from(tokens)
          .where(eq(tokens.sessionId, managerIds.get(round)!));
        emit({ kind: "revoke", id: (await revokeToken(ctx, token!.id)).token_id });
      }
    }
  } catch (e) {
    failed++;
    emit({ kind: "error", op, message: (e as Error).message });
  }
}

let next = 0;
await Promise.all(
  Array.from({ length: lanes }, async () => {
    for (let round = next++; round * ROUND < operations; round = next++) {
      for (let op = round * ROUND; op < Math.min(operations, (round + 1) * ROUND); op++) await operation(op);
    }
  }),
);

emit({ done: true, busy_retries: database.busyRetries(), failed });
database.close();
