import { existsSync, readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { EXIT_OK } from "../../../local-runner/cli/main.ts";
import { startDispatcher } from "../../../local-runner/cli/pair-dispatch.ts";
import { waitFor } from "../../helpers/agents.ts";
import { cliSandbox } from "../../helpers/cli.ts";

const sb = cliSandbox("pair-dispatch");
let started: number | null = null;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

afterEach(async () => {
  // Only the dispatcher this test started, by its pid.
  if (started !== null && alive(started)) {
    process.kill(started, "SIGTERM");
    await waitFor(() => !alive(started!) || undefined, 15_000, "dispatcher exit").catch(() => process.kill(started!, "SIGKILL"));
  }
  started = null;
});

describe("the dispatcher pair starts", () => {
  it("runs detached, beats under its id, and a later pair sees it live and would reuse it", async () => {
    // Create the home (and its database) first, as pair's API call does.
    expect((await sb.cli("tasks", "--create", "t1")).code).toBe(EXIT_OK);
    const d = startDispatcher("qa-pair-dispatch", sb.home);
    started = d.pid;
    expect(alive(d.pid)).toBe(true);
    const plan = await waitFor(
      async () => {
        const r = await sb.cli(
          "pair",
          "--task",
          "t1",
          "--worker-name",
          "w",
          "--manager-name",
          "m",
          "--dispatcher-id",
          "qa-pair-dispatch",
          "--dry-run",
          "--json",
        );
        const body = JSON.parse(r.out);
        return body.dispatcher.live ? body : undefined;
      },
      60_000,
      "the dispatcher's first heartbeat",
    );
    expect(plan.dispatcher).toMatchObject({ id: "qa-pair-dispatch", live: true, pid: d.pid });
    expect(existsSync(d.log)).toBe(true);
    await waitFor(() => readFileSync(d.log, "utf8").includes("pass ") || undefined, 30_000, "a pass line in the dispatcher log");
  }, 90_000);
});
