import { describe, expect, it } from "vitest";
import { makeId } from "../../../functions/lib/ids.ts";

describe("makeId", () => {
  it("makes prefixed, URL-safe ids", () => {
    expect(makeId("ses", Date.parse("2026-11-21T12:00:00Z"))).toMatch(/^ses_[0-9a-hjkmnp-tv-z]{22}$/);
  });

  it("sorts ids by creation order, also within one millisecond", () => {
    const ms = Date.parse("2026-11-21T12:00:00Z");
    const ids = [
      ...Array.from({ length: 200 }, () => makeId("evt", ms)),
      ...Array.from({ length: 50 }, () => makeId("evt", ms + 1)),
      makeId("evt", ms + 60_000),
    ];
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });
});
