// Child process for the cross-process long-poll benchmark (bench/inbox.ts): for every "send"
// line on stdin it sends one message to the session named in argv and prints the wall-clock
// time (ms, sub-ms precision) at which it started the send.
// argv: <db-url> <session-name>
import { createInterface } from "node:readline";
import { sendMessage } from "../functions/messages/send.ts";
import { makeCtx } from "../functions/lib/ctx.ts";
import { openDatabase } from "../functions/lib/db.ts";

const [url, session] = process.argv.slice(2);
const database = await openDatabase({ url: url! });
const ctx = makeCtx({ database, hostName: "bench-sender" }, { kind: "owner", tokenId: "tok_bench_sender" });
process.stdout.write("ready\n");
for await (const line of createInterface({ input: process.stdin })) {
  if (line !== "send") break;
  const at = performance.timeOrigin + performance.now();
  await sendMessage(ctx, { to: session!, body: "bench", msg_type: "notify" });
  process.stdout.write(`${at}\n`);
}
database.close();
