import { describe, expect, it } from "vitest";
import { printAnswer, terminalSafe } from "../../../local-runner/cli/output.ts";
import type { CommandSpec } from "../../../local-runner/cli/spec.ts";

describe("terminal output", () => {
  it("shows control characters as \\xNN and keeps newlines, tabs and Unicode", () => {
    expect(terminalSafe("Stop\x1b]52;c;b3duZWQ=\x07 ok\tüñí 🚀\nnext\x9b2K")).toBe("Stop\\x1b]52;c;b3duZWQ=\\x07 ok\tüñí 🚀\nnext\\x9b2K");
  });

  it("prints what a hook or an agent wrote without a raw escape sequence, on stdout and stderr; --json stays the wire body", () => {
    const lines: Array<[string, string]> = [];
    const io = { out: (t: string) => lines.push(["out", t]), err: (t: string) => lines.push(["err", t]) };
    const spec = { render: (b: any) => b.events.map((e: any) => e.event).join("\n") } as unknown as CommandSpec;
    printAnswer(spec, {} as never, false, { status: 200, body: { events: [{ event: "Stop\x1b[2K\x1b]0;owned\x07" }] } } as never, io);
    printAnswer(spec, {} as never, false, { status: 404, body: { error: { code: "NOT_FOUND", message: "no \x1b[8mhidden" } } } as never, io);
    expect(lines).toEqual([
      ["out", "Stop\\x1b[2K\\x1b]0;owned\\x07"],
      ["err", "error: NOT_FOUND: no \\x1b[8mhidden"],
    ]);
    const json: string[] = [];
    printAnswer(spec, {} as never, true, { status: 200, body: { events: [{ event: "a\x1bb" }] } } as never, { out: (t) => json.push(t), err: () => {} });
    expect(JSON.parse(json[0]!).events[0].event).toBe("a\x1bb");
  });
});

describe("the local commands' printer", () => {
  it("shows control characters from an answer as \\xNN there too, in renderings and errors", async () => {
    const { errorText } = await import("../../../local-runner/cli/api-call.ts");
    expect(errorText({ status: 409, body: { error: { code: "CONFLICT", message: "held by \x1b]0;owned\x07", hint: "ask \x1b[8mx" } } } as never)).toBe(
      "error: CONFLICT: held by \\x1b]0;owned\\x07\nhint: ask \\x1b[8mx",
    );
  });
});
