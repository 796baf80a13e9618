import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { NodeHost } from "../../../local-runner/host.ts";
import { keyboardVerdict, parseProcStat, psStartTime } from "../../../local-runner/host/procs.ts";
import { kernelNow, Resources, waitFor } from "./helpers.ts";

const host = new NodeHost();
const res = new Resources();
afterEach(() => res.cleanup());

describe("NodeHost pid liveness", () => {
  it("reports a running pid alive with its own start time, the same from /proc and ps", async () => {
    const started = await host.pidStartTime(process.pid);
    expect(started).not.toBeNull();
    expect(Math.abs(started! - kernelNow())).toBeLessThan(10 * 60_000);
    expect(await host.pidAlive(process.pid)).toBe(true);
    expect(await host.pidAlive(process.pid, started)).toBe(true);
    // ps has one-second resolution and truncates.
    expect(Math.abs((await psStartTime(process.pid))! - started!)).toBeLessThan(1500);
  });

  it("reports a live pid with a different recorded start time dead (pid reuse)", async () => {
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    await res.trackPid(child.pid!);
    const started = (await host.pidStartTime(child.pid!))!;
    expect(await host.pidAlive(child.pid!, started)).toBe(true);
    expect(await host.pidAlive(child.pid!, started - 60_000)).toBe(false);
    expect(await host.pidAlive(child.pid!, started + 5_000)).toBe(false);
  });

  it("reports an exited pid dead, with or without its recorded start time", async () => {
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    const started = (await host.pidStartTime(child.pid!))!;
    child.kill("SIGKILL");
    await once(child, "exit");
    expect(await host.pidAlive(child.pid!, started)).toBe(false);
    expect(await host.pidAlive(child.pid!)).toBe(false);
    expect(await host.pidStartTime(child.pid!)).toBeNull();
  });

  it("treats a zombie as dead", async () => {
    // The shell becomes `sleep 30`, which never reaps the short sleep it started: a zombie.
    // The short sleep must outlast the exec, or the shell would reap it first.
    const parent = spawn("sh", ["-c", "sleep 1 & echo $!; exec sleep 30"], { stdio: ["ignore", "pipe", "ignore"] });
    await res.trackPid(parent.pid!);
    const [line] = (await once(parent.stdout!, "data")) as [Buffer];
    const zombie = Number(line.toString().trim());
    await waitFor(() => parseProcStat(readFileSync(`/proc/${zombie}/stat`, "utf8"))?.state === "Z", "zombie state");
    expect(await host.pidAlive(zombie)).toBe(false);
    expect(await host.pidStartTime(zombie)).toBeNull();
    expect(await host.pidAlive(parent.pid!)).toBe(true);
  });

  it("rejects pids that cannot exist", async () => {
    for (const pid of [0, -1, 1.5, Number.NaN]) expect(await host.pidAlive(pid)).toBe(false);
  });

  it("parses /proc/<pid>/stat with spaces and parentheses in the command name", () => {
    const text = "42 (a b) (c)) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 12345 0 0";
    expect(parseProcStat(text)).toEqual({ pid: 42, comm: "a b) (c)", state: "S", ppid: 1, pgrp: 42, session: 42, tty: false, tpgid: -1, startTicks: 12345 });
    expect(parseProcStat("garbage")).toBeNull();
  });
});

