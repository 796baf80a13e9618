import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { reserveRunSend } from "../../../../functions/broker/runs/send-budget.ts";
import { makeCtx } from "../../../../functions/lib/ctx.ts";
import { ApiError } from "../../../../functions/lib/errors.ts";
import { makeTestEnv, type TestEnv } from "../../../helpers/services.ts";
import { runRow, startedRun } from "./fixtures.ts";

/** reserveRunSend: the check every send path makes before delivering advice of a run. */

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const ownerCtx = () => makeCtx(env.services, { kind: "owner", tokenId: "tok_test" });

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiError) return `${e.code}: ${e.message}`;
    throw e;
  }
  return "reserved";
}

describe("reserveRunSend", () => {
  it("never reserves for an overnight dry run", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run" });
    expect(await refusal(reserveRunSend(ownerCtx(), { runId: id, threadId: "thr_1", adviceId: "adv_a" }))).toBe(
      `CONFLICT: advice of overnight_dry_run run '${id}' can never be sent`,
    );
    expect((await runRow(env, id)).sendsTotal).toBe(0);
  });

  it("reserves up to max_sends_total and refuses the next", async () => {
    const id = await startedRun(env, { mode: "supervised", limits: { max_sends_total: 2 } });
    expect(await refusal(reserveRunSend(ownerCtx(), { runId: id, threadId: "thr_1", adviceId: "adv_a" }))).toBe("reserved");
    expect(await refusal(reserveRunSend(ownerCtx(), { runId: id, threadId: "thr_2", adviceId: "adv_b" }))).toBe("reserved");
    // A retried send of the same advice finds its reservation and spends nothing more.
    expect(await refusal(reserveRunSend(ownerCtx(), { runId: id, threadId: "thr_2", adviceId: "adv_b" }))).toBe("reserved");
    expect(await refusal(reserveRunSend(ownerCtx(), { runId: id, threadId: "thr_3", adviceId: "adv_c" }))).toBe(
      `CONFLICT: run '${id}' allows at most 2 send(s) and has used 2`,
    );
    expect((await runRow(env, id)).sendsTotal).toBe(2);
  });

  it("refuses a thread that already had max_sends_per_thread sends, counting reservations not deliveries", async () => {
    const id = await startedRun(env, { mode: "supervised", limits: { max_sends_per_thread: 1 } });
    expect(await refusal(reserveRunSend(ownerCtx(), { runId: id, threadId: "thr_busy", adviceId: "adv_a" }))).toBe("reserved");
    // The first send has not delivered yet (no sent_at); a second advice on that thread is refused anyway.
    expect(await refusal(reserveRunSend(ownerCtx(), { runId: id, threadId: "thr_busy", adviceId: "adv_b" }))).toContain("at most 1 send(s) per thread");
    expect(await refusal(reserveRunSend(ownerCtx(), { runId: id, threadId: "thr_quiet", adviceId: "adv_c" }))).toBe("reserved");
    expect((await runRow(env, id)).sendsTotal).toBe(2);
  });

  it("has nothing to reserve for advice outside any run", async () => {
    expect(await refusal(reserveRunSend(ownerCtx(), { runId: null, threadId: "thr_1", adviceId: "adv_a" }))).toBe("reserved");
  });
});
