import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { composerCleared, composerVerdict, openPrompt, sentOff, submitText } from "../../../functions/actuate/submit.ts";
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
    // The TUI swallows the first Enter after the typed text whenever it arrives: a timed paste
    // window made this test depend on how loaded the machine was.
    const tui = await startFakeTui(env, 300, "first");
    tmux = tui.tmux;
    // No settle delay: the first Enter lands inside the paste burst and only adds a newline.
    const r = await submitText(env.services.host!, tui.tmux, "hello there", {
      settleMs: 0,
      verifyTimeoutMs: 800,
      verify: async () => submitted(tui.rollout) > 0,
    });
    expect(r.submitted).toBe(true);
    expect(r.enter_attempts).toBe(2);
    expect(submitted(tui.rollout)).toBe(1);
  });

  it("submits on the first Enter after a settle delay", async () => {
    const tui = await startFakeTui(env);
    tmux = tui.tmux;
    const r = await submitText(env.services.host!, tui.tmux, "settled text", { verify: async () => submitted(tui.rollout) > 0 });
    expect(r).toEqual({ submitted: true, enter_attempts: 1, verified_by: "transcript" });
  });

  it("presses no Enter once the agent is gone, though its text shows on a composer-like row", async () => {
    const tui = await startFakeTui(env);
    tmux = tui.tmux;
    // Running when the text is typed, gone by the first Enter.
    let asked = 0;
    const agentAway = async () => (asked++ ? "the agent (pid 4242) is no longer running" : null);
    const r = await submitText(env.services.host!, tui.tmux, "carry on", { agentAway });
    expect(r).toEqual({ submitted: false, enter_attempts: 0, verified_by: null, held: "the agent (pid 4242) is no longer running; Enter was not pressed" });
    expect(asked).toBe(2);
    expect(submitted(tui.rollout)).toBe(0);
  });

  it("types nothing while the agent cannot read its terminal (stopped, or another program in the foreground)", async () => {
    const tui = await startFakeTui(env);
    tmux = tui.tmux;
    const why = "the agent (pid 4242) is stopped (suspended, as by C-z); typed text would go to its shell";
    const r = await submitText(env.services.host!, tui.tmux, "carry on please", { agentAway: async () => why });
    expect(r).toEqual({ submitted: false, enter_attempts: 0, verified_by: null, typed: false, held: why });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await env.services.host!.tmuxCapturePane(tui.tmux)).not.toContain("carry on please");
    expect(submitted(tui.rollout)).toBe(0);
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

describe("sentOff", () => {
  it("does not read a composer still holding a paste placeholder as sent, though the text's end is not on screen", () => {
    const pasted = ["› an earlier prompt", "", "› [Pasted Content 1024 chars][Pasted Content 1024 chars] #2", "", "  100% context left"].join("\n");
    expect(composerCleared(pasted, "the end of the text")).toBe(true);
    expect(sentOff(pasted, "the end of the text")).toBe(false);
    expect(sentOff(["› an earlier prompt", "", "› Ask Codex to do anything", "", "  100% context left"].join("\n"), "the end of the text")).toBe(true);
  });
});

describe("composerCleared on a wide pane", () => {
  it("trims a pane with long runs of inner spaces in linear time", () => {
    // An agent may widen its own window (tmux resize-window -x 10000): `/\s+$/` was quadratic in
    // every run of spaces inside a line, seconds per check on a 10000 × 400 pane.
    const child = runWithDeadline(
      { submit: "functions/actuate/submit.ts", trigger: "functions/patrol/trigger-spawns.ts" },
      `const pane = ("x" + " ".repeat(1000000) + "y\\n").repeat(2) + "› hello   \\n\\n";
      const wideComposer = "› " + "x ".repeat(500000) + " ".repeat(1000000) + "\\n";
      process.stdout.write(JSON.stringify([submit.composerCleared(pane, "hello"), trigger.paneShowsReadyPrompt(pane), submit.composerVerdict(pane, "hello"), submit.composerVerdict(wideComposer, "x x")]));`,
    );
    expect(child.failure, "the check did not finish").toBe("");
    expect(JSON.parse(child.stdout)).toEqual([false, true, "ok", "ok"]);
  }, 90_000);
});

describe("composerVerdict", () => {
  // Lines as tmux captured them from Claude Code 2.1.329 and Codex 0.169: Claude Code draws a
  // no-break space after the composer's ❯ and a plain one after a prompt already sent.
  const claude = (composer: string, above: string[] = ["❯ an earlier prompt", "● an answer"]) =>
    [...above, "─".repeat(40), `❯\u00a0${composer}`, "─".repeat(40), "  -- INSERT -- ⏸ manual mode on"].join("\n");

  it("is ok when the composer starts with the text, in either CLI, whatever follows it", () => {
    expect(composerVerdict(claude("carry on with the tests"), "carry on with the tests")).toBe("ok");
    expect(composerVerdict(claude("first line of the nudge", []) + "\n  second line", "first line of the nudge\nsecond line")).toBe("ok");
    // A long text is one paste, drawn as a placeholder.
    expect(composerVerdict(claude("[Pasted text #1]"), `please look ${"at it ".repeat(300)}`)).toBe("ok");
    expect(composerVerdict(claude("[Pasted text #3 +12 lines]"), "line\n".repeat(40))).toBe("ok");
    expect(composerVerdict(["› [Pasted Content 1400 chars]", "", "  100% context left"].join("\n"), "x".repeat(1400))).toBe("ok");
    const chunks = "› [Pasted Content 1024 chars][Pasted Content 1024 chars] #2[Pasted Content 1211 chars] #3";
    expect(composerVerdict([chunks, "", "  100% context left"].join("\n"), "x".repeat(3259))).toBe("ok");
    // A numbered list or a question typed into the composer is the text, not a menu or a prompt.
    const list = ["❯ an earlier prompt", "─".repeat(40), "❯\u00a01. run the tests", "  2. fix them", "  Do you want to proceed?", "─".repeat(40)];
    expect(composerVerdict(list.join("\n"), "1. run the tests\n2. fix them\nDo you want to proceed?")).toBe("ok");
    // A dialog's short row is not excused by the text happening to hold it.
    const dialog = ["❯ say No if unsure", "● ok", "", " Overwrite notes.txt?", "   ❯ No", "     Yes"];
    expect(openPrompt(dialog.join("\n"), "say No if unsure")).toBe("a menu: ❯ No");
    // tmux draws an emoji's variation selector as a second column.
    expect(composerVerdict(claude("‼️  CI is red, look at it"), "‼️ CI is red, look at it")).toBe("ok");
    expect(composerVerdict(claude("テストが失敗しています"), "テストが失敗しています")).toBe("ok");
    expect(composerVerdict(["› an earlier prompt", "• an answer", "", "› carry on", "", "  100% context left"].join("\n"), "carry on")).toBe("ok");
    // The owner's deliberate command shows as itself.
    expect(composerVerdict(claude("/compact"), "/compact")).toBe("ok");
  });

  it("holds a composer that took the text's start as keys: a command it did not type, shell mode, a garbled start", () => {
    // vim normal mode: `i` entered insert mode and `/clear` was typed; the slash menu is indented.
    const slash = claude("/clear", ["❯ an earlier prompt", "  ❯ /clear        Start a new session with empty context"]);
    expect(composerVerdict(slash, "i/clear")).toBe('the composer shows "/clear", a command the text did not start with');
    expect(composerVerdict(claude("/clear"), "/compact")).toBe('the composer shows "/clear", a command the text did not start with');
    expect(composerVerdict(claude("!rm -rf build"), "i!rm -rf build")).toContain("a command the text did not start with");
    expect(composerVerdict(claude("＃ note"), "i＃ note")).toContain("a command the text did not start with");
    expect(composerVerdict(["─".repeat(40), "! echo hi", "─".repeat(40), "  -- INSERT -- ! for shell mode"].join("\n"), "i!echo hi")).toBe(
      "the agent is in shell mode (its composer starts with `!`)",
    );
    // `o` opened a line below and the text went there; a draft of the user's own is in front.
    expect(composerVerdict(claude(""), "o/clear")).toBe('the composer shows "", not the text as typed');
    expect(composerVerdict(claude("my draft carry on"), "carry on")).toBe('the composer shows "my draft carry on", not the text as typed');
    // Keys read before a paste show in front of its placeholder.
    expect(composerVerdict(claude("/clear[Pasted text #1]"), `i/clear ${"x".repeat(1000)}`)).toContain("a command the text did not start with");
    expect(composerVerdict(claude("x[Pasted text #1]"), `ix ${"x".repeat(1000)}`)).toBe('the composer shows "x[Pasted text #1]", not the text as typed');
    // Codex's placeholder: the typed text has not shown yet.
    expect(composerVerdict(["› Ask Codex to do anything", "", "  100% context left"].join("\n"), "carry on")).toContain("not the text as typed");
  });

  it("reads shell mode as the text's own when the text starts with `!`, and a pane with no composer as a no", () => {
    expect(composerVerdict(["─".repeat(40), "! ls -la", "─".repeat(40)].join("\n"), "!ls -la")).toBe("ok");
    // The agent quit to its shell: typed text there is a command.
    expect(composerVerdict("bash-5.2# touch /tmp/x; echo hi\n", "touch /tmp/x; echo hi")).toBe("no agent composer shows in the pane");
    expect(composerVerdict("user: ❯ not at the first column", "x")).toBe("no agent composer shows in the pane");
    // A first line that shows nothing would match any composer.
    expect(composerVerdict(claude(""), "\u3164")).toBe("the text's first line shows nothing on screen");
  });

  it("compares what a terminal draws: emoji modifiers, variation selectors, joiners, decomposed letters, padding", () => {
    expect(composerVerdict(claude("⚠ build failed"), "⚠\ufe0fbuild failed")).toBe("ok");
    expect(composerVerdict(claude("👍 great"), "👍\u{1F3FD} great")).toBe("ok");
    expect(composerVerdict(claude("🏳 🌈 flag"), "🏳\ufe0f\u200d🌈 flag")).toBe("ok");
    expect(composerVerdict(claude("\u00e9t\u00e9 fini"), "e\u0301te\u0301 fini")).toBe("ok");
  });

  it("holds a composer that has scrolled, whose start is out of sight, and never takes a sent prompt for it", () => {
    // Claude Code: the ❯ row scrolled away; the lowest ❯ is a prompt sent earlier, which began like the text.
    const claudeScrolled = ["❯ i/clear is just a note", "● PONG-2", "─── ↑ 40 more ───", "", "", "  thanks", "─".repeat(40), "  ⏸ manual mode on"];
    expect(composerVerdict(claudeScrolled.join("\n"), `i/clear${"\n".repeat(40)}thanks`)).toBe("the composer has scrolled: its start is out of sight");
    // Codex keeps › on its top visible row and marks it with ↑.
    const codexScrolled = ["› i/new hello                              ↑", "  g1", "  g2", "", "  100% context left"];
    expect(composerVerdict(codexScrolled.join("\n"), "i/new\nf1\ni/new hello\ng1\ng2")).toBe("the composer has scrolled: its start is out of sight");
  });

  it("holds while a dialog shows below the composer-glyph line: Claude Code's rewind list, a confirmation", () => {
    // Drawn after the hostile review's description of Claude Code's rewind list (not a recording).
    const rewind = [
      "❯ Please write notes.txt",
      "● Wrote notes.txt",
      "",
      " Rewind",
      "",
      "   ❯ Please write notes.txt",
      "     (current)",
      "",
      " Enter to continue · Esc to exit",
    ];
    expect(composerVerdict(rewind.join("\n"), "Please write")).toBe("the pane shows a menu: ❯ Please write notes.txt");
    expect(openPrompt([...rewind.slice(0, 4), " Restore the code and the conversation?", " Enter to confirm · Esc to cancel"].join("\n"))).toBe(
      "enter to confirm: Enter to confirm · Esc to cancel",
    );
  });
});

describe("openPrompt", () => {
  const pane = (name: string) => readFileSync(new URL(`../../fixtures/panes/${name}.txt`, import.meta.url), "utf8");

  it("names the menu or prompt a recorded pane shows, where typed text would answer it", () => {
    expect(openPrompt(pane("codex-approval_prompt"))).toBe("a menu: › 1. Yes, proceed (y)");
    expect(openPrompt(pane("claude-approval_prompt"))).toBe("a menu: ❯ 1. Yes");
    expect(openPrompt(pane("claude-approval_prompt-write"))).toMatch(/^a menu: ❯ 1\. Yes/);
    expect(openPrompt(pane("claude-trust_prompt"))).toBe("a menu: ❯ No, exit");
    expect(openPrompt(pane("codex-trust_prompt"))).toMatch(/^a menu: › 1\. /);
    // Without a numbered menu, the prompt's words.
    expect(openPrompt(["● done", "", " Do you want to proceed?", " Esc to cancel"].join("\n"))).toBe("approval prompt: Do you want to proceed?");
  });

  it("is null for a composer, idle or busy, with or without a draft, whatever the history above it says", () => {
    for (const name of [
      "claude-idle",
      "claude-busy",
      "claude-busy-with-queued-message",
      "claude-idle-with-draft",
      "claude-turn_complete-after-tool",
      "codex-idle",
      "codex-busy",
      "codex-idle-with-draft",
      "codex-turn_complete-after-tool",
      "codex-turn_complete-after-steer",
    ]) {
      expect(openPrompt(pane(name)), name).toBeNull();
    }
    // An agent quoting a prompt or a menu in its answer, above the composer.
    const quoted = [
      "› pick one",
      "• Do you want to proceed? Press enter to confirm.",
      "› 1. Yes, proceed (y)",
      "• ok",
      "",
      "› Ask Codex to do anything",
      "",
      "  100% context left",
    ];
    expect(openPrompt(quoted.join("\n"))).toBeNull();
  });
});
