// One process for ingest-bounded.test.ts (run with --expose-gc): writes a transcript whose second
// line is 64 MiB long, ingests it while sampling the memory held in ArrayBuffers (after a GC, so
// only what ingest keeps alive counts), and prints the reports and the peak.
//
// argv: <home dir>
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCtx } from "../../../functions/lib/ctx.ts";
import { ingestSession } from "../../../functions/observe/ingest.ts";
import { registerSession } from "../../../functions/sessions/register.ts";
import { resolveHome } from "../../../local-runner/home.ts";
import { NodeHost } from "../../../local-runner/host.ts";
import { openLocalServices } from "../../../local-runner/services.ts";
import { codexMeta, codexRollout } from "../../helpers/transcripts.ts";

const LONG_LINE = 64 * 1024 * 1024;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");

const [dir] = process.argv.slice(2);
const services = await openLocalServices({ home: { ...resolveHome({}, { home: dir! }), hostName: "mem-host" } });
services.host = new NodeHost({ codexHome: join(dir!, "codex-home"), transcriptRoots: [] });
const ctx = makeCtx(services, { kind: "owner", tokenId: "tok_mem" });
const path = codexRollout({ codexSessions: join(dir!, "codex-home", "sessions"), claudeProjects: dir! }, "long");
await registerSession(ctx, { name: "long", role: "worker", codex_session: path });
// A line of 64 MiB still being written: no newline yet.
const block = "x".repeat(1024 * 1024);
appendFileSync(path, '{"type":"event_msg","payload":{"type":"agent_message","message":"');
for (let i = 0; i < LONG_LINE / block.length; i++) appendFileSync(path, block);

const sample = async <T>(fn: () => Promise<T>): Promise<{ result: T; peak: number; baseline: number }> => {
  gc();
  const baseline = process.memoryUsage().arrayBuffers;
  let peak = baseline;
  const timer = setInterval(() => {
    gc();
    peak = Math.max(peak, process.memoryUsage().arrayBuffers);
  }, 2);
  try {
    const result = await fn();
    return { result, peak, baseline };
  } finally {
    clearInterval(timer);
  }
};
const session = async () => (await ctx.db.query.sessions.findFirst({ where: (s, { eq }) => eq(s.name, "long") }))!;

const first = await sample(async () => ingestSession(ctx, await session()));
// The line ends, and an ordinary event follows it.
appendFileSync(path, `"}}\n${JSON.stringify({ timestamp: "2026-11-21T12:00:00.000Z", type: "event_msg", payload: { type: "task_complete" } })}\n`);
const second = await sample(async () => ingestSession(ctx, await session()));
const third = await sample(async () => ingestSession(ctx, await session()));
process.stdout.write(`${JSON.stringify({ first, second, third, meta_bytes: Buffer.byteLength(codexMeta()) })}\n`);
services.database.close();
writeFileSync(join(dir!, "done"), "");
