import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { HostError } from "../../../functions/lib/host.ts";
import { NodeHost } from "../../../local-runner/host.ts";
import { parseTmuxVersion } from "../../../local-runner/host/tmux.ts";
import { Resources } from "./helpers.ts";

const res = new Resources();
afterEach(() => res.cleanup());

/** A stand-in tool: a shell script with the given body. */
function fakeTool(body: string, mode = 0o755): string {
  const path = join(res.tmpDir(), "tool");
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, mode);
  return path;
}

describe("NodeHost tool availability", () => {
  it("reports the installed tmux and lsof with versions", async () => {
    const caps = await new NodeHost().capabilities();
    expect(caps.platform).toBe(process.platform);
    expect(caps.tmux.available).toBe(true);
    expect(caps.tmux.version).toMatch(/^tmux \S*\d/);
    expect(caps.lsof.available).toBe(true);
    expect(caps.lsof.version).toMatch(/^\d+\.\d+/);
  });

  it("reports missing tools without throwing, then fails every tmux and lsof call with a typed error", async () => {
    const bare = new NodeHost({ tmuxBin: "/nonexistent/tmux", lsofBin: "swy-no-such-lsof" });
    expect(await bare.capabilities()).toEqual({
      tmux: { available: false, version: null },
      lsof: { available: false, version: null },
      platform: process.platform,
    });
    const calls: [string, () => Promise<unknown>][] = [
      ["TMUX_MISSING", () => bare.tmuxNewSession({ name: "swy-missing", cwd: "/tmp", command: ["cat"] })],
      ["TMUX_MISSING", () => bare.tmuxHasSession("swy-missing")],
      ["TMUX_MISSING", () => bare.tmuxSendKeys("swy-missing", "Enter")],
      ["TMUX_MISSING", () => bare.tmuxCapturePane("swy-missing")],
      ["TMUX_MISSING", () => bare.tmuxKillSession("swy-missing")],
      ["TMUX_MISSING", () => bare.tmuxPanePid("swy-missing")],
      ["LSOF_MISSING", () => bare.discoverTranscript(process.pid)],
      ["LSOF_MISSING", () => bare.discoverTranscript(2 ** 22 + 1)],
    ];
    for (const [code, call] of calls) {
      const err = await call().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(HostError);
      expect(err).toMatchObject({ code });
      expect((err as HostError).hint).toMatch(/apt-get install/);
    }
  });

  it("treats a non-executable binary as missing", async () => {
    const bare = new NodeHost({ tmuxBin: fakeTool("exit 0", 0o644) });
    expect((await bare.capabilities()).tmux.available).toBe(false);
    await expect(bare.tmuxHasSession("swy-x")).rejects.toMatchObject({ code: "TMUX_MISSING" });
  });

  it("times out a hung tool", async () => {
    const slow = new NodeHost({ tmuxBin: fakeTool("exec sleep 5"), timeoutMs: 200 });
    await expect(slow.tmuxHasSession("swy-x")).rejects.toMatchObject({ code: "TIMEOUT" });
  });

  it("refuses env on a tmux older than 3.0", async () => {
    const old = new NodeHost({ tmuxBin: fakeTool('echo "tmux 2.9"') });
    await expect(old.tmuxNewSession({ name: "swy-old", cwd: res.tmpDir(), command: ["cat"], env: { A: "1" } })).rejects.toMatchObject({
      code: "COMMAND_FAILED",
      message: "tmux session 'swy-old': setting env needs tmux 3.0 or newer, found 'tmux 2.9'",
    });
  });

  it("parses tmux version strings", () => {
    expect(parseTmuxVersion("tmux 3.3a")).toEqual([3, 3]);
    expect(parseTmuxVersion("tmux next-3.4")).toEqual([3, 4]);
    expect(parseTmuxVersion("tmux 2.9")).toEqual([2, 9]);
    expect(parseTmuxVersion("tmux master")).toBeNull();
  });
});
