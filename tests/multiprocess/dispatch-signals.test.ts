import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";

/** `switchyard dispatch --watch` as an OS process: a signal stops it between passes, cleanly. */

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "bin", "switchyard.mjs");

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("dispatch --watch", () => {
  it.for(["SIGTERM", "SIGINT"] as const)("stops on %s after the pass in flight, exits 0 and marks the dispatcher stopped", async (signal) => {
    const child = spawn(process.execPath, [BIN, "dispatch", "--watch", "--interval", "0.2", "--dispatcher-id", `sig-${signal}`, "--json"], {
      cwd: ROOT,
      env: { ...process.env, SWITCHYARD_HOME: env.dir },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const passes: Array<Record<string, unknown>> = [];
    const firstPass = new Promise<void>((resolve) =>
      createInterface({ input: child.stdout! }).on("line", (l) => {
        passes.push(JSON.parse(l));
        resolve();
      }),
    );
    const exit = new Promise<number | null>((r) => child.once("exit", r));
    await firstPass;
    child.kill(signal);
    expect(await exit).toBe(0);
    expect(passes[0]).toMatchObject({ dispatcher_id: `sig-${signal}`, dry_run: false });
    const rs = await env.services.database.client.execute({
      sql: "SELECT state, iteration, pid, stopped_at FROM dispatchers WHERE id = ?",
      args: [`sig-${signal}`],
    });
    expect(rs.rows[0]).toMatchObject({ state: "stopped", iteration: passes.length, pid: child.pid });
    expect(rs.rows[0]!.stopped_at).not.toBeNull();
  });
});