describe("NodeHost start times across a clock step", () => {
  it("counts from the boot time pinned in the home's file, so a start recorded before a step still matches after it", async () => {
    const dir = res.tmpDir();
    const file = join(dir, "boot-clock.json");
    const bootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    const kernel = (await host.pidStartTime(process.pid))!;
    // The first process of the boot pins the kernel's boot time.
    const first = new NodeHost({ bootClockFile: file });
    expect(await first.pidStartTime(process.pid)).toBe(kernel);
    const pinned = JSON.parse(readFileSync(file, "utf8"));
    expect(pinned.boot_id).toBe(bootId);
    // Pinned before a step of 9 s: the kernel's boot time has since moved, the pinned one has not.
    writeFileSync(file, JSON.stringify({ boot_id: bootId, boot_ms: pinned.boot_ms - 9000 }));
    const recorded = kernel - 9000;
    const later = new NodeHost({ bootClockFile: file });
    expect(await later.pidStartTime(process.pid)).toBe(recorded);
    expect(await later.pidAlive(process.pid, recorded)).toBe(true);
    // Without the file, that record reads as another process (what every session did after a step).
    expect(await host.pidAlive(process.pid, recorded)).toBe(false);
    // A file of another boot is replaced by this boot's; a damaged one too.
    for (const stale of [JSON.stringify({ boot_id: "another-boot", boot_ms: 1 }), "{not json"]) {
      writeFileSync(file, stale);
      expect(await new NodeHost({ bootClockFile: file }).pidStartTime(process.pid)).toBe(kernel);
      expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ boot_id: bootId, boot_ms: pinned.boot_ms });
    }
  });

  it("falls back to the kernel's boot time when the file cannot be written", async () => {
    const file = join(res.tmpDir(), "no-such-dir", "boot-clock.json");
    expect(await new NodeHost({ bootClockFile: file }).pidStartTime(process.pid)).toBe(await host.pidStartTime(process.pid));
  });
});

describe("keyboardVerdict on process tables", () => {
  // A pane's shell (pid 100, its own group), registered without a pid, and what runs under it.
  const proc = (pid: number, ppid: number, pgrp: number, comm: string, state = "S") => ({ pid, ppid, pgrp, tpgid: 0, state, comm, tty: true });
  const table = (fg: number, ...rest: ReturnType<typeof proc>[]) => [proc(100, 1, 100, "bash"), ...rest].map((p) => ({ ...p, tpgid: fg }));

  it("passes an agent in the foreground, a stopped tool of it beside it included", () => {
    expect(keyboardVerdict(table(200, proc(200, 100, 200, "codex")), 100)).toBeNull();
    expect(keyboardVerdict(table(200, proc(200, 100, 200, "codex"), proc(201, 200, 200, "cat", "T")), 100)).toBeNull();
  });

  it("holds a shell, or a program that hands the terminal to one, alone in the foreground", () => {
    for (const comm of ["rbash", "script", "tmux: client", "ssh", "sudo"]) {
      expect(keyboardVerdict(table(200, proc(200, 100, 200, comm)), 100), comm).toBe(
        `the terminal's foreground is the shell ${comm} (pid 200) at its prompt, not an agent (has the agent exited?); typed text would be a shell command`,
      );
    }
    // The shell itself at its prompt, its suspended agent below it.
    expect(keyboardVerdict(table(100, proc(200, 100, 200, "codex", "T")), 100)).toBe(
      "the agent (pid 200) is stopped (suspended, as by C-z); typed text would go to its shell",
    );
  });
});

const tmux = (...args: string[]) => promisify(execFile)("tmux", args).then((r) => r.stdout);

/** The pids of `comm` processes whose parent is `parent`. */
function childrenNamed(parent: number, comm: string): number[] {
  const out: number[] = [];
  for (const line of readFileSync(`/proc/${parent}/task/${parent}/children`, "utf8").trim().split(/\s+/).filter(Boolean)) {
    const pid = Number(line);
    const st = parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
    if (st && readFileSync(`/proc/${pid}/comm`, "utf8").trim() === comm) out.push(pid);
  }
  return out;
}

