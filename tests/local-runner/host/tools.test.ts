import { describe, expect, it } from "vitest";
import { HostError } from "../../../functions/lib/host.ts";
import { NodeHost } from "../../../local-runner/host.ts";
import { parseTmuxVersion } from "../../../local-runner/host/tmux.ts";

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

  it("parses tmux version strings", () => {
    expect(parseTmuxVersion("tmux 3.3a")).toEqual([3, 3]);
    expect(parseTmuxVersion("tmux next-3.4")).toEqual([3, 4]);
    expect(parseTmuxVersion("tmux 2.9")).toEqual([2, 9]);
    expect(parseTmuxVersion("tmux master")).toBeNull();
  });
});
