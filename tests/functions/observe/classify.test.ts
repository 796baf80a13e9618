import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { classifyPane } from "../../../functions/observe/classify.ts";
import { runWithDeadline } from "../../helpers/child-deadline.ts";

const dir = fileURLToPath(new URL("../../fixtures/panes/", import.meta.url));
const pane = (name: string) => readFileSync(`${dir}${name}`, "utf8");

describe("classifyPane on captures from the real CLIs", () => {
  it("recognises the Codex and Claude Code trust prompts", () => {
    expect(classifyPane(pane("codex-trust_prompt.txt")).pattern).toBe("trust_prompt");
    expect(classifyPane(pane("claude-trust_prompt.txt")).pattern).toBe("trust_prompt");
  });

  it("flags nothing on idle and completed screens", () => {
    for (const f of readdirSync(dir).filter((n) => /idle|turn_complete/.test(n))) {
      expect({ f, pattern: classifyPane(pane(f), { state: "idle", stalenessSeconds: 10_000 }).pattern }).toEqual({ f, pattern: null });
    }
  });

  it("sees the busy indicator but flags long_running_interruptible only when stale and quiet", () => {
    const busy = pane("codex-busy.txt");
    expect(classifyPane(busy).busy_indicator).toBe(true);
    expect(classifyPane(busy, { state: "busy", stalenessSeconds: 5, busyWaitSeconds: 90 }).pattern).toBeNull();
    expect(classifyPane(busy, { state: "busy", stalenessSeconds: 120, busyWaitSeconds: 90, recentEventCount: 2 }).pattern).toBe("long_running_interruptible");
    const chatty = classifyPane(busy, { state: "busy", stalenessSeconds: 120, busyWaitSeconds: 90, recentEventCount: 12 });
    expect(chatty.pattern).toBeNull();
    expect(chatty.suppressed[0]!.pattern).toBe("long_running_interruptible");
  });
});

describe("every saved pane capture", () => {
  // File names say what the screen shows: <cli>-<state>[-detail].txt.
  const expected = (name: string) =>
    /trust_prompt/.test(name) ? "trust_prompt" : /approval_prompt/.test(name) ? "approval_prompt" : /error-429/.test(name) ? "rate_limit_prompt" : null;
  it.each(readdirSync(dir))("%s", (name) => {
    expect(classifyPane(pane(name)).pattern).toBe(expected(name));
  });

  it("sees the busy indicator on both CLIs' busy screens and on no other (menus say 'Esc to cancel')", () => {
    for (const name of readdirSync(dir)) {
      expect({ name, busy: classifyPane(pane(name)).busy_indicator }).toEqual({ name, busy: /-busy/.test(name) });
    }
  });
});

describe("classifyPane text rules", () => {
  it.each([
    ["rate_limit_prompt", "■ You've hit your usage limit. Try again in 2 hours."],
    ["rate_limit_prompt", "API Error: Rate limit reached for requests"],
    ["approval_prompt", "Would you like to run the following command?\n  $ rm -rf build"],
    ["approval_prompt", "Do you want to make this edit to src/app.ts?\n❯ 1. Yes"],
    ["enter_to_confirm", "Press Enter to continue"],
  ])("%s", (expected, text) => {
    expect(classifyPane(text).pattern).toBe(expected);
  });

  it("does not fire on ordinary agent prose about limits or trust", () => {
    expect(classifyPane("• I added input validation and a test for the edge case.").pattern).toBeNull();
    expect(classifyPane("• I implemented rate limiting for the login endpoint.").pattern).toBeNull();
    expect(classifyPane("› Ask Codex to do anything").pattern).toBeNull();
  });

  it("prefers the trust prompt over the enter-to-confirm footer on the same screen", () => {
    expect(classifyPane(pane("claude-trust_prompt.txt")).matched).toEqual(["trust_prompt", "enter_to_confirm"]);
  });
});

describe("classifyPane on hostile text", () => {
  it("finds a busy line in linear time, and the same lines as before", () => {
    // A line of repeated "working" made `working.*\(\d+s` quadratic: 200,000 characters (what
    // POST /classify takes) held the event loop about 2 s, and this would take minutes.
    const child = runWithDeadline(
      { classify: "functions/observe/classify.ts" },
      `const line = "working ".repeat(500000);
      const r = [classify.classifyPane(line).busy_indicator, classify.classifyPane(line + "(12s)").busy_indicator];
      process.stdout.write(JSON.stringify(r));`,
    );
    expect(child.failure, "the classification did not finish").toBe("");
    expect(JSON.parse(child.stdout)).toEqual([false, true]);
    const busy = (l: string) => classifyPane(l).busy_indicator;
    expect(busy("• Working (12s • esc to interrupt)")).toBe(true);
    expect(busy("Working on it (3s")).toBe(true);
    expect(busy("networking (12s")).toBe(false);
    expect(busy("(12s) working")).toBe(false);
    expect(busy("working\r(12s")).toBe(false);
    // Each stretch between a CR or a line separator is judged on its own, as the old pattern did.
    expect(busy("working\r working (3s")).toBe(true);
    expect(busy("working\u2028working (5s")).toBe(true);
    expect(busy("press ctrl+c to cancel")).toBe(true);
  }, 90_000);
});
