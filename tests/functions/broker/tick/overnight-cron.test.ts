import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { OVERNIGHT_HOLDER } from "../../../../crons/broker-overnight.ts";
import { CRONS } from "../../../../crons/index.ts";
import { runCron } from "../../../../crons/run.ts";
import { registerSession } from "../../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../../helpers/services.ts";
import { createRun, daemonCtx, requestMessage, runAdvice, runRow, startedRun, tick } from "../runs/fixtures.ts";

/** The broker-overnight cron: ticks started runs under their leases, never sends. */

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("broker-overnight cron", () => {
  it("is registered", () => {
    expect(CRONS["broker-overnight"]?.schedule).toBe("*/1 * * * *");
  });

  it("ticks every started run, skips runs a daemon holds, and leaves created and stopped runs alone", async () => {
    const lily = await registerSession(env, "manager");
    const peer = await registerSession(env, "worker");
    const free = await startedRun(env, { mode: "overnight_dry_run", target_session: lily.session.name });
    const held = await startedRun(env, { mode: "overnight_dry_run", target_session: lily.session.name, project: "/held" });
    const notStarted = await createRun(env, { mode: "overnight_dry_run" });
    await requestMessage(env, { from: peer.session_id, to: lily.session_id });
    await requestMessage(env, { from: peer.session_id, to: lily.session_id, project: "/held" });
    await tick(env, held, undefined, { holder: "daemon-a" });

    const run = await runCron(daemonCtx(env), "broker-overnight", { runner: "test" });
    expect(run.state).toBe("succeeded");
    const report = run.report as any;
    expect(report.runs).toEqual([
      expect.objectContaining({ run_id: free, outcome: "ticked", ingested: 1, drafted: 1 }),
      expect.objectContaining({ run_id: held, outcome: "skipped" }),
    ]);
    expect(report).toMatchObject({ ticked: 1, skipped: 1 });
    expect((await runRow(env, free)).leaseOwner).toBe(OVERNIGHT_HOLDER);
    expect((await runRow(env, held)).leaseOwner).toBe("daemon-a");
    expect((await runRow(env, notStarted)).state).toBe("created");
    expect((await runAdvice(env, free)).map((a) => [a.state, a.sentAt])).toEqual([["draft_ready", null]]);
  });

  it("reports a run the tick stopped", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run", limits: { max_runtime_minutes: 1 } });
    env.clock.advance(61);
    const report = (await runCron(daemonCtx(env), "broker-overnight", { runner: "test" })).report as any;
    expect(report.runs).toEqual([expect.objectContaining({ run_id: id, outcome: "ticked", stopped: "max_runtime_minutes" })]);
  });
});
