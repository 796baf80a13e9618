// Checks the pane classifier and transcript markers against the real captures in
// tests/fixtures (recorded from Codex 0.169.0 and Claude Code 2.1.329; see docs/notes/agent-clis.md).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { classifyTranscriptLine, countTurnsComplete, lastTurnRegion, paneState, readJsonl, type AgentKind, type PaneState } from "../helpers/agents.ts";

const PANES = join(import.meta.dirname, "../fixtures/panes");
const TRANSCRIPTS = join(import.meta.dirname, "../fixtures/transcripts");

/** File name → expected state: <cli>-<state>[-variant].txt; errors map to rate_limit. */
function expected(file: string): { kind: AgentKind; state: PaneState } {
  const [kind, rest] = [file.slice(0, file.indexOf("-")) as AgentKind, file.slice(file.indexOf("-") + 1)];
  if (rest.startsWith("error-429")) return { kind, state: "rate_limit" };
  if (rest.startsWith("turn_complete")) return { kind, state: "idle" };
  const state = ["trust_prompt", "approval_prompt", "busy", "idle"].find((s) => rest.startsWith(s)) as PaneState;
  return { kind, state };
}

describe("pane captures", () => {
  const files = readdirSync(PANES).filter((f) => f.endsWith(".txt"));
  it("has captures for both CLIs", () => {
    expect(files.some((f) => f.startsWith("codex-"))).toBe(true);
    expect(files.some((f) => f.startsWith("claude-"))).toBe(true);
  });
  it.each(files)("%s", (file) => {
    const { kind, state } = expected(file);
    expect(paneState(kind, readFileSync(join(PANES, file), "utf8"))).toBe(state);
  });
  it("an old error above a newer completed turn is not a rate limit", () => {
    const stale = readFileSync(join(PANES, "codex-error-429.txt"), "utf8").replace(
      "› Ask Codex to do anything",
      "› Try again\n\n• Fine now\n\n› Ask Codex to do anything",
    );
    expect(lastTurnRegion(stale)).not.toMatch(/429/);
    expect(paneState("codex", stale)).toBe("idle");
  });
});

describe("transcripts", () => {
  it("codex rollout: task_started/task_complete pairs and item_completed messages", () => {
    const lines = readJsonl(join(TRANSCRIPTS, "codex-rollout-basic.jsonl"));
    expect(lines[0]?.type).toBe("session_meta");
    const events = lines.filter((l) => l.type === "event_msg").map((l) => l.payload.type);
    expect(events.filter((t) => t === "task_started")).toHaveLength(2);
    expect(countTurnsComplete("codex", join(TRANSCRIPTS, "codex-rollout-basic.jsonl"))).toBe(2);
    const items = lines.filter((l) => l.type === "event_msg" && l.payload.type === "item_completed").map((l) => l.payload.item.type);
    expect(items).toEqual(["UserMessage", "AgentMessage", "UserMessage", "AgentMessage"]);
  });
  it("codex rollout: an HTTP failure still ends the turn, with task_complete.error", () => {
    const lines = readJsonl(join(TRANSCRIPTS, "codex-rollout-error-429.jsonl"));
    const done = lines.find((l) => l.type === "event_msg" && l.payload.type === "task_complete");
    expect(done?.payload.last_agent_message).toBeNull();
    expect(done?.payload.error.codex_error_info.response_too_many_failed_attempts.http_status_code).toBe(429);
  });
  it("codex rollout: tool call → CommandExecution → function_call_output", () => {
    const lines = readJsonl(join(TRANSCRIPTS, "codex-rollout-tool-approval.jsonl"));
    const kinds = lines.filter((l) => l.type === "response_item").map((l) => l.payload.type);
    expect(kinds).toContain("function_call");
    expect(kinds).toContain("function_call_output");
    const exec = lines.find((l) => l.type === "event_msg" && l.payload.item?.type === "CommandExecution");
    expect(exec?.payload.item.exit_code).toBe(0);
  });
  it("claude transcript: user → assistant end_turn → system/turn_duration per turn", () => {
    const file = join(TRANSCRIPTS, "claude-transcript-basic.jsonl");
    const lines = readJsonl(file);
    const prompts = lines.filter((l) => l.type === "user" && typeof l.message?.content === "string");
    expect(prompts.map((l) => l.message.content)).toEqual(["Say PONG please", "Now a slow one"]);
    const ends = lines.filter((l) => l.type === "assistant" && l.message?.stop_reason === "end_turn");
    expect(ends).toHaveLength(2);
    expect(countTurnsComplete("claude", file)).toBe(2);
  });
  it("claude transcript: an API error is an assistant line with isApiErrorMessage and no turn_duration", () => {
    const file = join(TRANSCRIPTS, "claude-transcript-error-429.jsonl");
    const err = readJsonl(file).find((l) => l.type === "assistant" && l.isApiErrorMessage);
    expect(err?.error).toBe("rate_limit");
    expect(countTurnsComplete("claude", file)).toBe(0);
  });
  it("claude transcript: tool_use then a user tool_result line", () => {
    const lines = readJsonl(join(TRANSCRIPTS, "claude-transcript-tool-approval.jsonl"));
    const use = lines.find((l) => l.type === "assistant" && l.message?.stop_reason === "tool_use");
    expect(use?.message.content[0].name).toBe("Bash");
    const result = lines.find((l) => l.type === "user" && Array.isArray(l.message?.content) && l.message.content[0]?.type === "tool_result");
    expect(result?.message.content[0].content).toContain("TOOL-OUTPUT-42");
  });
});

describe("classifyTranscriptLine on the recorded transcripts", () => {
  const seq = (kind: AgentKind, file: string) =>
    readJsonl(join(TRANSCRIPTS, file))
      .map((l) => classifyTranscriptLine(kind, l))
      .filter((e) => e !== null);
  it.each([
    [
      "codex",
      "codex-rollout-basic.jsonl",
      ["task_started", "user_message", "agent_message", "task_complete", "task_started", "user_message", "agent_message", "task_complete"],
    ],
    [
      "codex",
      "codex-rollout-tool-approval.jsonl",
      ["task_started", "user_message", "tool_activity", "tool_activity", "tool_activity", "agent_message", "task_complete"],
    ],
    ["codex", "codex-rollout-error-429.jsonl", ["task_started", "user_message", "error"]],
    ["codex", "codex-rollout-interrupted.jsonl", ["task_started", "user_message", "task_complete"]],
    ["claude", "claude-transcript-basic.jsonl", ["user_message", "agent_message", "task_complete", "user_message", "agent_message", "task_complete"]],
    ["claude", "claude-transcript-tool-approval.jsonl", ["user_message", "tool_activity", "tool_activity", "agent_message", "task_complete"]],
    ["claude", "claude-transcript-error-429.jsonl", ["user_message", "error"]],
    ["claude", "claude-transcript-interrupted.jsonl", ["user_message"]],
    // A prompt typed while busy: Codex steers it into the running turn, Claude queues a new turn.
    ["codex", "codex-rollout-steer-while-busy.jsonl", ["task_started", "user_message", "user_message", "agent_message", "task_complete"]],
    [
      "claude",
      "claude-transcript-queued-while-busy.jsonl",
      ["user_message", "agent_message", "task_complete", "user_message", "agent_message", "task_complete"],
    ],
    ["claude", "claude-transcript-write-approval.jsonl", ["user_message", "tool_activity", "tool_activity", "agent_message", "task_complete"]],
  ] as const)("%s %s", (kind, file, expectedSeq) => {
    expect(seq(kind, file)).toEqual(expectedSeq);
  });
});
