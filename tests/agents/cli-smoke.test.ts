// Smoke test: the real Codex and Claude Code TUIs run in tmux against our loopback stubs,
// accept a prompt, show the scripted reply, and write a turn-complete marker to their transcript.
// Skips (with a reason) when tmux or the CLI packages are missing.
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  claudeBinary,
  codexBinary,
  countTurnsComplete,
  isAlive,
  launchAgent,
  paneState,
  submitPrompt,
  waitFor,
  waitForPane,
  type AgentKind,
} from "../helpers/agents.ts";

function available(kind: AgentKind): boolean {
  try {
    execFileSync("tmux", ["-V"], { stdio: "ignore" });
    if (kind === "codex") codexBinary({ native: true });
    else claudeBinary();
    return true;
  } catch {
    return false;
  }
}

describe.each(["codex", "claude"] as const)("%s CLI against the stub", (kind) => {
  it.skipIf(!available(kind))("submits a prompt, shows the reply, records a completed turn, cleans up", { timeout: 120_000 }, async () => {
    const reply = `SMOKE-${kind.toUpperCase()}-REPLY-7`;
    const agent = await launchAgent(kind, [reply]);
    let stopped = false;
    try {
      expect(paneState(kind, await agent.capture())).toBe("idle");
      // Nothing is on disk before the first prompt (both CLIs create the transcript lazily).
      expect(agent.transcript()).toBeUndefined();

      await submitPrompt(agent.tmux.target, "Please reply with the smoke token");
      await waitForPane(agent.tmux.target, new RegExp(reply), 30_000);
      const file = await waitFor(() => agent.transcript(), 10_000, "transcript file");
      await waitFor(() => countTurnsComplete(kind, file) >= 1, 15_000, "turn-complete marker");
      await waitFor(async () => paneState(kind, await agent.capture()) === "idle", 15_000, "idle pane after the turn");

      const main = agent.stub.requests.filter((r) => r.kind === "main");
      expect(main.length).toBe(1);
      expect(agent.stub.requests.filter((r) => r.kind === "unknown")).toEqual([]);

      const pids = agent.snapshot();
      expect(pids.length).toBeGreaterThan(0);
      const { strays } = await agent.stop();
      stopped = true;
      expect(strays).toEqual([]);
      for (const p of pids) expect(isAlive(p)).toBe(false);
    } finally {
      if (!stopped) await agent.stop();
    }
  });
});
