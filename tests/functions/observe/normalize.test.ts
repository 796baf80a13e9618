import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { normalizeClaudeLine, normalizeCodexLine, stateEffect } from "../../../functions/observe/normalize.ts";

const fixture = (name: string) =>
  readFileSync(fileURLToPath(new URL(`../../fixtures/transcripts/${name}`, import.meta.url)), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));

/** The significant events of a transcript, as kind:text pairs. */
function significant(events: ReturnType<typeof normalizeCodexLine>) {
  return events.filter((e) => e.kind !== "other").map((e) => (e.text ? `${e.kind}:${e.text}` : e.kind));
}

describe("Codex rollout (real 0.169 capture)", () => {
  const events = fixture("codex-rollout-basic.jsonl").flatMap(normalizeCodexLine);

  it("maps two turns onto started, user message, agent message, complete", () => {
    expect(significant(events)).toEqual([
      "task_started",
      "user_message:Say PONG please",
      "agent_message:Hello from the stub: PONG-1",
      "task_complete:Hello from the stub: PONG-1",
      "task_started",
      "user_message:Now a slow one",
      "agent_message:slow reply PONG-2",
      "task_complete:slow reply PONG-2",
    ]);
  });

  it("keeps the raw subtype and does not count context copies of messages", () => {
    expect(events.filter((e) => e.kind === "user_message").map((e) => e.subtype)).toEqual(["item_completed.UserMessage", "item_completed.UserMessage"]);
    expect(events.filter((e) => e.subtype === "message").every((e) => e.kind === "other")).toBe(true);
  });

  it("ends idle: the last state-moving event is the completion", () => {
    const last = events.filter((e) => stateEffect(e) !== null).at(-1)!;
    expect(stateEffect(last)).toBe("idle");
  });
});

describe("Codex rollout (older event_msg shapes)", () => {
  it("maps user_message, agent_message, tool calls and aborts", () => {
    const lines = [
      { type: "event_msg", payload: { type: "user_message", message: "hi" } },
      { type: "response_item", payload: { type: "function_call", name: "shell", arguments: '{"cmd":"ls"}' } },
      { type: "event_msg", payload: { type: "exec_command_begin", command: ["ls", "-la"] } },
      { type: "event_msg", payload: { type: "agent_message", message: "listed" } },
      { type: "event_msg", payload: { type: "turn_aborted", reason: "interrupted" } },
    ];
    const out = lines.flatMap(normalizeCodexLine);
    expect(out.map((e) => e.kind)).toEqual(["user_message", "tool_activity", "tool_activity", "agent_message", "error"]);
    expect(out[1]!.tool).toBe("shell");
    expect(out[2]!.tool).toBe("ls");
    expect(stateEffect(out[4]!)).toBe("idle");
  });
});

describe("Claude Code transcript lines", () => {
  it("maps prompts, text, tool use, tool results and end_turn", () => {
    const lines = [
      { type: "user", timestamp: "2026-11-21T10:00:00.000Z", message: { role: "user", content: "fix the bug" } },
      {
        type: "assistant",
        message: {
          role: "assistant",
          content: [
            { type: "text", text: "Looking" },
            { type: "tool_use", name: "Bash", input: {} },
          ],
          stop_reason: "tool_use",
        },
      },
      { type: "user", message: { role: "user", content: [{ type: "tool_result", tool_use_id: "t1", content: "ok" }] } },
      { type: "assistant", message: { role: "assistant", content: [{ type: "text", text: "Fixed." }], stop_reason: "end_turn" } },
      { type: "user", isMeta: true, message: { role: "user", content: "<local-command-caveat>" } },
      { type: "summary", summary: "Bug fix" },
      { type: "assistant", isSidechain: true, message: { role: "assistant", content: [{ type: "text", text: "sub-agent done" }], stop_reason: "end_turn" } },
    ];
    const out = lines.flatMap(normalizeClaudeLine);
    expect(out.map((e) => `${e.kind}/${e.subtype}`)).toEqual([
      "user_message/user",
      "agent_message/text",
      "tool_activity/tool_use",
      "tool_activity/tool_result",
      "agent_message/text",
      "task_complete/end_turn",
      "other/user_meta",
      "other/summary",
      "other/sidechain_assistant",
    ]);
    expect(out[0]!.eventAt).toBe(Date.parse("2026-11-21T10:00:00.000Z"));
    expect(out[2]!.tool).toBe("Bash");
  });
});

describe("real captures of tool turns and rate-limit errors", () => {
  const kinds = (name: string, fn: typeof normalizeCodexLine) => significant(fixture(name).flatMap(fn)).map((k) => k.split(":")[0]);

  it("Codex tool turn: the command execution is tool activity inside one busy turn", () => {
    expect(kinds("codex-rollout-tool-approval.jsonl", normalizeCodexLine)).toEqual([
      "task_started",
      "user_message",
      "tool_activity",
      "tool_activity",
      "tool_activity",
      "agent_message",
      "task_complete",
    ]);
  });

  it("Claude tool turn: tool_use and tool_result, then end_turn", () => {
    expect(kinds("claude-transcript-tool-approval.jsonl", normalizeClaudeLine)).toEqual([
      "user_message",
      "tool_activity",
      "tool_activity",
      "agent_message",
      "task_complete",
    ]);
  });

  it("a Claude API error (429) ends the turn: the session is idle, not busy forever", () => {
    const events = fixture("claude-transcript-error-429.jsonl").flatMap(normalizeClaudeLine);
    const last = events.filter((e) => stateEffect(e) !== null).at(-1)!;
    expect(last.kind).toBe("error");
    expect(stateEffect(last)).toBe("idle");
  });

  it("Claude basic transcript maps two turns", () => {
    expect(significant(fixture("claude-transcript-basic.jsonl").flatMap(normalizeClaudeLine))).toEqual([
      "user_message:Say PONG please",
      "agent_message:Hello from the stub: PONG-1",
      "task_complete:Hello from the stub: PONG-1",
      "user_message:Now a slow one",
      "agent_message:slow reply PONG-2",
      "task_complete:slow reply PONG-2",
    ]);
  });
});
