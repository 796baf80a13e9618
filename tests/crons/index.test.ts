import cron from "node-cron";
import { describe, expect, it } from "vitest";
import { CRONS, CRON_NAMES } from "../../crons/index.ts";

describe("CRONS registry", () => {
  it("holds the patrol crons `up` schedules by default, and every cron has a valid schedule", () => {
    // Other groups register their own crons here too; these four are this group's.
    const mine = ["heartbeat-sweep", "dispatch-pass", "lease-expiry", "reconcile"];
    expect(CRON_NAMES).toEqual(expect.arrayContaining(mine));
    expect(Object.fromEntries(mine.map((n) => [n, CRONS[n]!.schedule]))).toEqual({
      "heartbeat-sweep": "*/1 * * * *",
      "dispatch-pass": "*/10 * * * * *",
      "lease-expiry": "*/30 * * * * *",
      reconcile: "*/15 * * * *",
    });
    for (const name of CRON_NAMES) expect(cron.validate(CRONS[name]!.schedule), name).toBe(true);
  });
});
