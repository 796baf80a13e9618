import { mkdirSync, readdirSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { createTask } from "../../helpers/factories.ts";

// Hostile review of export-task's same-second suffix (functions/exports/export-task.ts). The
// retry assumes "a taken name fails at its first file before anything is written"; that holds
// only when the taken folder already has the bundle's *first* file.

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("export-task into a folder name that is partly taken", () => {
  // FINDING (low, fixed): when <task>-<stamp>/ exists holding a later file of the bundle (here
  // manifest.json, e.g. a leftover of an interrupted export or a user's file), the host wrote
  // status.json … report.md into that folder, failed on manifest.json with CONFLICT, and the
  // retry wrote the real bundle to <task>-<stamp>-2, leaving a half bundle mixed with the
  // foreign file. writeFilesUnder (local-runner/host/exports.ts) now removes the files it created
  // when a later one fails.
  it("leaves a taken folder as it found it", async () => {
    const task = (await createTask(env, { name: "exp-hostile", goal: "export twice" })).task;
    const out = join(env.dir, "exports");
    mkdirSync(out);
    const stamp = new Date(env.clock.ms)
      .toISOString()
      .replace(/[-:]/g, "")
      .replace(/\.\d+Z$/, "Z");
    const taken = join(out, `${task.name}-${stamp}`);
    mkdirSync(taken);
    writeFileSync(join(taken, "manifest.json"), "{}");
    const r = await env.call("POST", `/v1/tasks/${task.name}/export`, { body: { dir: out } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.path).toBe(join(realpathSync(out), `${task.name}-${stamp}-2`));
    expect(readdirSync(taken)).toEqual(["manifest.json"]);
  });
});

describe("export-task into a directory the filesystem will not take", () => {
  // From a hostile probe: under /proc a recursive mkdir never settled (Node 20) and spun a core
  // past the request's deadline, and /sys's EPERM was a 500. Both are now a prompt 422.
  it("answers PATH_NOT_ALLOWED for /proc/self, /proc and /sys (a hang fails by the test's timeout)", async () => {
    const task = (await createTask(env, { name: "exp-proc", goal: "export nowhere" })).task;
    for (const dir of ["/proc/self", "/proc", "/sys"]) {
      const r = await env.call("POST", `/v1/tasks/${task.name}/export`, { body: { dir } });
      expect(r.status, `${dir}: ${JSON.stringify(r.body)}`).toBe(422);
      expect(r.body.error.code).toBe("PATH_NOT_ALLOWED");
      expect(r.body.error.message).toContain(`cannot create export file`);
    }
  }, 20_000);
});
