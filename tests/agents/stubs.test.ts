// The loopback model stubs on their own: scripted turns, side requests, errors.
import { afterEach, describe, expect, it } from "vitest";
import { startAnthropicMessagesStub } from "../fixtures/stubs/anthropic-messages.ts";
import type { StubServer } from "../fixtures/stubs/common.ts";
import { startOpenAIResponsesStub } from "../fixtures/stubs/openai-responses.ts";

let stub: StubServer | undefined;
afterEach(async () => {
  await stub?.close();
  stub = undefined;
});

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  return { status: res.status, text: await res.text() };
}

function events(sse: string): Array<{ event: string; data: any }> {
  return sse
    .split("\n\n")
    .filter((b) => b.trim())
    .map((b) => {
      const event = /^event: (.*)$/m.exec(b)?.[1] ?? "";
      const data = JSON.parse(/^data: (.*)$/m.exec(b)?.[1] ?? "null");
      return { event, data };
    });
}

describe("OpenAI Responses stub", () => {
  it("streams a scripted answer ending in response.completed with usage", async () => {
    stub = await startOpenAIResponsesStub(["hello there"]);
    expect(stub.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const r = await post(`${stub.url}/v1/responses`, { tools: [{ type: "function", name: "exec_command" }], input: [] });
    const ev = events(r.text);
    expect(ev[0]?.event).toBe("response.created");
    expect(
      ev
        .filter((e) => e.event === "response.output_text.delta")
        .map((e) => e.data.delta)
        .join(""),
    ).toBe("hello there");
    const done = ev.at(-1)!;
    expect(done.event).toBe("response.completed");
    expect(done.data.response.usage.total_tokens).toBeGreaterThan(0);
    expect(stub.requests.map((q) => q.kind)).toEqual(["main"]);
  });

  it("answers Codex's thread-title side request from the schema without consuming a turn", async () => {
    stub = await startOpenAIResponsesStub(["turn one"]);
    const meta = JSON.stringify({ thread_source: "thread_title" });
    const body = { tools: [], text: { format: { type: "json_schema", schema: { properties: { title: { type: "string" } } } } } };
    const r = await post(`${stub.url}/v1/responses`, body, { "x-codex-turn-metadata": meta });
    const item = events(r.text).find((e) => e.event === "response.output_item.done")!.data.item;
    expect(JSON.parse(item.content[0].text)).toEqual({ title: "Stub task" });
    expect(stub.turns).toEqual(["turn one"]);
  });

  it("uses the advertised exec_command tool for shell turns, escalated on request", async () => {
    stub = await startOpenAIResponsesStub([{ shell: "ls", escalate: true }]);
    const r = await post(`${stub.url}/v1/responses`, { tools: [{ type: "function", name: "exec_command" }] });
    const item = events(r.text).find((e) => e.event === "response.output_item.done")!.data.item;
    expect(item.type).toBe("function_call");
    expect(item.name).toBe("exec_command");
    expect(JSON.parse(item.arguments)).toMatchObject({ cmd: "ls", sandbox_permissions: "require_escalated" });
  });

  it("repeats an HTTP error the scripted number of times, with its headers", async () => {
    stub = await startOpenAIResponsesStub([{ httpError: { status: 429, message: "slow down", repeat: 2, headers: { "retry-after": "7" } } }, "ok"]);
    const tools = { tools: [{ type: "function", name: "x" }] };
    const a = await fetch(`${stub.url}/v1/responses`, { method: "POST", body: JSON.stringify(tools) });
    expect(a.status).toBe(429);
    expect(a.headers.get("retry-after")).toBe("7");
    expect((await post(`${stub.url}/v1/responses`, tools)).status).toBe(429);
    expect((await post(`${stub.url}/v1/responses`, tools)).text).toContain("response.completed");
  });

  it("records unknown routes and answers 404", async () => {
    stub = await startOpenAIResponsesStub();
    expect((await post(`${stub.url}/v1/nope`, {})).status).toBe(404);
    expect(stub.requests[0]?.kind).toBe("unknown");
  });
});

describe("Anthropic Messages stub", () => {
  it("streams message_start … message_stop with end_turn for a text turn", async () => {
    stub = await startAnthropicMessagesStub(["hi from claude"]);
    const r = await post(`${stub.url}/v1/messages?beta=true`, { stream: true, tools: [{ name: "Bash" }], messages: [] });
    const ev = events(r.text);
    expect(ev.map((e) => e.event)).toEqual([
      "message_start",
      "ping",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    expect(
      ev
        .filter((e) => e.event === "content_block_delta")
        .map((e) => e.data.delta.text)
        .join(""),
    ).toBe("hi from claude");
    expect(ev.find((e) => e.event === "message_delta")!.data.delta.stop_reason).toBe("end_turn");
  });

  it("sends Bash tool_use for shell turns and leaves tool-less side requests off the script", async () => {
    stub = await startAnthropicMessagesStub([{ shell: "echo hi" }]);
    const side = await post(`${stub.url}/v1/messages`, { stream: false, messages: [] });
    expect(JSON.parse(side.text).content[0].text).toBe("Stub");
    const r = await post(`${stub.url}/v1/messages`, { stream: false, tools: [{ name: "Bash" }] });
    const msg = JSON.parse(r.text);
    expect(msg.stop_reason).toBe("tool_use");
    expect(msg.content[0]).toMatchObject({ type: "tool_use", name: "Bash", input: { command: "echo hi" } });
    expect(stub.requests.map((q) => q.kind)).toEqual(["aux", "main"]);
  });

  it("answers count_tokens", async () => {
    stub = await startAnthropicMessagesStub();
    expect(JSON.parse((await post(`${stub.url}/v1/messages/count_tokens`, {})).text).input_tokens).toBeGreaterThan(0);
  });
});
