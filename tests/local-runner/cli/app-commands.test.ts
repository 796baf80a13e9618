import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, runCli } from "../../../local-runner/cli/main.ts";

/** Runs the CLI in-process against a temp home and captures what it prints. */
async function cli(home: string, ...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli([...argv, "--home", home], { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

const ENV_KEYS = ["SWITCHYARD_URL", "SWITCHYARD_TOKEN", "SWITCHYARD_HOME", "SWITCHYARD_DB_URL", "SWITCHYARD_HOST_NAME"] as const;
const savedEnv: Partial<Record<(typeof ENV_KEYS)[number], string>> = {};
beforeAll(() => {
  for (const k of ENV_KEYS) {
    savedEnv[k] = process.env[k];
    delete process.env[k];
  }
});
afterAll(() => {
  for (const k of ENV_KEYS) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
});

let home: string;
beforeEach(() => {
  home = join(mkdtempSync(join(tmpdir(), "switchyard-app-cli-")), "home");
});
afterEach(() => rmSync(join(home, ".."), { recursive: true, force: true }));

/** A task `feat` bound to an app worker and an app manager with a thread. */
async function appLoop() {
  expect((await cli(home, "register-worker", "--name", "w1")).code).toBe(EXIT_OK);
  expect((await cli(home, "register-manager", "--name", "m1", "--thread-id", "thr_m1", "--thread-title", "Manager thread")).code).toBe(EXIT_OK);
  expect((await cli(home, "tasks", "--create", "feat")).code).toBe(EXIT_OK);
  expect((await cli(home, "bind", "--task", "feat", "--worker", "w1", "--manager", "m1")).code).toBe(EXIT_OK);
}

describe("app loop commands", () => {
  it("heartbeats, reports status and plans, dispatches and records a wake-up through the CLI", async () => {
    await appLoop();
    const beat = await cli(home, "app-heartbeat", "feat", "--role", "worker");
    expect(beat.code).toBe(EXIT_OK);
    expect(beat.out).toMatch(/^worker heartbeat recorded for feat at /);
    expect(beat.out).toContain("next: switchyard app-heartbeat feat --role worker --json");
    // No dispatcher has ever beaten under the default id.
    expect(beat.out).toContain("next: start_dispatch - dispatcher dispatch-local is missing");

    const status = JSON.parse((await cli(home, "app-loop-status", "feat", "--dispatcher-id", "qa", "--stale-after", "600", "--json")).out);
    expect(status).toMatchObject({ stale_after_seconds: 600, dispatch: { dispatcher_id: "qa", state: "missing" }, worker: { name: "w1", lease: { state: "fresh" } } });

    const plan = await cli(home, "app-wakeup-plan", "feat");
    expect(plan.out).toContain('healthy manager [thread "Manager thread" thr_m1]');
    expect(plan.out).toContain("1. Run: switchyard app-heartbeat feat --role manager --json");

    const dispatched = JSON.parse((await cli(home, "app-wakeup-dispatch", "feat", "--json")).out);
    expect(dispatched.actions.map((a: any) => [a.role, a.status])).toEqual([
      ["manager", "skipped_healthy"],
      ["worker", "skipped_healthy"],
    ]);
    const receipt = dispatched.event_id;
    const skipped = await cli(home, "app-wakeup-record-delivery", "feat", "--role", "manager", "--dispatch-receipt", receipt, "--delivery-status", "skipped");
    expect(skipped.code).toBe(EXIT_OK);
    expect(skipped.out).toContain("recorded skipped for the manager of feat (source action skipped_healthy)");
    const sent = await cli(home, "app-wakeup-record-delivery", "feat", "--role", "manager", "--dispatch-receipt", receipt, "--delivery-status", "sent", "--thread-id", "thr_m1");
    expect(sent.code).toBe(EXIT_FAILED);
    expect(sent.err).toContain("error: CONFLICT: cannot record sent for the manager");
    const audit = await cli(home, "audit", "feat");
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
      const res = await cli(home, ...argv);
      expect(res.code, argv.join(" ")).toBe(EXIT_USAGE);
    }
  });
});

describe("reconcile", () => {
  it("reports no drift, then applies nothing, in text and JSON", async () => {
    await appLoop();
    const report = await cli(home, "reconcile");
    expect(report.code).toBe(EXIT_OK);
    expect(report.out).toBe("before: 0 dead-pid session(s), 0 dangling binding(s), 0 stuck task(s), 0 unchecked\nno drift");
    const applied = JSON.parse((await cli(home, "reconcile", "--apply", "--stale-cycles-seconds", "600", "--json")).out);
    expect(applied).toMatchObject({ applied: true, stale_cycles_seconds: 600, actions: [], after: { ok: true } });
  });
});
