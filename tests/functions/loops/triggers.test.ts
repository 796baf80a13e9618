import { describe, expect, it } from "vitest";
import { classifyLoopPrompt } from "../../../functions/loops/triggers.ts";
import { runWithDeadline } from "../../helpers/child-deadline.ts";

describe("loop triggers on hostile prompts", () => {
  it("matches 'ralph loop … adversarial' on one line only, in linear time", () => {
    const ids = (p: string) => classifyLoopPrompt(p).triggers;
    expect(ids("run a ralph loop, each pass adversarial")).toContain("adversarial_ralph_loop");
    expect(ids("run a ralph\nloop, each pass adversarial")).toContain("adversarial_ralph_loop");
    expect(ids("run a ralph loop\nadversarial review later")).not.toContain("adversarial_ralph_loop");
    expect(ids("adversarial first, then a ralph loop")).not.toContain("adversarial_ralph_loop");
    // `ralph\s+loop\b.*\badversarial` rescanned the line from every "ralph loop": quadratic.
    const child = runWithDeadline(
      { triggers: "functions/loops/triggers.ts" },
      `const p = "ralph loop ".repeat(200000);
      process.stdout.write(JSON.stringify([triggers.classifyLoopPrompt(p).triggers, triggers.classifyLoopPrompt(p + "adversarial").triggers]));`,
    );
    expect(child.failure, "the classification did not finish").toBe("");
    const [plain, armed] = JSON.parse(child.stdout);
    expect(plain).not.toContain("adversarial_ralph_loop");
    expect(armed).toContain("adversarial_ralph_loop");
  }, 90_000);
});
