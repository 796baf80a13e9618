// discoverTranscript against the REAL Codex and Claude Code TUIs (loopback model stubs, tmux):
// the process shapes the fixtures in discovery.test.ts imitate, checked at the source.
// Skips when tmux or the CLI packages are missing.
import { execFile, execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { NodeHost } from "../../../local-runner/host.ts";
import {
  agentCommand,
  claudeBinary,
  codexBinary,
  codexRollouts,
  isAlive,
  killTmuxSession,
  launchAgent,
  makeCodexHome,
  processTree,
  sleep,
  startInTmux,
  startStub,
  submitPrompt,
  uniqueSessionName,
  waitFor,
  waitForState,
  type AgentKind,
} from "../../helpers/agents.ts";

const execFileP = promisify(execFile);

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

describe("discoverTranscript with the real agent CLIs", () => {
  for (const [kind, daemon] of [
    ["codex", false],
    ["codex", true],
    ["claude", false],
  ] as const) {
    it.skipIf(!available(kind))(
      `finds ${kind}${daemon ? " (app-server daemon)" : ""}'s transcript from the pane pid once prompted`,
      { timeout: 120_000 },
      async () => {
        const agent = await launchAgent(kind, ["hello"], { daemon });
        try {
          const host = new NodeHost({ claudeConfigDir: agent.home.configDir });
          expect(await host.discoverTranscript(agent.tmux.panePid)).toBeNull();
          await submitPrompt(agent.tmux.target, "say hello");
          const path = await waitFor(() => agent.transcript(), 30_000, `${kind} transcript`);
          const found = await waitFor(() => host.discoverTranscript(agent.tmux.panePid), 10_000, "discovery");
          expect(found).toMatchObject({ path, kind });
          expect(found?.alternatives).toBeUndefined();
        } finally {
          await agent.stop();
        }
      },
    );
  }

  it.skipIf(!available("codex"))("tells apart two panes served by one shared Codex daemon by their cwd", { timeout: 180_000 }, async () => {
    const stub = await startStub("codex", ["one", "two"]);
    const home = await makeCodexHome(stub.url);
    const work2 = join(home.root, "work2");
    mkdirSync(work2);
    appendFileSync(join(home.configDir, "config.toml"), `\n[projects."${work2}"]\ntrust_level = "trusted"\n`);
    const cmd = agentCommand("codex", home, { daemon: true });
    const names = [uniqueSessionName("swy-host-daemon-a"), uniqueSessionName("swy-host-daemon-b")];
    const panes: number[] = [];
    try {
      const a = await startInTmux(names[0]!, cmd);
      panes.push(a.panePid);
      await waitForState("codex", a.target, ["idle"], 30_000);
      const b = await startInTmux(names[1]!, { ...cmd, cwd: work2 });
      panes.push(b.panePid);
      await waitForState("codex", b.target, ["idle"], 30_000);
      const host = new NodeHost();

      // B prompts first; the daemon is A's child (A's TUI started it) yet B's rollout is not A's.
      await submitPrompt(b.target, "hello from b");
      const rb = await waitFor(() => codexRollouts(home.configDir)[0], 30_000, "b's rollout");
      expect(await waitFor(() => host.discoverTranscript(b.panePid), 10_000, "b discovery")).toMatchObject({ path: rb });
      expect(await host.discoverTranscript(a.panePid)).toBeNull();

      await submitPrompt(a.target, "hello from a");
      const ra = await waitFor(() => codexRollouts(home.configDir).find((r) => r !== rb), 30_000, "a's rollout");
      expect(await waitFor(() => host.discoverTranscript(a.panePid), 10_000, "a discovery")).toMatchObject({ path: ra });
      expect(await host.discoverTranscript(b.panePid)).toMatchObject({ path: rb });
    } finally {
      // A's TUI is the daemon's parent: its tree holds every process this test started.
      const seen = new Set(panes.flatMap((p) => processTree(p)));
      for (const n of names) await killTmuxSession(n);
      try {
        await execFileP(process.execPath, [codexBinary(), "app-server", "daemon", "stop"], { env: { ...process.env, ...home.env }, timeout: 20_000 });
      } catch {
        // not running
      }
      // The daemon's pid-update loop survives `daemon stop`: kill what we saw, by pid.
      await sleep(500);
      for (const p of seen) {
        if (!isAlive(p)) continue;
        try {
          process.kill(p, "SIGKILL");
        } catch {
          // gone
        }
      }
      await stub.close();
      home.cleanup();
    }
  });
});
