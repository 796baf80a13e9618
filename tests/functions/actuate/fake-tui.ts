import { existsSync, readFileSync } from "node:fs";
import { codexRollout } from "../../helpers/transcripts.ts";
import { fileURLToPath } from "node:url";
import type { TestEnv } from "../../helpers/services.ts";

export const FAKE_TUI = fileURLToPath(new URL("../../fixtures/programs/fake-tui.mjs", import.meta.url));

let seq = 0;

/**
 * Starts the fake agent TUI in a fresh tmux session and waits for its rollout file. `pasteMs`:
 * how long after a burst of typed characters an Enter is still taken as part of the paste, or
 * "first" for a TUI that takes the first Enter after typed text as part of it whatever the timing.
 */
export async function startFakeTui(env: TestEnv, busyMs = 300, pasteMs: number | "first" = 150) {
  seq += 1;
  const tmux = `sy-test-${process.pid}-${seq}`;
  // Under the test host's Codex root, where registration accepts it.
  const rollout = codexRollout(env, `fake-${process.pid}-${seq}`, null);
  await env.services.host!.tmuxNewSession({
    name: tmux,
    cwd: env.dir,
    command: [process.execPath, FAKE_TUI, rollout, String(busyMs), String(pasteMs)],
    width: 120,
    height: 30,
  });
  const deadline = Date.now() + 10_000;
  while (!existsSync(rollout)) {
    if (Date.now() > deadline) throw new Error(`fake TUI in ${tmux} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { tmux, rollout };
}

/** Kills a tmux session started by a test, ignoring one that is already gone. */
export async function killTmux(env: TestEnv, name: string) {
  await env.services.host!.tmuxKillSession(name).catch(() => {});
}

/** The user messages the fake TUI has written to its rollout, oldest first: what reached the agent. */
export function userMessages(rollout: string): string[] {
  return readFileSync(rollout, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((l) => l.payload?.type === "user_message")
    .map((l) => l.payload.message as string);
}
