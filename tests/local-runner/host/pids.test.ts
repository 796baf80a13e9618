import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { NodeHost } from "../../../local-runner/host.ts";
import { parseProcStat, psStartTime } from "../../../local-runner/host/procs.ts";
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
    expect(parseProcStat(text)).toEqual({ pid: 42, state: "S", ppid: 1, pgrp: 42, session: 42, tty: false, startTicks: 12345 });
    expect(parseProcStat("garbage")).toBeNull();
  });
});
