// One orchestrator processor process for processors.test.ts. It runs one orchestrator pass
// against a shared file database with an external drafter that records every call, and prints
// one JSON line per drafter call and one with the pass's result.
//
// argv: <db-url> <processor-id>
// stdin: waits for one line ("go") so both processors start at the same moment.
import type { DrafterCommand } from "../../../functions/lib/ctx.ts";
import { makeCtx } from "../../../functions/lib/ctx.ts";
import { openDatabase } from "../../../functions/lib/db.ts";
import { runOrchestratorOnce } from "../../../functions/orchestrator/watch.ts";
import { emit, readyThenGo } from "../../helpers/worker-process.ts";

const [url, processorId] = process.argv.slice(2);

const drafter: DrafterCommand = {
  label: `drafter-${processorId}`,
  async run(stdin) {
    const packet = JSON.parse(stdin) as { advice_id: string };
    emit({ drafted: packet.advice_id });
    // Drafting takes a moment, as a real one does, so the other processor claims in between.
    await new Promise((r) => setTimeout(r, 5));
    return JSON.stringify({ draft: `advice from ${processorId}` });
  },
};

const database = await openDatabase({ url: url! });
const ctx = makeCtx({ database, drafter }, { kind: "daemon", tokenId: "tok_processor" });
await readyThenGo();
const result = await runOrchestratorOnce(ctx, { processorId: processorId!, maxJobs: 500 });
emit({ done: true, processed: result.processed });
database.close();
// Exit explicitly: after close, some handle kept this process alive for about 30 s, and the
// result has already been printed.
process.exit(0);