describe("NodeHost: can an agent read what is typed into its terminal", () => {
  it("yes for the foreground job of a pane; no once it is stopped, sent to the background, or gone", async () => {
    const name = res.session("keyboard");
    await tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "30", "bash", "--norc", "--noprofile");
    const shell = Number((await tmux("display-message", "-p", "-t", name, "#{pane_pid}")).trim());
    await tmux("send-keys", "-t", name, "-l", "--", "sleep 300");
    await tmux("send-keys", "-t", name, "Enter");
    const job = await waitFor(() => childrenNamed(shell, "sleep")[0], "the foreground sleep");
    const started = await host.pidStartTime(await res.trackPid(job));
    expect(await host.agentKeyboardBlocker(job, started)).toBeNull();
    // C-z: the job stops and bash takes the terminal back.
    await tmux("send-keys", "-t", name, "C-z");
    await waitFor(async () => (await tmux("capture-pane", "-p", "-t", name)).includes("Stopped"), "the job stopped");
    expect(await host.agentKeyboardBlocker(job, started)).toBe(`the agent (pid ${job}) is stopped (suspended, as by C-z); typed text would go to its shell`);
    // Registered by the pane's shell (a pane registered without a pid): the shell alone holds
    // the terminal now, and the stopped job under it is the agent.
    expect(await host.agentKeyboardBlocker(shell)).toBe(`the agent (pid ${job}) is stopped (suspended, as by C-z); typed text would go to its shell`);
    // bg: running again, but bash has the terminal.
    await tmux("send-keys", "-t", name, "-l", "--", "bg");
    await tmux("send-keys", "-t", name, "Enter");
    await waitFor(() => parseProcStat(readFileSync(`/proc/${job}/stat`, "utf8"))?.state === "S", "the job running in the background");
    expect(await host.agentKeyboardBlocker(job, started)).toBe(
      `the agent (pid ${job}) is not in the foreground of its terminal (process group ${shell} is); typed text would go to that program`,
    );
    // fg: the terminal is the job's again.
    await tmux("send-keys", "-t", name, "-l", "--", "fg");
    await tmux("send-keys", "-t", name, "Enter");
    await waitFor(async () => (await host.agentKeyboardBlocker(job, started)) === null, "the job in the foreground again");
    expect(await host.agentKeyboardBlocker(shell)).toBeNull();
    // Another process that took the pid would have another start time.
    expect(await host.agentKeyboardBlocker(job, started! - 60_000)).toBe(`the agent (pid ${job}) is no longer running`);
    process.kill(job, "SIGKILL");
    await waitFor(async () => !(await host.pidAlive(job)), "the job gone");
    expect(await host.agentKeyboardBlocker(job, started)).toBe(`the agent (pid ${job}) is no longer running`);
    // The agent gone, its shell reads the terminal: registered by the shell, nothing may be typed.
    await waitFor(async () => (await tmux("capture-pane", "-p", "-t", name)).includes("Killed"), "the shell's prompt back");
    expect(await host.agentKeyboardBlocker(shell)).toBe(
      `the terminal's foreground is the shell bash (pid ${shell}) at its prompt, not an agent (has the agent exited?); typed text would be a shell command`,
    );
  });

  it("yes for an agent a shell runs without job control (same process group), registered by the shell", async () => {
    const name = res.session("keyboard-c");
    await tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "30", "bash", "--norc", "--noprofile", "-c", "cd / && sleep 300; true");
    const shell = Number((await tmux("display-message", "-p", "-t", name, "#{pane_pid}")).trim());
    const job = await waitFor(() => childrenNamed(shell, "sleep")[0], "the sleep under bash -c");
    await res.trackPid(job);
    expect(await host.agentKeyboardBlocker(shell)).toBeNull();
    expect(await host.agentKeyboardBlocker(job)).toBeNull();
    process.kill(job, "SIGSTOP");
    try {
      // No job control: bash keeps waiting and the group keeps the terminal, but the agent reads nothing.
      await waitFor(() => parseProcStat(readFileSync(`/proc/${job}/stat`, "utf8"))?.state === "T", "the sleep stopped");
      expect(await host.agentKeyboardBlocker(shell)).toBe(`the agent (pid ${job}) is stopped (suspended, as by C-z); typed text would go to its shell`);
    } finally {
      process.kill(job, "SIGCONT");
    }
  });

  it("cannot tell for a process with no terminal: no answer against it", async () => {
    const child = spawn("sleep", ["30"], { stdio: "ignore", detached: true });
    await res.trackPid(child.pid!);
    expect(parseProcStat(readFileSync(`/proc/${child.pid}/stat`, "utf8"))?.tty).toBe(false);
    expect(await host.agentKeyboardBlocker(child.pid!)).toBeNull();
  });
});
