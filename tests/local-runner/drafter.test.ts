import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { drafterFromEnv, ExternalDrafter } from "../../local-runner/drafter.ts";

let dir: string;
const script = (name: string, code: string) => {
  const path = join(dir, name);
  writeFileSync(path, code);
  return [process.execPath, path];
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "drafter-test-"));
  process.env.SWITCHYARD_TEST_SECRET = "must-not-leak";
});
afterAll(() => {
  delete process.env.SWITCHYARD_TEST_SECRET;
  rmSync(dir, { recursive: true, force: true });
});

describe("ExternalDrafter", () => {
  it("passes the packet on stdin and returns stdout, in a temp cwd with a stripped environment", async () => {
    const argv = script(
      "echo.mjs",
      `let input = ""; process.stdin.on("data", (d) => (input += d)); process.stdin.on("end", () => {
        process.stdout.write(JSON.stringify({ draft: "got " + JSON.parse(input).advice_id, cwd: process.cwd(), env: Object.keys(process.env).sort() }));
      });`,
    );
    const out = JSON.parse(await new ExternalDrafter(argv).run(JSON.stringify({ advice_id: "adv_1" })));
    expect(out.draft).toBe("got adv_1");
    // Node may add nothing of its own here; anything beyond these four would be a leak.
    expect(out.env).toEqual(["HOME", "LANG", "PATH", "TMPDIR"]);
    expect(out.cwd).toContain("switchyard-drafter-");
    // The temp directory is removed once the command is done.
    expect(existsSync(out.cwd)).toBe(false);
  });

  it("rejects with the exit status and the end of stderr when the command fails", async () => {
    const argv = script("fail.mjs", `process.stderr.write("line1\\nboom\\n"); process.exit(3);`);
    await expect(new ExternalDrafter(argv).run("{}")).rejects.toThrow("exited with status 3: line1 | boom");
  });

  it("kills a command that outlives its timeout", async () => {
    const argv = script("slow.mjs", `setTimeout(() => {}, 30000);`);
    await expect(new ExternalDrafter(argv, 300).run("{}")).rejects.toThrow("timed out after 300 ms");
  });

  it("rejects when the command cannot be started", async () => {
    await expect(new ExternalDrafter([join(dir, "no-such-binary")]).run("{}")).rejects.toThrow(/could not run/);
  });
});

describe("drafterFromEnv", () => {
  it("reads a JSON argv or a single path, with an optional timeout", () => {
    expect(drafterFromEnv({})).toBeUndefined();
    expect(drafterFromEnv({ SWITCHYARD_BROKER_DRAFTER: '["python3", "/opt/draft.py"]' })!.label).toBe("python3 /opt/draft.py");
    expect(drafterFromEnv({ SWITCHYARD_BROKER_DRAFTER: "/opt/draft" })!.label).toBe("/opt/draft");
    expect(() => drafterFromEnv({ SWITCHYARD_BROKER_DRAFTER: "[1, 2]" })).toThrow(/JSON array of strings/);
    expect(() => drafterFromEnv({ SWITCHYARD_BROKER_DRAFTER: "[oops" })).toThrow(/not a valid JSON array/);
  });
});
