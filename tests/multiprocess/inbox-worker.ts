// One process for inbox.test.ts, acting on a shared file database through the domain functions
// with its own Services (so its own notifier: other processes' signals never reach it).
//
// argv: <db-url> <mode> <session-name>
//   consume: after "go", consume the session's inbox until it is empty; one line per item.
//   send:    after "go", send one message to the session; one line with the inbox item id.
import { consumeNext } from "../../functions/messages/inbox-consume.ts";
import { sendMessage } from "../../functions/messages/send.ts";
import { makeCtx } from "../../functions/lib/ctx.ts";
import { openDatabase } from "../../functions/lib/db.ts";
import { emit, readyThenGo } from "../helpers/worker-process.ts";

const [url, mode, session] = process.argv.slice(2);

const database = await openDatabase({ url: url! });
const ctx = makeCtx({ database, hostName: `proc-${process.pid}` }, { kind: "owner", tokenId: `tok_${process.pid}` });

await readyThenGo();

if (mode === "consume") {
  let n = 0;
  for (;;) {
    const r = await consumeNext(ctx, { session: session! }, { wait: false, timeout: 0, interval: 1 });
    if (!r.item) break;
    n++;
    emit({ id: r.item.id, consumed_by: r.item.consumed_by });
  }
  emit({ done: true, consumed: n, busy_retries: database.busyRetries() });
} else {
  const sent = await sendMessage(ctx, { to: session!, body: `from process ${process.pid}`, msg_type: "notify" });
  emit({ done: true, id: sent.inbox_item_id });
}
database.close();
