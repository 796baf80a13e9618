import { once } from "node:events";
import { mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { NodeHost } from "../../../local-runner/host.ts";
import { parseLsofFields, parseTranscriptHeader, transcriptKind } from "../../../local-runner/host/discovery.ts";
import { procTableLinux, procTablePs, withDescendants } from "../../../local-runner/host/procs.ts";
import { HOLDER, kernelNow, Resources, waitFor } from "./helpers.ts";

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
    // No tree, session or group link is left once the intermediate has exited (it may still be
    // on its way out when the holder opens the file): only the inherited TMUX_PANE ties them.
    const table = await waitFor(async () => {
      const t = await procTableLinux();
      return withDescendants(t, [pane]).includes(holder) ? null : t;
    }, "the intermediate launcher to exit");
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
    expect(await new NodeHost({ claudeConfigDir: join(cfg, "x", "..") }).discoverTranscript(other.pid!)).toEqual({
      path: custom,
      kind: "claude",
      holderPid: other.pid,
    });
    expect(await new NodeHost({ claudeConfigDir: "/elsewhere" }).discoverTranscript(other.pid!)).toBeNull();
  });

  it("prefers the most recently modified transcript", async () => {
    const a = rolloutPath("rollout-a.jsonl");
    const b = join(dirname(a), "rollout-b.jsonl");
    const root = await res.spawnHolder("pair", a, b);
    await res.holderPid(a);
    await res.holderPid(b);
    const age = (path: string, seconds: number) => utimesSync(path, new Date(kernelNow() - seconds * 1000), new Date(kernelNow() - seconds * 1000));
    age(a, 60);
    expect((await host.discoverTranscript(root.pid!))?.path).toBe(b);
    age(b, 120);
    expect((await host.discoverTranscript(root.pid!))?.path).toBe(a);
  });

  it("skips rollouts the pid holds only to read (a starting Codex reads its neighbours')", async () => {
    const own = rolloutPath("rollout-own.jsonl");
    const other = join(dirname(own), "rollout-other.jsonl");
    const root = await res.spawnHolder("reader", own, other);
    await res.holderPid(own);
    // The neighbour is newer, so only its read-only mode keeps it from winning.
    utimesSync(own, new Date(kernelNow() - 60_000), new Date(kernelNow() - 60_000));
    expect(await host.discoverTranscript(root.pid!, { strict: true })).toEqual({ path: own, kind: "codex", holderPid: root.pid });
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

describe("NodeHost.discoverTranscript with a shared agent daemon", () => {
  /** A rollout whose session_meta records `cwd` and a start of `at`. */
  function recordedRollout(name: string, cwd: string, at = new Date(kernelNow())): string {
    const p = rolloutPath(name);
    writeFileSync(p, `${JSON.stringify({ timestamp: at.toISOString(), type: "session_meta", payload: { id: name, cwd } })}\n`);
    return p;
  }

  /** A tmux pane (with a terminal, like an agent TUI) idling in `cwd`; returns its pid. */
  async function paneIn(label: string, cwd: string, command = ["cat"]): Promise<number> {
    const name = res.session(label);
    await host.tmuxNewSession({ name, cwd, command });
    return res.trackPid((await host.tmuxPanePid(name))!);
  }

  it("attributes each of a daemon's transcripts to the pane whose cwd it records", async () => {
    const [x, y, z] = [res.tmpDir(), res.tmpDir(), res.tmpDir()];
    const [paneX, paneY, paneZ] = [await paneIn("x", x), await paneIn("y", y), await paneIn("z", z)];
    const [rx, ry] = [recordedRollout("rollout-x.jsonl", x), recordedRollout("rollout-y.jsonl", y)];
    // The daemon was started elsewhere: no tree, session or pane link to either pane.
    await res.spawnHolder("pair", rx, ry);
    const [hx, hy] = [await res.holderPid(rx), await res.holderPid(ry)];
    expect(await host.discoverTranscript(paneX)).toEqual({ path: rx, kind: "codex", holderPid: hx });
    expect(await host.discoverTranscript(paneY)).toEqual({ path: ry, kind: "codex", holderPid: hy });
    expect(await host.discoverTranscript(paneZ)).toBeNull();
  });

  it("reports the others as alternatives when several daemon transcripts record the same cwd", async () => {
    const dir = res.tmpDir();
    const pane = await paneIn("same", dir);
    const [a, b] = [recordedRollout("rollout-a.jsonl", dir), recordedRollout("rollout-b.jsonl", dir)];
    await res.spawnHolder("pair", a, b);
    await res.holderPid(a);
    await res.holderPid(b);
    const past = new Date(kernelNow() - 60_000);
    utimesSync(a, past, past);
    expect(await host.discoverTranscript(pane)).toMatchObject({ path: b, alternatives: [a] });
  });

  it("narrows a daemon child of the pid to the transcript recording the pid's cwd", async () => {
    const [x, y] = [res.tmpDir(), res.tmpDir()];
    const [rx, ry] = [recordedRollout("rollout-x.jsonl", x), recordedRollout("rollout-y.jsonl", y)];
    // The pane itself started the daemon (as the first Codex TUI does), so it is a descendant.
    const pane = await paneIn("parent", x, [process.execPath, HOLDER, "pair", rx, ry]);
    await res.holderPid(rx);
    await res.holderPid(ry);
    utimesSync(rx, new Date(kernelNow() - 60_000), new Date(kernelNow() - 60_000));
    expect((await host.discoverTranscript(pane))?.path).toBe(rx);
  });

  it("takes a daemon child's transcript only when it records the pane's cwd", async () => {
    const [x, y] = [res.tmpDir(), res.tmpDir()];
    // The pane started the shared daemon, which so far serves only another pane (cwd y).
    const ry = recordedRollout("rollout-y.jsonl", y);
    const pane = await paneIn("first", x, [process.execPath, HOLDER, "daemon", ry]);
    await res.holderPid(ry);
    expect(await host.discoverTranscript(pane)).toBeNull();

    const rx = recordedRollout("rollout-x.jsonl", x);
    const other = await paneIn("second", x, [process.execPath, HOLDER, "daemon", rx]);
    const hx = await res.holderPid(rx);
    expect(await host.discoverTranscript(other)).toEqual({ path: rx, kind: "codex", holderPid: hx });
  });

  it("never takes another terminal's transcript or one begun before the pid started", async () => {
    const dir = res.tmpDir();
    const old = recordedRollout("rollout-old.jsonl", dir, new Date(kernelNow() - 3_600_000));
    await res.spawnHolder("open", old);
    await res.holderPid(old);
    // Another agent's TUI in the same cwd holds its own rollout: it has a terminal, so it is not a daemon.
    const theirs = recordedRollout("rollout-theirs.jsonl", dir);
    await paneIn("theirs", dir, [process.execPath, HOLDER, "open", theirs]);
    await res.holderPid(theirs);
    const mine = await paneIn("mine", dir);
    expect(await host.discoverTranscript(mine)).toBeNull();
  });
});

describe("NodeHost.discoverTranscript for Claude Code (session files, nothing held open)", () => {
  const SESSION_ID = "9e1c2f3a-0b4d-4e5f-8a6b-7c8d9e0f1a2b";

  function sessionFile(cfg: string, pid: number, cwd: string, sessionId = SESSION_ID, startedAt = kernelNow()): void {
    mkdirSync(join(cfg, "sessions"), { recursive: true });
    writeFileSync(join(cfg, "sessions", `${pid}.json`), JSON.stringify({ pid, sessionId, cwd, startedAt, kind: "interactive" }));
  }

  function transcript(cfg: string, sessionId = SESSION_ID): string {
    const p = join(cfg, "projects", "-tmp-work", `${sessionId}.jsonl`);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, `${JSON.stringify({ type: "mode", sessionId })}\n`);
    return p;
  }

  async function pane(label: string, cwd: string, env?: Record<string, string>): Promise<number> {
    const name = res.session(label);
    await host.tmuxNewSession({ name, cwd, command: ["cat"], env });
    return res.trackPid((await host.tmuxPanePid(name))!);
  }

  it("follows sessions/<pid>.json in the process's own CLAUDE_CONFIG_DIR to the transcript", async () => {
    const [cfg, work] = [res.tmpDir(), res.tmpDir()];
    const pid = await pane("claude-env", work, { CLAUDE_CONFIG_DIR: cfg });
    expect(await host.discoverTranscript(pid)).toBeNull();
    sessionFile(cfg, pid, work);
    // Claude writes the transcript on the first prompt.
    expect(await host.discoverTranscript(pid)).toBeNull();
    const path = transcript(cfg);
    expect(await host.discoverTranscript(pid)).toEqual({ path, kind: "claude", holderPid: pid });
  });

  it("falls back to the host's configured Claude dir", async () => {
    const [cfg, work] = [res.tmpDir(), res.tmpDir()];
    const pid = await pane("claude-cfg", work);
    sessionFile(cfg, pid, work);
    const path = transcript(cfg);
    expect(await new NodeHost({ claudeConfigDir: cfg }).discoverTranscript(pid)).toEqual({ path, kind: "claude", holderPid: pid });
  });

  it("ignores a stale session file from a recycled pid and a session id that is not a plain id", async () => {
    const [cfg, work] = [res.tmpDir(), res.tmpDir()];
    const pid = await pane("claude-stale", work, { CLAUDE_CONFIG_DIR: cfg });
    transcript(cfg);
    sessionFile(cfg, pid, work, SESSION_ID, kernelNow() - 3_600_000);
    expect(await host.discoverTranscript(pid)).toBeNull();
    mkdirSync(join(cfg, "x"));
    writeFileSync(join(cfg, "x", "evil.jsonl"), "");
    sessionFile(cfg, pid, work, "../../x/evil");
    expect(await host.discoverTranscript(pid)).toBeNull();
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

  it("reads the recorded cwd and start from a transcript's first bytes, even cut mid-line", () => {
    const line = JSON.stringify({
      timestamp: "2026-11-21T05:26:17.809Z",
      type: "session_meta",
      payload: { id: "x", cwd: '/w/a "b"\\c', base_instructions: { text: "long" } },
    });
    expect(parseTranscriptHeader(line.slice(0, line.indexOf("long")))).toEqual({ cwd: '/w/a "b"\\c', startedAt: Date.parse("2026-11-21T05:26:17.809Z") });
    expect(parseTranscriptHeader('{"type":"summary"}')).toEqual({ cwd: null, startedAt: null });
  });

  it("parses lsof field output per process", () => {
    const out = "p10\nfcwd\na \nn/home\nf3\nau\nn/a/rollout-1.jsonl\np11\nf4\nar\nn/b c.jsonl\nf5\nn/d\n";
    expect(parseLsofFields(out)).toEqual([
      { pid: 10, fd: "cwd", access: "", path: "/home" },
      { pid: 10, fd: "3", access: "u", path: "/a/rollout-1.jsonl" },
      { pid: 11, fd: "4", access: "r", path: "/b c.jsonl" },
      // No mode field: none is carried over from the previous file.
      { pid: 11, fd: "5", access: "", path: "/d" },
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
