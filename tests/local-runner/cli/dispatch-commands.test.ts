import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { EXIT_OK, EXIT_USAGE, runCli } from "../../../local-runner/cli/main.ts";

/** Runs the CLI in-process against a temp home; local commands (dispatch) print to process.stdout. */
async function cli(home: string, ...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const write = vi.spyOn(process.stdout, "write").mockImplementation((t) => (out.push(String(t)), true));
  try {
    const code = await runCli([...argv, "--home", home], { out: (t) => out.push(t), err: (t) => err.push(t) });
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    write.mockRestore();
  }
}

let saved: string | undefined;
beforeAll(() => {
  saved = process.env.SWITCHYARD_URL;
  delete process.env.SWITCHYARD_URL;
});
afterAll(() => {
  if (saved !== undefined) process.env.SWITCHYARD_URL = saved;
});

let home: string;
beforeEach(() => {
  home = join(mkdtempSync(join(tmpdir(), "switchyard-cli-dispatch-")), "home");
});
afterEach(() => rmSync(join(home, ".."), { recursive: true, force: true }));

describe("enqueue-notify-manager → dispatch → commands", () => {
  it("queues a notification, dispatches it once into the manager's inbox, and lists it with its attempt", async () => {
    expect((await cli(home, "register-worker", "--name", "w1")).code).toBe(EXIT_OK);
    expect((await cli(home, "register-manager", "--name", "m1")).code).toBe(EXIT_OK);
    expect((await cli(home, "tasks", "--create", "t1", "--goal", "g")).code).toBe(EXIT_OK);
    expect((await cli(home, "bind", "--task", "t1", "--worker", "w1", "--manager", "m1")).code).toBe(EXIT_OK);
    const queued = await cli(home, "enqueue-notify-manager", "t1", "--message", "tests green", "--idempotency-key", "k1", "--json");
    expect(queued.code).toBe(EXIT_OK);
    const id = JSON.parse(queued.out).command_id;
    const again = await cli(home, "enqueue-notify-manager", "t1", "--message", "tests green", "--idempotency-key", "k1");
    expect(again.out).toContain(`already queued notify_manager ${id}`);

    const dry = await cli(home, "dispatch", "--once", "--dry-run", "--json", "--dispatcher-id", "cli-d");
    expect(dry.code).toBe(EXIT_OK);
    expect(JSON.parse(dry.out.split("\n")[0]!).would_run).toEqual([expect.objectContaining({ command_id: id, valid_payload: true })]);

    const pass = await cli(home, "dispatch", "--once", "--json", "--dispatcher-id", "cli-d");
    expect(pass.code).toBe(EXIT_OK);
    expect(JSON.parse(pass.out.split("\n")[0]!)).toMatchObject({ dispatcher_id: "cli-d", claimed: 1, succeeded: 1 });

    const listed = await cli(home, "commands", "--task", "t1", "--attempts", "--json");
    const [cmd] = JSON.parse(listed.out).commands;
    expect(cmd).toMatchObject({ id, state: "succeeded", result: { target_session: "m1", delivery_mode: "pull_required" } });
    expect(cmd.attempt_history).toEqual([expect.objectContaining({ dispatcher_id: "cli-d", side_effect_started: true, side_effect_completed: true })]);
    expect((await cli(home, "commands", "--state", "dead")).out).toContain("no commands");
  });

  it("refuses conflicting or malformed dispatch options with exit 2", async () => {
    expect((await cli(home, "dispatch", "--once", "--watch")).code).toBe(EXIT_USAGE);
    expect((await cli(home, "dispatch", "--type", "teleport")).code).toBe(EXIT_USAGE);
    expect((await cli(home, "dispatch", "--url", "http://127.0.0.1:1")).code).toBe(EXIT_USAGE);
  });
});
