import { describe, expect, it } from "vitest";
import { builtinDraft, draftAdvice, DrafterError, parseDrafterOutput } from "../../../functions/broker/drafter.ts";
import { MAX_ADVICE_CHARS } from "../../../functions/broker/schema.ts";

const packet = {
  request: {
    message_id: "msg_2",
    from_session: "auth-worker",
    subject: "flaky tests",
    body: "The login tests fail about one run in five. Should I add retries or fix the fixture?",
  },
  requester: {
    session: { name: "auth-worker", last_heartbeat_at: "2026-11-21T11:59:00.000Z", cwd: "/src/auth" },
    binding: { requester_role: "worker", worker: "auth-worker", worker_state: "active", manager: "lead", manager_state: "active" },
    task: { name: "auth-refactor", goal: "Split the session module without changing behaviour", state: "active" },
  },
  thread: {
    total_messages: 2,
    messages: [
      { id: "msg_1", msg_type: "reply", body: "Start by pinning the clock in the fixture." },
      { id: "msg_2", msg_type: "request", body: "The login tests fail…" },
    ],
  },
  recent_activity: [
    { kind: "command_failed", created_at: "2026-11-21T11:58:00.000Z" },
    { kind: "session_heartbeat", created_at: "2026-11-21T11:57:00.000Z" },
  ],
};

describe("builtinDraft", () => {
  it("is deterministic and built from the packet: question, context, steps, open questions", () => {
    const text = builtinDraft(packet);
    expect(builtinDraft(structuredClone(packet))).toBe(text);
    expect(text).toContain("Advice for auth-worker — re: flaky tests");
    expect(text).toContain("The login tests fail about one run in five. Should I add retries or fix the fixture?");
    expect(text).toContain("Task: auth-refactor (active) — goal: Split the session module without changing behaviour.");
    expect(text).toContain("You are the worker on it; worker auth-worker is active, manager lead is active.");
    expect(text).toContain('the last reply said: "Start by pinning the clock in the fixture."');
    expect(text).toContain("The most recent failure-like event is command_failed at 2026-11-21T11:58:00.000Z.");
    expect(text).toMatch(/Suggested next steps:\n1\. Start from the latest failure \(command_failed\)/);
    expect(text).toContain("Run the smallest failing test on its own first");
    expect(text).toContain("Write down the options with one trade-off each");
    expect(text).toContain("What changed since the last reply on this thread?");
  });

  it("says what is missing when the requester has no task and states no question", () => {
    const text = builtinDraft({ request: { body: "the build is broken" }, requester: {}, thread: { messages: [] }, recent_activity: [] });
    expect(text).toContain("the requesting session is not bound to an active task.");
    expect(text).toContain("Which task is this for?");
    expect(text).toContain("What exact decision or answer do you need?");
    expect(text).toContain("Reproduce the error with one exact command");
  });
});

describe("parseDrafterOutput and draftAdvice", () => {
  it("accepts {draft} and keeps other fields as metadata", () => {
    expect(parseDrafterOutput('{"draft":"Do X.","model":"m1"}', "cmd")).toEqual({
      text: "Do X.",
      meta: { drafter: "external", command: "cmd", output: { model: "m1" } },
    });
  });

  it("refuses invalid JSON, a missing or blank draft, and an oversized one", () => {
    expect(() => parseDrafterOutput("", "cmd")).toThrow(/invalid JSON: \(empty output\)/);
    expect(() => parseDrafterOutput("[1]", "cmd")).toThrow(/returned no draft/);
    expect(() => parseDrafterOutput('{"draft": 3}', "cmd")).toThrow(DrafterError);
    expect(() => parseDrafterOutput(JSON.stringify({ draft: "x".repeat(MAX_ADVICE_CHARS + 1) }), "cmd")).toThrow(/the limit is/);
  });

  it("uses the built-in drafter unless an external one is configured or forced", async () => {
    expect((await draftAdvice(packet, undefined)).meta).toEqual({ drafter: "builtin" });
    const external = { label: "ext", run: async () => '{"draft":"From outside."}' };
    expect((await draftAdvice(packet, external)).text).toBe("From outside.");
    expect((await draftAdvice(packet, external, "builtin")).meta.drafter).toBe("builtin");
    await expect(draftAdvice(packet, undefined, "external")).rejects.toThrow(/none is configured/);
  });
});
