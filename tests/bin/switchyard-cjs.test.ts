import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../local-runner/cli/main.ts";
import { resolveHome } from "../../local-runner/home.ts";
import { openLocalServices, type LocalServices } from "../../local-runner/services.ts";
import { startUp, type Running } from "../../local-runner/up.ts";

// bin/switchyard.cjs is the installed command: it tries the fast path for reads, then hands over
// to bin/switchyard.mjs. Whichever path a command takes (the fast one needs a fresh dist/), the
// process must print and exit exactly as the full CLI does.

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "bin", "switchyard.cjs");
let dir = "";
let services: LocalServices;
let running: Running;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "switchyard-bin-cjs-"));
  services = await openLocalServices({ home: resolveHome({}, { home: join(dir, "home") }) });
  running = await startUp(services, { port: 0, hostname: "127.0.0.1", schedules: [] });
});
afterAll(async () => {
  await running?.stop();
  services?.database.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs the installed command in a process of its own (asynchronously: this process is the server). */
async function bin(...args: string[]) {
  const env = { PATH: process.env.PATH ?? "", HOME: dir };
  try {
    const r = await promisify(execFile)(process.execPath, [BIN, ...args], { cwd: dir, env, encoding: "utf8" });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

async function inProcess(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (t) => out.push(`${t}\n`), err: (t) => err.push(`${t}\n`) }, { cwd: dir });
  return { code, out: out.join(""), err: err.join("") };
}

describe("bin/switchyard.cjs", () => {
  it("prints and exits as the full CLI does, for reads, errors, the top-level help and usage mistakes", async () => {
    const at = ["--url", running.url, "--token", services.ownerToken];
    for (const args of [["sessions", "--json", ...at], ["session", "show", "nobody", ...at], ["sessions", "--bogus", ...at], ["bogus"], ["--help"], ["-h"]]) {
      expect(await bin(...args)).toEqual(await inProcess(...args));
    }
    const version = await bin("--version");
    expect(version.code).toBe(0);
    expect(version.out.trim()).toBe(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version);
  }, 60_000);
});
