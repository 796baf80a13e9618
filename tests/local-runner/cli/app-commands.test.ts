import { describe, expect, it } from "vitest";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "../../../local-runner/cli/main.ts";
import { cliSandbox } from "../../helpers/cli.ts";

const sb = cliSandbox("app-cli");
const cli = sb.cli;

/** A task `feat` bound to an app worker and an app manager with a thread. */
async function appLoop() {
  expect((await cli("register-worker", "--name", "w1")).code).toBe(EXIT_OK);
  expect((await cli("register-manager", "--name", "m1", "--thread-id", "thr_m1", "--thread-title", "Manager thread")).code).toBe(EXIT_OK);
  expect((await cli("tasks", "--create", "feat")).code).toBe(EXIT_OK);
  expect((await cli("bind", "--task", "feat", "--worker", "w1", "--manager", "m1")).code).toBe(EXIT_OK);
}

describe("app loop commands", () => {
  it("heartbeats, reports status and plans, dispatches and records a wake-up through the CLI", async () => {
    await appLoop();
    const beat = await cli("app-heartbeat", "feat", "--role", "worker");
    expect(beat.code).toBe(EXIT_OK);
    expect(beat.out).toMatch(/^worker heartbeat recorded for feat at /);
    expect(beat.out).toContain("next: switchyard app-heartbeat feat --role worker --json");
    // No dispatcher has ever beaten under the default id.
    expect(beat.out).toContain("next: start_dispatch - dispatcher dispatch-local is missing");

    const status = JSON.parse((await cli("app-loop-status", "feat", "--dispatcher-id", "qa", "--stale-after", "600", "--json")).out);
    expect(status).toMatchObject({
      stale_after_seconds: 600,
      dispatch: { dispatcher_id: "qa", state: "missing" },
      worker: { name: "w1", lease: { state: "fresh" } },
    });

    const plan = await cli("app-wakeup-plan", "feat");
    expect(plan.out).toContain('healthy manager [thread "Manager thread" thr_m1]');
    expect(plan.out).toContain("1. Run: switchyard app-heartbeat feat --role manager --json");

    const dispatched = JSON.parse((await cli("app-wakeup-dispatch", "feat", "--json")).out);
    expect(dispatched.actions.map((a: any) => [a.role, a.status])).toEqual([
      ["manager", "skipped_healthy"],
      ["worker", "skipped_healthy"],
    ]);
    const receipt = dispatched.event_id;
    const skipped = await cli("app-wakeup-record-delivery", "feat", "--role", "manager", "--dispatch-receipt", receipt, "--delivery-status", "skipped");
    expect(skipped.code).toBe(EXIT_OK);
    expect(skipped.out).toContain("recorded skipped for the manager of feat (source action skipped_healthy)");
    const sent = await cli(
      "app-wakeup-record-delivery",
      "feat",
      "--role",
      "manager",
      "--dispatch-receipt",
      receipt,
      "--delivery-status",
      "sent",
      "--thread-id",
      "thr_m1",
    );
    expect(sent.code).toBe(EXIT_FAILED);
    expect(sent.err).toContain("error: CONFLICT: cannot record sent for the manager");
    const audit = await cli("audit", "feat");
    for (const kind of ["app_heartbeat", "app_wakeup_dispatch_planned", "app_wakeup_delivery_recorded"]) expect(audit.out).toContain(kind);
  });

  it("refuses bad roles, statuses and numbers as usage errors before calling the API", async () => {
    for (const argv of [
      ["app-heartbeat", "feat"],
      ["app-heartbeat", "feat", "--role", "boss"],
      ["app-loop-status", "feat", "--stale-after", "-1"],
      ["app-wakeup-record-delivery", "feat", "--role", "manager", "--dispatch-receipt", "evt_1", "--delivery-status", "lost"],
      ["app-wakeup-record-delivery", "feat", "--role", "manager", "--delivery-status", "sent"],
      ["reconcile", "--stale-cycles-seconds", "0"],
    ]) {
      const res = await cli(...argv);
      expect(res.code, argv.join(" ")).toBe(EXIT_USAGE);
    }
  });
});

describe("reconcile", () => {
  it("reports no drift, then applies nothing, in text and JSON", async () => {
    await appLoop();
    const report = await cli("reconcile");
    expect(report.code).toBe(EXIT_OK);
    expect(report.out).toBe("before: 0 dead-pid session(s), 0 dangling binding(s), 0 stuck task(s), 0 unchecked\nno drift");
    const applied = JSON.parse((await cli("reconcile", "--apply", "--stale-cycles-seconds", "600", "--json")).out);
    expect(applied).toMatchObject({ applied: true, stale_cycles_seconds: 600, actions: [], after: { ok: true } });
  });
});
