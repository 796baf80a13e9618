import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { acceptTrustPrompt } from "../../../functions/actuate/trust.ts";
import type { Host } from "../../../functions/lib/host.ts";

const pane = (name: string) => readFileSync(fileURLToPath(new URL(`../../fixtures/panes/${name}`, import.meta.url)), "utf8");

/**
 * A scripted pane for the menu logic alone: each key moves through recorded screens. Real
 * tmux runs are in spawn.test.ts and tests/e2e; this pins which key is chosen on real captures.
 */
function scriptedHost(screens: Record<string, string>, start: string, transitions: Record<string, Record<string, string>>) {
  let current = start;
  const keys: string[] = [];
  const host = {
    tmuxCapturePane: async () => screens[current]!,
    tmuxSendKeys: async (_t: string, key: string) => {
      keys.push(key);
      current = transitions[current]?.[key] ?? current;
    },
  } as unknown as Host;
  return { host, keys };
}

describe("acceptTrustPrompt on real captures", () => {
  it("Codex: option 1 'Trust and continue' is preselected, so it presses Enter (not Up onto the prose)", async () => {
    const { host, keys } = scriptedHost({ trust: pane("codex-trust_prompt.txt"), idle: pane("codex-idle.txt") }, "trust", { trust: { Enter: "idle" } });
    expect(await acceptTrustPrompt(host, "t")).toBe(true);
    expect(keys).toEqual(["Enter"]);
  });

  it("Claude Code: 'No, exit' is preselected, so it moves Down before Enter", async () => {
    const { host, keys } = scriptedHost(
      { no: pane("claude-trust_prompt.txt"), yes: pane("claude-trust_prompt-yes-selected.txt"), idle: pane("claude-idle.txt") },
      "no",
      { no: { Down: "yes" }, yes: { Enter: "idle" } },
    );
    expect(await acceptTrustPrompt(host, "t")).toBe(true);
    expect(keys).toEqual(["Down", "Enter"]);
  });
});
