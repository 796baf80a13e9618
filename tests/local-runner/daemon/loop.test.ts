import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createApp } from "../../../functions/app.ts";
import { runDaemonLoop, type DaemonLoopOptions } from "../../../local-runner/daemon/loop.ts";
import type { ApiRequest } from "../../../local-runner/cli/transport.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { runRow, startedRun } from "../../functions/broker/runs/fixtures.ts";

/** The `broker daemon` loop against the real app over a test database, as a given token. */

let env: TestEnv;
let daemon: string;
let lines: Record<string, unknown>[];
beforeEach(async () => {
  env = await makeTestEnv();
  daemon = await env.mint("daemon");
  lines = [];
});
afterEach(() => env.close());

/** The loop's transport: in-process requests carrying `token`. */
function sendAs(token: string) {
  const app = createApp(env.services);
  return async (r: ApiRequest) => {
    const q = new URLSearchParams(Object.entries(r.query ?? {}).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)]]))).toString();
    const res = await app.request(`/v1${r.path}${q ? `?${q}` : ""}`, {
      method: r.method,
      headers: { Authorization: `Bearer ${token}`, ...(r.body === undefined ? {} : { "Content-Type": "application/json" }) },
      body: r.body === undefined ? undefined : JSON.stringify(r.body),
    });
    return { status: res.status, body: await res.json() };
  };
}

function loop(runId: string, over: Partial<DaemonLoopOptions> = {}) {
  return runDaemonLoop({
    runId,
    daemonId: "daemon-a",
    intervalMs: 0,
    leaseSeconds: 60,
    send: sendAs(daemon),
    emit: (l) => lines.push(l),
    signal: new AbortController().signal,
    ...over,
  });
}

describe("broker daemon loop", () => {
  it("refuses to run with an owner token", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run" });
    const exit = await loop(id, { send: sendAs(env.owner), maxTicks: 1 });
    expect(exit).toMatchObject({ code: 1, reason: "refused" });
    expect((await runRow(env, id)).leaseOwner).toBeNull();
  });

  it("refuses a run that does not exist", async () => {
    expect(await loop("run_missing", { maxTicks: 1 })).toMatchObject({ code: 1, reason: "refused", detail: expect.stringContaining("NOT_FOUND") });
  });

  it("ticks until the run stops, then exits 0", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run", limits: { max_runtime_minutes: 1 } });
    let ticks = 0;
    const send = sendAs(daemon);
    const exit = await loop(id, {
      send: async (r) => {
        // Each tick moves the fake clock on 30 s, so the one-minute run stops on its third tick.
        if (r.path === "/broker/tick" && ticks++ > 0) env.clock.advance(30);
        return send(r);
      },
    });
    expect(exit).toEqual({ code: 0, reason: "run_stopped", detail: `run ${id} stopped: max_runtime_minutes` });
    expect(lines.filter((l) => l.event === "tick").length).toBe(3);
    expect((await runRow(env, id)).state).toBe("stopped");
  });

  it("waits while another daemon holds the lease, and gives its own lease back on a signal", async () => {
    const id = await startedRun(env, { mode: "overnight_dry_run" });
    const other = await loop(id, { daemonId: "daemon-other", maxTicks: 1 });
    expect(other.reason).toBe("max_ticks");
    // max_ticks ends the loop like a signal would: the lease is given back.
    expect((await runRow(env, id)).leaseOwner).toBeNull();

    await env.call("POST", "/v1/broker/tick", { body: { run_id: id, holder: "daemon-other", lease_seconds: 60 }, token: daemon });
    const refused = await loop(id, { maxTicks: 3 });
    expect(refused.reason).toBe("max_ticks");
    expect(lines.filter((l) => l.event === "tick_refused").map((l) => l.code)).toEqual(["CONFLICT", "CONFLICT", "CONFLICT"]);
    expect((await runRow(env, id)).leaseOwner).toBe("daemon-other");

    env.clock.advance(61);
    const abort = new AbortController();
    const send = sendAs(daemon);
    const exit = await loop(id, {
      signal: abort.signal,
      send: async (r) => {
        const res = await send(r);
        if (r.path === "/broker/tick") abort.abort();
        return res;
      },
    });
    expect(exit.reason).toBe("signal");
    expect(lines.find((l) => l.event === "tick" && l.taken_over_from === "daemon-other")).toBeDefined();
    expect((await runRow(env, id)).leaseOwner).toBeNull();
  });
});
