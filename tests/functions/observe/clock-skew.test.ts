import { describe, expect, it } from "vitest";
import { lineBounds, observedAt, SKEW_TOLERANCE_MS, updateSkew } from "../../../functions/observe/clock-skew.ts";

const look = (size: number, at: number) => ({ size, at });

describe("clock skew", () => {
  it("bounds a line by the looks around it: after the previous look only if it starts past what that look saw", () => {
    expect(lineBounds(100, 150, look(100, 1_000), look(200, 2_000))).toEqual({ lo: 1_000, hi: 2_000 });
    expect(lineBounds(50, 90, look(100, 1_000), look(200, 2_000))).toEqual({ lo: null, hi: 1_000 });
    expect(lineBounds(80, 120, look(100, 1_000), look(200, 2_000))).toEqual({ lo: null, hi: 2_000 });
    expect(lineBounds(0, 10, null, look(200, 2_000))).toEqual({ lo: null, hi: 2_000 });
  });

  it("learns an offset only from evidence beyond the tolerance, and keeps it while evidence agrees", () => {
    const bounds = { lo: 1_000_000, hi: 1_005_000 };
    // A writer that stamps a line a minute before it lands (a long streamed answer) is no evidence.
    expect(updateSkew(0, [{ eventAt: 1_000_000 - 60_000, bounds }])).toBe(0);
    // Ten minutes behind: the smallest offset the bounds allow.
    expect(updateSkew(0, [{ eventAt: 1_002_000 - 600_000, bounds }])).toBe(1_002_000 - 600_000 - 1_000_000);
    // Ten minutes ahead.
    expect(updateSkew(0, [{ eventAt: 1_003_000 + 600_000, bounds }])).toBe(1_003_000 + 600_000 - 1_005_000);
    // A learned offset stays while new evidence is within the tolerance of it.
    expect(updateSkew(598_000, [{ eventAt: 1_004_000 + 600_000, bounds }])).toBe(598_000);
    // Contradictory evidence (stamps out of order by more than the window) changes nothing.
    expect(
      updateSkew(0, [
        { eventAt: 1_000_000 + 10 * SKEW_TOLERANCE_MS, bounds },
        { eventAt: 1_000_000 - 10 * SKEW_TOLERANCE_MS, bounds },
      ]),
    ).toBe(0);
  });

  it("places an event at its corrected stamp, never outside what ingest observed", () => {
    expect(observedAt(1_000_000 + 600_000, { lo: 990_000, hi: 1_005_000 }, 600_000)).toBe(1_000_000);
    expect(observedAt(2_000_000, { lo: 990_000, hi: 1_005_000 }, 0)).toBe(1_005_000);
    expect(observedAt(10, { lo: 990_000, hi: 1_005_000 }, 0)).toBe(990_000);
    expect(observedAt(10, { lo: null, hi: 1_005_000 }, 0)).toBe(10);
    expect(observedAt(null, { lo: null, hi: 1_005_000 }, 0)).toBe(1_005_000);
  });
});
