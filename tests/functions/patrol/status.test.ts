import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { healthStates } from "../../../schema/patrol.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

/* The patrol status lists the worst unhealthy components and counts them all; so does the dashboard. */
let env: TestEnv;
const UNHEALTHY = 130;

beforeAll(async () => {
  env = await makeTestEnv();
  const now = env.clock.ms;
  const row = (i: number, cycles: number) => ({
    component: `runner:box-${i}`,
    kind: "runner" as const,
    label: `box-${i}`,
    unresponsiveCycles: cycles,
    lastCheckedAt: now,
  });
  await env.services.database.db
    .insert(healthStates)
    .values([...Array.from({ length: UNHEALTHY }, (_, i) => row(i, 1 + (i % 5))), ...Array.from({ length: 20 }, (_, i) => row(1000 + i, 0))]);
});
afterAll(() => env.close());

describe("unhealthy components beyond the listed ones", () => {
  it("patrol status lists the worst 100 and counts all of them", async () => {
    const r = await env.call("GET", "/v1/patrol/status");
    expect(r.status).toBe(200);
    expect(r.body.unhealthy).toHaveLength(100);
    expect(r.body.unhealthy_total).toBe(UNHEALTHY);
    expect(r.body.unhealthy[0].unresponsive_cycles).toBe(5);
  });

  it("the dashboard counts every unhealthy component, not the listed ones", async () => {
    const r = await env.call("GET", "/v1/dashboard/overview");
    expect(r.status).toBe(200);
    expect(r.body.patrol.unhealthy).toBe(UNHEALTHY);
  });

  it("is for the owner and daemons: a session token is refused", async () => {
    const s = await env.call("POST", "/v1/sessions", { body: { name: "status-peek", role: "worker" } });
    const r = await env.call("GET", "/v1/patrol/status", { token: s.body.token });
    expect(r.status).toBe(403);
  });
});
