import { afterEach, describe, expect, it } from "vitest";
import { startUp, type Running } from "../../local-runner/up.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";

let env: TestEnv | null = null;
let running: Running | null = null;
afterEach(async () => {
  await running?.stop();
  env?.close();
  env = running = null;
});

describe("startUp", () => {
  it("gives the agents it spawns its own URL, unless one was configured", async () => {
    env = await makeTestEnv();
    env.services.agents = { codex: { command: ["codex"], env: {} }, claude: { command: ["claude"], env: { SWITCHYARD_URL: "http://elsewhere:1" } } };
    running = await startUp(env.services, { port: 0, hostname: "127.0.0.1", schedules: [] });
    expect(env.services.agents.codex!.env!.SWITCHYARD_URL).toBe(running.url);
    expect(env.services.agents.claude!.env!.SWITCHYARD_URL).toBe("http://elsewhere:1");
  });
});
