import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { EXIT_USAGE } from "../../../local-runner/cli/main.ts";
import { cliSandbox } from "../../helpers/cli.ts";
import { ageTree, git, workerRepo } from "../../helpers/git-repo.ts";
import { codexRollout, holdOpen } from "../../helpers/transcripts.ts";

// The workers' rollouts live in a directory the owner lists as a transcript root, as a machine
// whose agents keep them elsewhere would.
const roots = mkdtempSync(join(tmpdir(), "switchyard-verdict-roots-"));
afterAll(() => rmSync(roots, { recursive: true, force: true }));
const { cli } = cliSandbox("verdicts", { SWITCHYARD_TRANSCRIPT_ROOTS: roots });

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

let seq = 0;
/**
 * A real repo and a registered, bound worker in it. Its agent is a real process holding its
 * rollout (registration by pid requires that); `alive: false` kills it after registration, as a
 * worker that died.
 */
async function dispatched(alive: boolean, opts: { git?: boolean } = {}) {
  seq += 1;
  const root = mkdtempSync(join(tmpdir(), "switchyard-verdict-"));
  cleanup.push(() => rmSync(root, { recursive: true, force: true }));
  const repo = opts.git === false ? join(root, "plain") : workerRepo(join(root, "repo"));
  if (opts.git === false) mkdirSync(repo);
  // A rollout is named rollout-*.jsonl and lives under a `sessions` directory, as Codex writes it.
  const transcript = codexRollout({ codexSessions: join(roots, "sessions"), claudeProjects: join(roots, "projects") }, `verdict-${process.pid}-${seq}`, "");
  const agent = await holdOpen(transcript);
  cleanup.push(() => agent.stop());
  const task = `vt-${seq}`;
  const worker = `vw-${seq}`;
  expect((await cli("tasks", "--create", task, "--goal", "g")).code).toBe(0);
  const reg = await cli("register-worker", "--name", worker, "--pid", String(agent.pid), "--codex-session", transcript, "--cwd", repo);
  expect(reg.code, reg.err).toBe(0);
  expect((await cli("register-manager", "--name", `vm-${seq}`)).code).toBe(0);
  expect((await cli("bind", "--task", task, "--worker", worker, "--manager", `vm-${seq}`)).code).toBe(0);
  if (!alive) await agent.stop();
  return { repo, task, worker };
}

const watch = (target: string, ...extra: string[]) => cli("dispatch", "watch", target, "--interval", "1s", "--timeout", "2s", ...extra);

