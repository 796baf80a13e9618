import { describe, expect, it } from "vitest";
import { agentArgv } from "../../../functions/actuate/agents.ts";
import { makeCtx } from "../../../functions/lib/ctx.ts";
import type { Database } from "../../../functions/lib/db.ts";
import { hasControlBytes, PaneTextField, paneText } from "../../../functions/lib/pane-text.ts";

describe("paneText", () => {
  it.each([
    ["an SGR colour sequence", "hi\x1b[31mred\x1b[0m", "hired"],
    ["Ctrl-C", "a\x03b", "ab"],
    ["an OSC title with BEL", "x\x1b]0;title\x07y", "xy"],
    ["an OSC with ST", "x\x1b]52;c;Zm9v\x1b\\y", "xy"],
    ["an SS3 key (F1)", "q\x1bOPz", "qz"],
    ["a lone trailing ESC", "tail\x1b", "tail"],
    ["a DCS string", "\x1bPq#0;2;0;0;0\x1b\\after", "after"],
    ["a C1 CSI", "\u009b31mx", "31mx"],
    ["DEL and NUL", "a\x7fb\x00c", "abc"],
    ["Escape then bracket keys", "\x1b[A\x1b[B", ""],
  ])("removes %s", (_what, input, out) => {
    expect(paneText(input)).toBe(out);
    expect(hasControlBytes(input)).toBe(true);
  });

  it("keeps text, newlines and Unicode; a carriage return becomes a newline and a tab a space", () => {
    expect(paneText("l1\r\nl2\rl3\n\tok ünïcødé 🚀 日本")).toBe("l1\nl2\nl3\n ok ünïcødé 🚀 日本");
    expect(hasControlBytes("l1\r\nl2\tx 🚀")).toBe(false);
  });

  it("drops invisible format characters (zero-width space and joiners, bidi controls, BOM)", () => {
    expect(paneText("\u200b/help \u202eevil\u202c \ufeffok")).toBe("/help evil ok");
  });

  it("leaves no byte that tmux send-keys -l would turn into a key", () => {
    let all = "";
    for (let c = 0; c < 0x200; c++) all += String.fromCharCode(c);
    const out = paneText(all);
    expect([...out].filter((ch) => ch !== "\n" && (ch.charCodeAt(0) < 0x20 || (ch.charCodeAt(0) >= 0x7f && ch.charCodeAt(0) <= 0x9f)))).toEqual([]);
  });

  it("PaneTextField refuses control bytes with a message pointing at the interrupt route", () => {
    const r = PaneTextField(100).safeParse("stop\x1b now\x03");
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.message).toMatch(/session-interrupt/);
    expect(PaneTextField(100).safeParse("two\nlines\tand tab").success).toBe(true);
  });
});

describe("agentArgv", () => {
  const ctx = makeCtx(
    { database: {} as Database, agents: { codex: { command: ["codex"] }, claude: { command: ["claude"] } } },
    { kind: "owner", tokenId: "t" },
  );

  it("passes the prompt after `--`, so a prompt that looks like an option stays a prompt", () => {
    const { command } = agentArgv(ctx, "codex", { cwd: "/w", prompt: "--dangerously-bypass-approvals-and-sandbox" });
    expect(command).toEqual(["codex", "--cd", "/w", "--", "--dangerously-bypass-approvals-and-sandbox"]);
    expect(agentArgv(ctx, "claude", { cwd: "/w", prompt: "-p hi" }).command).toEqual(["claude", "--", "-p hi"]);
  });

  it("makes the prompt literal text and leaves out an empty one", () => {
    expect(agentArgv(ctx, "codex", { cwd: "/w", prompt: "go\x1b[2J\x03 now" }).command.at(-1)).toBe("go now");
    expect(agentArgv(ctx, "codex", { cwd: "/w", prompt: "\x1b[2J" }).command).toEqual(["codex", "--cd", "/w"]);
  });
});
