import { describe, expect, it } from "vitest";
import { renderDefault } from "../../../local-runner/cli/main.ts";
import { block, duration, inline, seconds } from "../../../local-runner/cli/format.ts";

describe("duration", () => {
  it("shows the two largest units, rounded to seconds above one second", () => {
    const cases: Array<[number, string]> = [
      [0, "0ms"],
      [850, "850ms"],
      [1_000, "1s"],
      [42_400, "42s"],
      [192_000, "3m 12s"],
      [3_600_000, "1h"],
      [7_500_000, "2h 5m"],
      [273_600_000, "3d 4h"],
      [-65_000, "-1m 5s"],
    ];
    for (const [ms, text] of cases) expect(duration(ms), String(ms)).toBe(text);
    expect(duration(null)).toBe("-");
    expect(seconds(90)).toBe("1m 30s");
    expect(seconds(null)).toBe("-");
  });
});

describe("readable rendering of answers", () => {
  const answer = {
    name: "heartbeat-sweep",
    waited_ms: 192_000,
    staleness_seconds: 75,
    report: { stale: ["w1", "w2"], flagged: [], note: "two workers stale" },
    items: [{ id: "inb_1", kind: "message" }],
  };

  it("prints key: value lines, never JSON", () => {
    const text = renderDefault(answer);
    expect(text).not.toMatch(/[{}"]\s*:|^\s*[{[]/m);
    expect(text).toBe(
      [
        "name: heartbeat-sweep",
        "waited_ms: 3m 12s",
        "staleness_seconds: 1m 15s",
        "report:",
        "  stale: w1, w2",
        "  flagged: (none)",
        '  note: "two workers stale"',
        "items:",
        "  - id=inb_1 kind=message",
      ].join("\n"),
    );
    expect(block(answer.report, "  ").split("\n")[0]).toBe("  stale: w1, w2");
  });

  it("prints one line of key=value pairs for event payloads", () => {
    expect(inline({ command_id: "cmd_1", text: "run the tests", dry_run: false, nested: { a: 1 }, waited_ms: 1500 })).toBe(
      'command_id=cmd_1 text="run the tests" dry_run=false nested.a=1 waited_ms=2s',
    );
    expect(inline({ long: "x".repeat(500) }).length).toBeLessThan(180);
  });
});
