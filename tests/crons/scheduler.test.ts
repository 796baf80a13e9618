import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../functions/lib/db.ts";
import { killUpProcess, startUpProcess, type UpProcess } from "../helpers/up-process.ts";

/** Starts `switchyard up` on a free port with the heartbeat sweep firing every second. */
function startUp(home: string): UpProcess {
  return startUpProcess(home, ["--cron", "heartbeat-sweep=*/1 * * * * *"], { SWITCHYARD_HOST_NAME: "scheduler-test" });
}

let home: string | undefined;
let database: Database | undefined;
const started: UpProcess[] = [];
afterEach(() => {
  for (const p of started.splice(0)) killUpProcess(p);
  database?.close();
  database = undefined;
  if (home) rmSync(home, { recursive: true, force: true });
  home = undefined;
});

type RunRow = { slot_key: string; runner: string; state: string };

describe("two `switchyard up` processes on one database", () => {
  it("run every scheduled slot exactly once and shut down cleanly on SIGTERM", async () => {
    home = mkdtempSync(join(tmpdir(), "switchyard-cron-"));
    // Both start together on a fresh home: they race for migrations and the owner token too.
    const ups = [startUp(home), startUp(home)];
    started.push(...ups);
    const urls = await Promise.all(ups.map((p) => p.url));
    for (const url of urls) expect((await fetch(`${url}/healthz`)).status).toBe(200);

    database = await openDatabase({ url: `file:${join(home, "switchyard.db")}` });
    const runs = async () => (await database!.client.execute("SELECT slot_key, runner, state FROM cron_runs ORDER BY started_at")).rows as unknown as RunRow[];
    const runners = ups.map((p) => `up:scheduler-test:${p.child.pid}`);

    // Wait for data, not for a duration: enough finished slots, ideally won by both processes.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const rows = await runs();
      const finished = rows.filter((r) => r.state !== "running");
      const winners = new Set(finished.map((r) => r.runner));
      if ((finished.length >= 6 && winners.size === 2) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }

    for (const p of ups) p.child.kill("SIGTERM");
    const codes = await Promise.all(ups.map((p) => p.exit));
    for (const [i, p] of ups.entries()) {
      expect({ code: codes[i], stdout: p.stdout() }).toMatchObject({ code: 0, stdout: expect.stringContaining("received SIGTERM, shutting down") });
      expect(p.stderr()).not.toMatch(/"level":"error"|error during shutdown/);
    }

    const rows = await runs();
    const slots = (await database.client.execute("SELECT slot_key, owner FROM cron_slots")).rows as unknown as { slot_key: string; owner: string }[];
    expect(rows.length).toBeGreaterThanOrEqual(6);
    // Each slot ran once, by the process that claimed it, and every run came from a claimed slot.
    const keys = rows.map((r) => r.slot_key);
    expect(new Set(keys).size).toBe(keys.length);
    const ownerOf = new Map(slots.map((s) => [s.slot_key, s.owner]));
    for (const r of rows) expect({ slot: r.slot_key, runner: r.runner }).toEqual({ slot: r.slot_key, runner: ownerOf.get(r.slot_key) });
    expect(rows.every((r) => r.state === "succeeded")).toBe(true);
    // Both processes took part in the schedule.
    expect(new Set(rows.map((r) => r.runner))).toEqual(new Set(runners));
  });
});
