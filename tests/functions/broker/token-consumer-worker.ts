// One token-consuming process for token-processes.test.ts: tries to consume the same approval
// token several times and prints one JSON line per verdict.
//
// argv: <db-url> <secret> <run-id> <to-session> <thread-id> <attempts>
// stdin: waits for one line ("go") so every process starts at the same moment.
import { consumeApprovalToken } from "../../../functions/broker/approval-tokens.ts";
import { makeCtx } from "../../../functions/lib/ctx.ts";
import { openDatabase } from "../../../functions/lib/db.ts";
import { emit, readyThenGo } from "../../helpers/worker-process.ts";

const [url, secret, runId, toSession, threadId, attempts] = process.argv.slice(2);

const database = await openDatabase({ url: url! });
const ctx = makeCtx({ database }, { kind: "daemon", tokenId: "tok_consumer" });
await readyThenGo();
for (let i = 0; i < Number(attempts); i++) {
  const v = await consumeApprovalToken(ctx, { secret: secret!, runId: runId!, toSession: toSession!, threadId: threadId! });
  emit(v.ok ? { ok: true } : { ok: false, reason: v.reason });
}
database.close();
// Exit explicitly: after close, some handle kept this process alive for about 30 s, and every
// verdict has already been printed.
process.exit(0);
