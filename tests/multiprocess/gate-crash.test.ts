import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createGate } from "../../functions/gates/create.ts";
import { registerSession } from "../../functions/sessions/register.ts";
import { useSharedFileDatabase } from "../helpers/shared-file-db.ts";
import { go, spawnWorker } from "../helpers/worker-process.ts";

const WORKER = fileURLToPath(new URL("./patrol-worker.ts", import.meta.url));
const GATES = 80;
const WAITERS = ["crash-w1", "crash-w2", "crash-w3"];
/** Rounds whose process is killed at a varying moment; one more round then finishes the work. */
const KILL_ROUNDS = 10;
/** Batches of gates at most; a later batch runs only when too few kills landed mid-work. */
const MAX_BATCHES = 4;

type Line = { ready?: true; done?: true; closed?: string; delivered?: number };

const shared = useSharedFileDatabase<Line>("gate-crash");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("gate close under kill -9", () => {
  it(`notifies every waiter of batches of ${GATES} timer gates exactly once while the closing process is killed again and again`, async () => {
    const { url, database, ctx } = await shared.open();
    for (const name of WAITERS) await registerSession(ctx, { name, role: "worker" });

    let kills = 0;
    let killedMidWork = 0;
    let gatesMade = 0;
    // A fast machine can close a whole batch before the later kill rounds come due. Then another
    // batch of gates runs with every kill moment halved, until processes really died mid-work.
    for (let batch = 0, scale = 1; batch < MAX_BATCHES && (kills <= 2 || killedMidWork === 0); batch++, scale /= 2) {
      for (let i = 0; i < GATES; i++) {
        await createGate(ctx, { type: "timer", timeout_seconds: 1, title: `b${batch}g${i}`, waiters: WAITERS });
      }
      gatesMade += GATES;
      await sleep(1100);
      let finished = false;
      // On a loaded machine a worker can be killed before it has closed anything; each such miss
      // gives the next kill round more time, so the rounds still land inside the work.
      let slack = 0;
      for (let round = 0; round <= KILL_ROUNDS && !finished; round++) {
        const p = spawnWorker<Line>(WORKER, [url, "gates"]);
        shared.procs.push(p);
        await p.ready;
        go([p]);
        // Kill rounds die 20-300 ms (scaled, plus any slack) into the work; the last round lives until it is done.
        const life = round < KILL_ROUNDS ? Math.round((20 + ((round * 97) % 280)) * scale) + slack : 60_000;
        const outcome = await Promise.race([p.exit.then(() => "exited" as const), sleep(life).then(() => "kill" as const)]);
        if (outcome === "kill" && p.child.exitCode === null) {
          p.child.kill("SIGKILL");
          await p.exit;
          kills++;
          if (p.lines.some((l) => l.closed || l.delivered)) killedMidWork++;
          else slack += 150;
        } else {
          expect(p.stderr.join("")).toBe("");
          finished = p.lines.some((l) => l.done);
        }
      }
      expect(finished).toBe(true);
    }
    // The test only proves something if processes really died while closing and delivering.
    expect(kills).toBeGreaterThan(2);
    expect(killedMidWork).toBeGreaterThan(0);

    const q = async (sql: string) => (await database.client.execute(sql)).rows;
    expect((await q("SELECT count(*) AS n FROM gates WHERE state = 'closed'"))[0]!.n).toBe(gatesMade);
    expect((await q("SELECT count(*) AS n FROM events WHERE kind = 'gate_closed'"))[0]!.n).toBe(gatesMade);
    expect((await q("SELECT count(*) AS n FROM notifications WHERE kind = 'gate_closed'"))[0]!.n).toBe(gatesMade * WAITERS.length);
    expect((await q("SELECT count(*) AS n FROM notifications WHERE delivered_at IS NULL"))[0]!.n).toBe(0);
    // Exactly one inbox item per (gate, waiter): none lost, none doubled.
    const perPair = await q(
      `SELECT json_extract(i.payload_json, '$.gate_id') AS gate, s.name AS waiter, count(*) AS n
         FROM inbox_items i JOIN sessions s ON s.id = i.target_session_id
        WHERE json_extract(i.payload_json, '$.notification_kind') = 'gate_closed'
        GROUP BY gate, waiter`,
    );
    expect(perPair).toHaveLength(gatesMade * WAITERS.length);
    expect(perPair.every((r) => r.n === 1)).toBe(true);
    expect((await q("SELECT count(*) AS n FROM messages WHERE msg_type = 'notify'"))[0]!.n).toBe(gatesMade * WAITERS.length);
  }, 120_000);
});
