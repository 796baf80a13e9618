// One process for idempotency-crash.test.ts: sends one request through the app against a shared
// file database, and kills itself with SIGKILL (kill -9) from a test hook just before or just
// after the batch that stores the request's write together with its Idempotency-Key.
//
// argv: <db-url> <before|after> <token> <key> <method> <path> <json body>
import { createApp } from "../../functions/app.ts";
import { openDatabase } from "../../functions/lib/db.ts";

const [url, when, token, key, method, path, body] = process.argv.slice(2);
const database = await openDatabase({ url: url! });
const die = () => {
  process.kill(process.pid, "SIGKILL");
};
const app = createApp({ database, hostName: "crash-host", hooks: when === "before" ? { beforeKeyCommit: die } : { afterKeyCommit: die } });
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
const res = await app.request(path!, {
  method,
  headers: { Authorization: `Bearer ${token}`, "Idempotency-Key": key!, "Content-Type": "application/json" },
  body,
});
// Only reached if the hook never ran: the test fails on this line.
process.stdout.write(`${JSON.stringify({ survived: true, status: res.status, body: await res.text() })}\n`);
database.close();
