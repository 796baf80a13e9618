// One process for the patrol multi-process tests, acting on a shared file database through the
// domain functions, as a patrol or a CLI on another machine would.
//
// argv: <db-url> <mode> [args...]
//   gates:   after "go", close due timer gates and deliver notifications until nothing is left;
//            one line per closed gate and per delivery pass. Killed with SIGKILL at random by the
//            crash test, so it must never leave a gate closed without its notifications.
//   claim:   after "go", try one exclusive claim on args[0] for session args[1]; one line.
//   finish:  after "go", finish the tasks named in args (one line each), then one done line.
//   convoy-check: after "go", run check-convoy-completion args[0] times; one line with closes.
import { createInterface } from "node:readline";
import { finishTask } from "../../functions/actuate/finish-task.ts";
import { checkConvoyCompletion } from "../../functions/convoys/complete.ts";
import { addClaim } from "../../functions/coordination/claims.ts";
import { evaluateGates } from "../../functions/gates/evaluate.ts";
import { makeCtx } from "../../functions/lib/ctx.ts";
import { openDatabase } from "../../functions/lib/db.ts";
import { deliverNotifications } from "../../functions/patrol/notify.ts";

const [url, mode, ...args] = process.argv.slice(2);
const emit = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);

const database = await openDatabase({ url: url! });
const ctx = makeCtx({ database, hostName: `proc-${process.pid}` }, { kind: "owner", tokenId: `tok_${process.pid}` });

emit({ ready: true });
await new Promise<void>((resolve) => {
  const rl = createInterface({ input: process.stdin });
  rl.once("line", () => {
    rl.close();
    resolve();
  });
});

if (mode === "gates") {
  for (;;) {
    const g = await evaluateGates(ctx);
    for (const c of g.gates) emit({ closed: c.gate_id });
    const d = await deliverNotifications(ctx, 25);
    if (d.items.length) emit({ delivered: d.delivered, already: d.already_delivered });
    if (g.due === 0 && d.items.length === 0) break;
  }
  emit({ done: true });
} else if (mode === "finish") {
  for (const name of args) {
    await finishTask(ctx, name, { stop_worker: false, stop_manager: false });
    emit({ finished: name });
  }
  emit({ done: true });
} else if (mode === "claim") {
  try {
    const r = await addClaim(ctx, { path: args[0]!, session: args[1]!, ttl_seconds: 600, exclusive: true });
    emit({ done: true, won: true, claim_id: r.claim_id });
  } catch (e) {
    emit({ done: true, won: false, error: (e as Error).message });
  }
} else if (mode === "convoy-check") {
  // Races the finishers: check until told to stop by stdin closing, at most args[0] passes.
  let closed = 0;
  for (let i = 0; i < Number(args[0] ?? 200); i++) closed += (await checkConvoyCompletion(ctx)).closed;
  emit({ done: true, closed });
}
database.close();
