import { describe, expect, it } from "vitest";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "../../../local-runner/cli/main.ts";
import { cliSandbox } from "../../helpers/cli.ts";

const sb = cliSandbox("cli-dispatch");
const cli = sb.cli;

describe("enqueue-notify-manager → dispatch → commands", () => {
  it("queues a notification, dispatches it once into the manager's inbox, and lists it with its attempt", async () => {
    expect((await cli("register-worker", "--name", "w1")).code).toBe(EXIT_OK);
    expect((await cli("register-manager", "--name", "m1")).code).toBe(EXIT_OK);
    expect((await cli("tasks", "--create", "t1", "--goal", "g")).code).toBe(EXIT_OK);
    expect((await cli("bind", "--task", "t1", "--worker", "w1", "--manager", "m1")).code).toBe(EXIT_OK);
    const queued = await cli("enqueue-notify-manager", "t1", "--message", "tests green", "--idempotency-key", "k1", "--json");
    expect(queued.code).toBe(EXIT_OK);
    const id = JSON.parse(queued.out).command_id;
    const again = await cli("enqueue-notify-manager", "t1", "--message", "tests green", "--idempotency-key", "k1");
    expect(again.out).toContain(`already queued notify_manager ${id}`);

    const dry = await cli("dispatch", "--once", "--dry-run", "--json", "--dispatcher-id", "cli-d");
    expect(dry.code).toBe(EXIT_OK);
    expect(JSON.parse(dry.out.split("\n")[0]!).would_run).toEqual([expect.objectContaining({ command_id: id, valid_payload: true })]);

    const pass = await cli("dispatch", "--once", "--json", "--dispatcher-id", "cli-d");
    expect(pass.code).toBe(EXIT_OK);
    expect(JSON.parse(pass.out.split("\n")[0]!)).toMatchObject({ dispatcher_id: "cli-d", claimed: 1, succeeded: 1 });

    const listed = await cli("commands", "--task", "t1", "--attempts", "--json");
    const [cmd] = JSON.parse(listed.out).commands;
    expect(cmd).toMatchObject({ id, state: "succeeded", result: { target_session: "m1", delivery_mode: "pull_required" } });
    expect(cmd.attempt_history).toEqual([expect.objectContaining({ dispatcher_id: "cli-d", side_effect_started: true, side_effect_completed: true })]);
    expect((await cli("commands", "--state", "dead")).out).toContain("no commands");
  });

  it("refuses conflicting or malformed dispatch options with exit 2", async () => {
    expect((await cli("dispatch", "--once", "--watch")).code).toBe(EXIT_USAGE);
    expect((await cli("dispatch", "--type", "teleport")).code).toBe(EXIT_USAGE);
    expect((await cli("dispatch", "--url", "http://127.0.0.1:1")).code).toBe(EXIT_USAGE);
    // A bad HTTP timeout stops the runner at once instead of failing every claim round.
    process.env.SWITCHYARD_HTTP_TIMEOUT = "abc";
    try {
      const r = await cli("runner", "--url", "http://127.0.0.1:1", "--token", "sy_runner_x", "--host", "h", "--iterations", "1");
      expect(r.code).toBe(EXIT_FAILED);
      expect(r.err).toContain("SWITCHYARD_HTTP_TIMEOUT must be a positive number of seconds");
    } finally {
      delete process.env.SWITCHYARD_HTTP_TIMEOUT;
    }
    expect((await cli("patrol", "run", "--interval", "3000000", "--iterations", "2")).code).toBe(EXIT_USAGE);
    // An interval a loop cannot sleep (a timer past 2^31 ms fires at once; 0 spins) is refused.
    for (const bad of ["", "0", "3000000", "0x10", "1e2", "-1", "soon"]) {
      for (const argv of [
        ["dispatch", "--watch"],
        ["runner", "--url", "http://127.0.0.1:1", "--token", "sy_runner_x", "--host", "h"],
      ]) {
        const command = argv[0];
        const r = await cli(...argv, "--interval", bad);
        expect(r.code, `${command} --interval '${bad}'`).toBe(EXIT_USAGE);
        expect(r.err).toContain(`--interval must be a number of seconds from 0.05 to 3600, got '${bad}'`);
      }
    }
  });
});