describe("dispatch watch exit codes (real git repositories, real processes)", () => {
  it("0 done: the worker wrote its result file", async () => {
    const d = await dispatched(true);
    writeFileSync(join(d.repo, ".switchyard-result.json"), JSON.stringify({ status: "done", summary: "split the module" }));
    const r = await watch(d.task);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/done .*decided by result_file/);
  });

  it("0 done: committed and clean, even though the process is gone (never kill a delivered worker)", async () => {
    const d = await dispatched(false);
    writeFileSync(join(d.repo, "app.ts"), "export const version = 2;\n");
    git(d.repo, "commit", "-q", "-am", "bump");
    ageTree(d.repo, 3600);
    const r = await watch(d.task, "--json");
    expect(r.code).toBe(0);
    const v = JSON.parse(r.out);
    expect(v).toMatchObject({ state: "done", decided_by: "git", evidence: { git: { commitsAhead: 1, dirtyTracked: [] } } });
  });

  it("2 timeout: a live worker with work in flight", async () => {
    const d = await dispatched(true);
    writeFileSync(join(d.repo, "app.ts"), "export const version = 3;\n");
    const r = await watch(d.task);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/timeout after 2s/);
  });

  it("3 failed: the result file reports failure", async () => {
    const d = await dispatched(true);
    writeFileSync(join(d.repo, ".switchyard-result.json"), JSON.stringify({ status: "failed", summary: "tests red" }));
    expect((await watch(d.worker)).code).toBe(3);
  });

  it("4 worker-process-gone: dead process, uncommitted work, idle worktree", async () => {
    const d = await dispatched(false);
    writeFileSync(join(d.repo, "app.ts"), "export const version = 4;\n");
    ageTree(d.repo, 3600);
    const r = await watch(d.task);
    expect(r.code).toBe(4);
    expect(r.out).toMatch(/harvest .* --orphaned/);
    expect((await cli("dispatch-status", d.task)).code).toBe(4);
  });

  it("fresh file activity vetoes 'process gone' (a stale pid after a respawn): it stays running, so 2", async () => {
    const d = await dispatched(false);
    writeFileSync(join(d.repo, "app.ts"), "export const version = 5;\n");
    const r = await watch(d.task, "--json");
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out)).toMatchObject({ state: "running", decided_by: "activity", timed_out: true });
  });

  it("a --timeout shorter than the default interval is not a usage error: the interval shrinks to it", async () => {
    const d = await dispatched(true);
    writeFileSync(join(d.repo, "app.ts"), "export const version = 8;\n");
    const r = await cli("dispatch", "watch", d.task, "--timeout", "1s");
    expect(r.code, r.err).toBe(2);
    expect(r.out).toMatch(/timeout after 1s/);
    expect((await cli("dispatch", "watch", d.task, "--timeout", "1s", "--interval", "5s")).code).toBe(EXIT_USAGE);
  });

  it("5 unresolved: the target names nothing", async () => {
    const r = await watch("no-such-target");
    expect(r.code).toBe(5);
    expect((await cli("dispatch-status", "no-such-target")).code).toBe(5);
  });

  it("ignores a result file left by an older spawn, and returns as soon as the real one appears", async () => {
    const d = await dispatched(true);
    writeFileSync(join(d.repo, ".switchyard-result.json"), JSON.stringify({ status: "done", session_id: "ses_older_spawn" }));
    const status = await cli("dispatch-status", d.task, "--json");
    expect(JSON.parse(status.out)).toMatchObject({ state: "running", evidence: { result_file: { stale: expect.stringMatching(/not the current worker/) } } });
    // A real process writes the real result while the watch waits.
    const writer = spawn(process.execPath, [
      "-e",
      `setTimeout(() => require("fs").writeFileSync(${JSON.stringify(join(d.repo, ".switchyard-result.json"))}, JSON.stringify({status:"done"})), 700)`,
    ]);
    cleanup.push(() => writer.kill("SIGKILL"));
    const r = await cli("dispatch", "watch", d.task, "--interval", "1s", "--timeout", "10s");
    expect(r.code).toBe(0);
  });

  it("harvest --orphaned commits the dead worker's work on its branch with a marker, releases its claims, deletes nothing", async () => {
    const d = await dispatched(false);
    writeFileSync(join(d.repo, "app.ts"), "export const version = 6;\n");
    writeFileSync(join(d.repo, "new-file.ts"), "export const added = true;\n");
    ageTree(d.repo, 3600);
    expect((await cli("claim", "add", "--path", "app.ts", "--session", d.worker, "--ttl", "1h", "--exclusive")).code).toBe(0);
    expect((await cli("harvest", d.task)).code).toBe(2);
    const h = await cli("harvest", d.task, "--orphaned", "--json");
    expect(h.code).toBe(0);
    const body = JSON.parse(h.out);
    expect(body).toMatchObject({ committed: true, branch: "work", claims_released: [expect.stringMatching(/^clm_/)] });
    expect(body.files.sort()).toEqual(["app.ts", "new-file.ts"]);
    expect(git(d.repo, "rev-parse", "--abbrev-ref", "HEAD").trim()).toBe("work");
    expect(git(d.repo, "log", "-1", "--format=%B")).toMatch(/switchyard harvest[\s\S]*Switchyard-Harvest: orphaned/);
    expect(git(d.repo, "rev-list", "--count", "main..work").trim()).toBe("1");
    expect(readFileSync(join(d.repo, "app.ts"), "utf8")).toBe("export const version = 6;\n");
    expect(git(d.repo, "status", "--porcelain")).toBe("");
    // Now committed and clean: the verdict is done, and a second harvest is refused.
    expect((await cli("dispatch-status", d.task)).code).toBe(0);
    expect((await cli("harvest", d.task, "--orphaned")).code).toBe(1);
  });

  // A dead worker whose directory git cannot read: left work is unknown, so nothing may say
  // "clean", harvest refuses, and the file it left is still there.
  for (const [what, setup] of [
    ["is not a git worktree", async () => dispatched(false, { git: false })],
    [
      "has an index git cannot read",
      async () => {
        const d = await dispatched(false);
        writeFileSync(join(d.repo, "app.ts"), "export const version = 9;\n");
        writeFileSync(join(d.repo, ".git", "index"), "not an index");
        return d;
      },
    ],
  ] as const) {
    it(`a dead worker's directory that ${what} is not called clean, and harvest refuses it`, async () => {
      const d = await setup();
      writeFileSync(join(d.repo, "left.md"), "half done\n");
      ageTree(d.repo, 3600);
      const r = await watch(d.task);
      expect(r.code).toBe(4);
      expect(r.out).toContain("(not a worktree, missing, or damaged), so whether the worker left work there is unknown");
      expect(r.out).not.toMatch(/Nothing to recover/);
      const h = await cli("harvest", d.task, "--orphaned");
      expect(h.code).toBe(1);
      expect(h.err).toMatch(/refusing to harvest .*: git cannot read .*\(not a worktree, missing, or damaged\)/);
      expect(readFileSync(join(d.repo, "left.md"), "utf8")).toBe("half done\n");
    });
  }

  it("harvest refuses a live worker", async () => {
    const d = await dispatched(true);
    writeFileSync(join(d.repo, "app.ts"), "export const version = 7;\n");
    const h = await cli("harvest", d.task, "--orphaned");
    expect(h.code).toBe(1);
    expect(h.err).toMatch(/verdict is running/);
    expect(git(d.repo, "status", "--porcelain")).toMatch(/app.ts/);
  });
});
