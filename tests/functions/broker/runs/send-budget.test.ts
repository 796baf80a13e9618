import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { reserveRunSend } from "../../../../functions/broker/runs/send-budget.ts";
import { makeCtx } from "../../../../functions/lib/ctx.ts";
import { ApiError } from "../../../../functions/lib/errors.ts";
import { adviceRequests } from "../../../../schema/broker.ts";
import { registerSession } from "../../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../../helpers/services.ts";
import { requestMessage, runAdvice, runRow, startedRun, tick } from "./fixtures.ts";

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
    expect(await refusal(reserveRunSend(ownerCtx(), { runId: id, threadId: "thr_1" }))).toBe(`CONFLICT: advice of overnight_dry_run run '${id}' can never be sent`);
    expect((await runRow(env, id)).sendsTotal).toBe(0);
  });

  it("reserves up to max_sends_total and refuses the next", async () => {
    const id = await startedRun(env, { mode: "supervised", limits: { max_sends_total: 2 } });
    expect(await refusal(reserveRunSend(ownerCtx(), { runId: id, threadId: "thr_1" }))).toBe("reserved");
    expect(await refusal(reserveRunSend(ownerCtx(), { runId: id, threadId: "thr_2" }))).toBe("reserved");
    expect(await refusal(reserveRunSend(ownerCtx(), { runId: id, threadId: "thr_3" }))).toBe(`CONFLICT: run '${id}' allows at most 2 send(s) and has used 2`);
    expect((await runRow(env, id)).sendsTotal).toBe(2);
  });

  it("refuses a thread that already had max_sends_per_thread sends", async () => {
    const lily = await registerSession(env, "manager");
    const peer = await registerSession(env, "worker");
    const id = await startedRun(env, { mode: "supervised", limits: { max_sends_per_thread: 1 } });
    await requestMessage(env, { from: peer.session_id, to: lily.session_id, threadId: "thr_busy" });
    await tick(env, id);
    const [advice] = await runAdvice(env, id);
    await env.services.database.db.update(adviceRequests).set({ state: "sent", sentAt: env.clock.ms, approvedAt: env.clock.ms }).where(eq(adviceRequests.id, advice!.id));
    expect(await refusal(reserveRunSend(ownerCtx(), { runId: id, threadId: "thr_busy" }))).toContain("at most 1 send(s) per thread");
    expect(await refusal(reserveRunSend(ownerCtx(), { runId: id, threadId: "thr_quiet" }))).toBe("reserved");
  });

  it("has nothing to reserve for advice outside any run", async () => {
    expect(await refusal(reserveRunSend(ownerCtx(), { runId: null, threadId: "thr_1" }))).toBe("reserved");
  });
});
