import { rmSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { startUp } from "../../local-runner/up.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";

let env: TestEnv;
/** Stops an `up` (which closes the database) and removes the env's directory. */
async function done(r: { stop(): Promise<void> }) {
  await r.stop();
  rmSync(env.dir, { recursive: true, force: true });
}

describe("switchyard up and the patrol", () => {
  it("warns at start-up when the patrol is not running, and says whether this process will run it", async () => {
    env = await makeTestEnv();
    const withoutCron = await startUp(env.services, { port: 0, hostname: "127.0.0.1", schedules: [] });
    expect(withoutCron.patrolWarning).toMatch(/never run on this database, and this process does not schedule the patrol cron/);
    await done(withoutCron);

    env = await makeTestEnv();
    const withCron = await startUp(env.services, { port: 0, hostname: "127.0.0.1", schedules: [{ name: "patrol", expression: "0 0 1 1 *" }] });
    expect(withCron.patrolWarning).toMatch(/this process schedules the patrol cron/);
    await done(withCron);

    env = await makeTestEnv();
    await env.call("POST", "/v1/patrol/runs", { body: { step: "inbox-check" } });
    const healthy = await startUp(env.services, { port: 0, hostname: "127.0.0.1", schedules: [] });
    expect(healthy.patrolWarning).toBeNull();
    await done(healthy);
  });
});
