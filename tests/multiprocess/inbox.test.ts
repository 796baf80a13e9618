import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { consumeNext } from "../../functions/messages/inbox-consume.ts";
import { sendMessage } from "../../functions/messages/send.ts";
import type { Ctx } from "../../functions/lib/ctx.ts";
import type { Database } from "../../functions/lib/db.ts";
import { registerSession } from "../../functions/sessions/register.ts";
import { useSharedFileDatabase } from "../helpers/shared-file-db.ts";
import { go, spawnWorker, type WorkerProcess } from "../helpers/worker-process.ts";

const WORKER = fileURLToPath(new URL("./inbox-worker.ts", import.meta.url));
const CONSUMERS = 8;
const ITEMS = 400;
/** Well past a normal run, inside vitest's 60 s. */
const WATCHDOG_MS = 45_000;

type Line = { ready?: true; done?: true; id?: string; consumed_by?: string; consumed?: number };
type Proc = WorkerProcess<Line>;

function start(url: string, mode: "consume" | "send", session: string): Proc {
  return spawnWorker<Line>(WORKER, [url, mode, session]);
}

const shared = useSharedFileDatabase<Line>("inbox");
const procs = shared.procs;
let database: Database | undefined;

async function setup(): Promise<{ url: string; ctx: Ctx; session: string }> {
  const opened = await shared.open();
  database = opened.database;
  const { url, ctx } = opened;
  await registerSession(ctx, { name: "inbox-owner", role: "manager" });
  return { url, ctx, session: "inbox-owner" };
}

describe("one inbox shared by several OS processes", () => {
  it(`hands each of ${ITEMS} items to exactly one of ${CONSUMERS} consuming processes`, async () => {
    const { url, ctx, session } = await setup();
    const sent: string[] = [];
    for (let i = 0; i < ITEMS; i++) sent.push((await sendMessage(ctx, { to: session, body: `item ${i}`, msg_type: "notify" })).inbox_item_id);

    const consumers = Array.from({ length: CONSUMERS }, () => start(url, "consume", session));
    procs.push(...consumers);
    await Promise.all(consumers.map((p) => p.ready));
    go(consumers);
    const watchdog = setTimeout(() => {
      for (const p of consumers) if (p.child.exitCode === null) p.child.kill("SIGKILL");
    }, WATCHDOG_MS);
    const codes = await Promise.all(consumers.map((p) => p.exit));
    clearTimeout(watchdog);

    for (const [i, p] of consumers.entries()) expect({ process: i, code: codes[i], stderr: p.stderr.join("") }).toEqual({ process: i, code: 0, stderr: "" });
    const got = consumers.flatMap((p) => p.lines.filter((l) => l.id).map((l) => l.id!));
    // Nothing handed out twice, nothing lost.
    expect(new Set(got).size).toBe(got.length);
    expect([...got].sort()).toEqual([...sent].sort());
    // More than one process took part, or this would not test anything.
    expect(consumers.filter((p) => p.lines.some((l) => l.id)).length).toBeGreaterThan(1);

    const rows = await database!.client.execute("SELECT id, consumed_by FROM inbox_items WHERE consumed_at IS NOT NULL");
    const byId = new Map(rows.rows.map((r) => [String(r.id), String(r.consumed_by)]));
    expect(byId.size).toBe(ITEMS);
    for (const p of consumers) for (const l of p.lines.filter((x) => x.id)) expect(byId.get(l.id!)).toBe(l.consumed_by);
    const audited = await database!.client.execute("SELECT count(*) AS n FROM events WHERE kind = 'dispatch_inbox_consumed'");
    expect(audited.rows[0]!.n).toBe(ITEMS);
  });

  it("wakes a consumer waiting in this process when another process sends (by the periodic re-check)", async () => {
    const { url, ctx, session } = await setup();
    const sender = start(url, "send", session);
    procs.push(sender);
    await sender.ready;
    const waiting = consumeNext(ctx, { session }, { wait: true, timeout: 30, interval: 0.1 });
    // A margin for the first (empty) check, so the item must be found while waiting. The
    // sender's signal cannot reach this process; only the database re-check can find it.
    await new Promise((r) => setTimeout(r, 300));
    go([sender]);
    const res = await waiting;
    expect(await sender.exit).toBe(0);
    const sentId = sender.lines.find((l) => l.id)!.id;
    expect(res).toMatchObject({ item: { id: sentId }, timed_out: false, woken_by: "interval" });
    expect(res.poll_count).toBeGreaterThan(1);
  });
});
