import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { composerCleared, submitText } from "../../../functions/actuate/submit.ts";
import { runWithDeadline } from "../../helpers/child-deadline.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { killTmux, startFakeTui } from "./fake-tui.ts";

let env: TestEnv;
let tmux: string | null = null;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(async () => {
  if (tmux) await killTmux(env, tmux);
  env.close();
});

const submitted = (rollout: string) =>
  readFileSync(rollout, "utf8")
    .split("\n")
    .filter((l) => l.includes('"user_message"')).length;

describe("submitText", () => {
  it("retries Enter when the first one is swallowed as part of a paste", async () => {
    const tui = await startFakeTui(env);
    tmux = tui.tmux;
    // No settle delay: the first Enter lands inside the paste burst and only adds a newline.
    const r = await submitText(env.services.host!, tui.tmux, "hello there", {
      settleMs: 0,
      verifyTimeoutMs: 800,
      verify: async () => submitted(tui.rollout) > 0,
    });
    expect(r.submitted).toBe(true);
    expect(r.enter_attempts).toBeGreaterThanOrEqual(2);
    expect(submitted(tui.rollout)).toBe(1);
  });

  it("submits on the first Enter after a settle delay", async () => {
    const tui = await startFakeTui(env);
    tmux = tui.tmux;
    const r = await submitText(env.services.host!, tui.tmux, "settled text", { verify: async () => submitted(tui.rollout) > 0 });
    expect(r).toEqual({ submitted: true, enter_attempts: 1, verified_by: "transcript" });
  });

  it("verifies through the pane when there is no transcript", async () => {
    const tui = await startFakeTui(env);
    tmux = tui.tmux;
    const r = await submitText(env.services.host!, tui.tmux, "pane only");
    expect(r).toMatchObject({ submitted: true, verified_by: "pane" });
  });
});

describe("composerCleared", () => {
  it("looks only at the bottom lines where the composer is drawn", () => {
    const history = ["user: run the tests", ...Array(10).fill(""), "› "].join("\n");
    expect(composerCleared(history, "run the tests")).toBe(true);
    const typed = ["older", ...Array(10).fill(""), "› run the tests"].join("\n");
    expect(composerCleared(typed, "run the tests")).toBe(false);
  });
});

describe("composerCleared on a wide pane", () => {
  it("trims a pane with long runs of inner spaces in linear time", () => {
    // An agent may widen its own window (tmux resize-window -x 10000): `/\s+$/` was quadratic in
    // every run of spaces inside a line, seconds per check on a 10000 × 400 pane.
    const child = runWithDeadline(
      { submit: "functions/actuate/submit.ts", trigger: "functions/patrol/trigger-spawns.ts" },
      `const pane = ("x" + " ".repeat(1000000) + "y\\n").repeat(2) + "› hello   \\n\\n";
      process.stdout.write(JSON.stringify([submit.composerCleared(pane, "hello"), trigger.paneShowsReadyPrompt(pane)]));`,
    );
    expect(child.failure, "the check did not finish").toBe("");
    expect(JSON.parse(child.stdout)).toEqual([false, true]);
  }, 90_000);
});
