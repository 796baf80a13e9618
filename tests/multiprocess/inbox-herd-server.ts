// The server process of inbox-herd.test.ts: `switchyard up` (HTTP, no crons) over a fresh home
// with a few inbox sessions. On "wait <session> <n>" from stdin it answers once n consume long
// polls wait on that session's inbox in this process.
//
// argv: <home dir>
import { createInterface } from "node:readline";
import { makeCtx } from "../../functions/lib/ctx.ts";
import { registerSession } from "../../functions/sessions/register.ts";
import { resolveHome } from "../../local-runner/home.ts";
import { openLocalServices } from "../../local-runner/services.ts";
import { startUp } from "../../local-runner/up.ts";

const [dir] = process.argv.slice(2);
const services = await openLocalServices({ home: { ...resolveHome({}, { home: dir! }), hostName: "herd-host" } });
// Every long poll here uses the owner token, and the per-token rate limit (tested on its own)
// would refuse most of a 200-strong crowd; this measures the wake-ups, not the limiter.
services.rateLimit = null;
const ctx = makeCtx(services, { kind: "owner", tokenId: "tok_herd" });
const ids: Record<string, string> = {};
for (const name of ["herd-a1", "herd-b1", "herd-a2", "herd-b2", "herd-warm"]) ids[name] = (await registerSession(ctx, { name, role: "manager" })).session_id;
const up = await startUp(services, { port: 0, hostname: "127.0.0.1", schedules: [] });
const emit = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);
emit({ ready: true });
emit({ url: up.url, owner: services.ownerToken });

createInterface({ input: process.stdin }).on("line", async (line) => {
  const [cmd, name, n] = line.split(" ");
  if (cmd === "stop") {
    await up.stop();
    process.exit(0);
  }
  if (cmd !== "wait") return;
  while ((services.notifier?.waiting(ids[name!]!).consumers ?? 0) < Number(n)) await new Promise((r) => setTimeout(r, 20));
  emit({ waiting: name, consumers: Number(n) });
});
