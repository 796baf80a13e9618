import { once } from "node:events";
import { mkdirSync, utimesSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { NodeHost } from "../../../local-runner/host.ts";
import { parseLsofFields, transcriptKind } from "../../../local-runner/host/discovery.ts";
import { procTableLinux, procTablePs, withDescendants } from "../../../local-runner/host/procs.ts";
import { HOLDER, Resources } from "./helpers.ts";

const host = new NodeHost();
const res = new Resources();
afterEach(() => res.cleanup());

/** A fresh path for a Codex rollout under `<tmp>/codex/sessions/2026/11/21/`. */
function rolloutPath(name = "rollout-2026-11-21T05-00-00-x.jsonl"): string {
  const p = join(res.tmpDir(), "codex", "sessions", "2026", "11", "21", name);
  mkdirSync(dirname(p), { recursive: true });
  return p;
}

describe("NodeHost.discoverTranscript", () => {
  it("finds a rollout the pid itself holds open", async () => {
    const path = rolloutPath();
    const root = await res.spawnHolder("open", path);
    await res.holderPid(path);
    expect(await host.discoverTranscript(root.pid!)).toEqual({ path, kind: "codex", holderPid: root.pid });
  });

  it("finds a rollout held by a descendant", async () => {
    const path = rolloutPath();
    const root = await res.spawnHolder("child", path);
    const holder = await res.holderPid(path);
    expect(holder).not.toBe(root.pid);
    expect(await host.discoverTranscript(root.pid!)).toEqual({ path, kind: "codex", holderPid: holder });
  });

  it("finds a re-parented daemon that stayed in the session, even after the pid has exited", async () => {
    const path = rolloutPath();
    const root = await res.spawnHolder("orphan", path);
    const holder = await res.holderPid(path);
    if (root.exitCode === null) await once(root, "exit");
    expect(await host.pidAlive(root.pid!)).toBe(false);
    // Linux keeps the dead leader's pid reserved as the session id while the daemon lives.
    expect(await host.discoverTranscript(root.pid!)).toEqual({ path, kind: "codex", holderPid: holder });
  });

  it("finds a setsid'd daemon whose launcher exited when the pid runs in a tmux pane", async () => {
    const path = rolloutPath();
    const name = res.session("disc");
    await host.tmuxNewSession({ name, cwd: dirname(path), command: [process.execPath, HOLDER, "launcher", path] });
    const pane = (await host.tmuxPanePid(name))!;
    await res.trackPid(pane);
    const holder = await res.holderPid(path);
    // No tree, session or group link is left: only the inherited TMUX_PANE ties them.
    const table = await procTableLinux();
    expect(withDescendants(table, [pane])).not.toContain(holder);
    expect(table.find((p) => p.pid === holder)!.session).not.toBe(table.find((p) => p.pid === pane)!.session);
    expect(await host.discoverTranscript(pane)).toEqual({ path, kind: "codex", holderPid: holder });
  });

  it("cannot find a setsid'd daemon whose launcher exited outside tmux", async () => {
    const path = rolloutPath();
    const root = await res.spawnHolder("launcher", path);
    await res.holderPid(path);
    expect(await host.discoverTranscript(root.pid!)).toBeNull();
  });

  it("finds a Claude Code transcript under ~/.claude/projects/<slug>/ or CLAUDE_CONFIG_DIR", async () => {
    const home = res.tmpDir();
    const path = join(home, ".claude", "projects", "-work-repo", "0b1c.jsonl");
    mkdirSync(dirname(path), { recursive: true });
    const root = await res.spawnHolder("open", path);
    await res.holderPid(path);
    expect(await host.discoverTranscript(root.pid!)).toEqual({ path, kind: "claude", holderPid: root.pid });

    const cfg = res.tmpDir();
    const custom = join(cfg, "projects", "-work-repo", "9f9f.jsonl");
    mkdirSync(dirname(custom), { recursive: true });
    const other = await res.spawnHolder("open", custom);
    await res.holderPid(custom);
    expect(await new NodeHost({ claudeConfigDir: join(cfg, "x", "..") }).discoverTranscript(other.pid!)).toEqual({ path: custom, kind: "claude", holderPid: other.pid });
    expect(await new NodeHost({ claudeConfigDir: "/elsewhere" }).discoverTranscript(other.pid!)).toBeNull();
  });

  it("prefers the most recently modified transcript", async () => {
    const a = rolloutPath("rollout-a.jsonl");
    const b = join(dirname(a), "rollout-b.jsonl");
    const root = await res.spawnHolder("pair", a, b);
    await res.holderPid(a);
    await res.holderPid(b);
    const age = (path: string, seconds: number) => utimesSync(path, new Date(Date.now() - seconds * 1000), new Date(Date.now() - seconds * 1000));
    age(a, 60);
    expect((await host.discoverTranscript(root.pid!))?.path).toBe(b);
    age(b, 120);
    expect((await host.discoverTranscript(root.pid!))?.path).toBe(a);
  });

  it("ignores files that are not transcripts and pids that do not exist", async () => {
    const path = join(res.tmpDir(), "notes", "rollout-x.jsonl");
    mkdirSync(dirname(path), { recursive: true });
    const root = await res.spawnHolder("open", path);
    await res.holderPid(path);
    expect(await host.discoverTranscript(root.pid!)).toBeNull();
    expect(await host.discoverTranscript(2 ** 22 + 1)).toBeNull();
    expect(await host.discoverTranscript(-1)).toBeNull();
  });
});

describe("discovery parsing", () => {
  it("classifies transcript paths", () => {
    expect(transcriptKind("/h/.codex/sessions/2026/11/21/rollout-1.jsonl")).toBe("codex");
    expect(transcriptKind("/h/.codex/archived/rollout-1.jsonl")).toBeNull();
    expect(transcriptKind("/h/.codex/sessions/2026/11/21/other.jsonl")).toBeNull();
    expect(transcriptKind("/h/.claude/projects/-w/abc.jsonl")).toBe("claude");
    // Subagent transcripts sit one level deeper and are not the session's own.
    expect(transcriptKind("/h/.claude/projects/-w/abc/subagents/agent-1.jsonl")).toBeNull();
    expect(transcriptKind("/cfg/projects/-w/abc.jsonl", "/cfg")).toBe("claude");
    expect(transcriptKind("/cfg/projects/-w/abc.jsonl")).toBeNull();
    expect(transcriptKind("relative/sessions/rollout-1.jsonl")).toBeNull();
  });

  it("parses lsof field output per process", () => {
    const out = "p10\nfcwd\nn/home\nf3\nn/a/rollout-1.jsonl\np11\nf4\nn/b c.jsonl\n";
    expect(parseLsofFields(out)).toEqual([
      { pid: 10, path: "/home" },
      { pid: 10, path: "/a/rollout-1.jsonl" },
      { pid: 11, path: "/b c.jsonl" },
    ]);
  });

  it("reads the same process tree from /proc and from ps", async () => {
    const child = await res.spawnHolder("child", rolloutPath());
    const [proc, ps] = await Promise.all([procTableLinux(), procTablePs()]);
    for (const table of [proc, ps]) {
      expect(table.find((p) => p.pid === process.pid)?.ppid).toBe(process.ppid);
      expect(table.find((p) => p.pid === child.pid)?.ppid).toBe(process.pid);
    }
    expect(proc.find((p) => p.pid === child.pid)?.session).toBe(child.pid);
  });
});
