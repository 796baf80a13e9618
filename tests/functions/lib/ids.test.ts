import { describe, expect, it } from "vitest";
import { makeId, sha256Hex, sha256HexSync } from "../../../functions/lib/ids.ts";

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

describe("sha256HexSync", () => {
  it("hashes exactly as the Web Crypto sha256Hex does, so stored token hashes still match", async () => {
    // The empty string's digest is the published test vector; the others cover a secret and UTF-8.
    expect(sha256HexSync("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    for (const text of ["", "sy_owner_0123456789abcdef0123456789abcdef0123456789abcdef", "naïve ✓ 日本"]) {
      expect(sha256HexSync(text)).toBe(await sha256Hex(text));
    }
  });
});
