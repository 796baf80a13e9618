import { describe, expect, it } from "vitest";
import { queryText } from "../../../functions/lib/query-text.ts";

describe("queryText", () => {
  it("writes numbers in plain decimal digits, never with an exponent", () => {
    expect(queryText(50)).toBe("50");
    expect(queryText(0.5)).toBe("0.5");
    expect(queryText(1e-7)).toBe("0.0000001");
    expect(queryText(1.5e-10)).toBe("0.00000000015");
    expect(queryText(1e21)).toBe("1000000000000000000000");
    expect(queryText(0.12345678901234566)).toBe("0.12345678901234566");
    for (const n of [1e-7, 1.5e-10, 3e-8]) expect(Number(queryText(n))).toBe(n);
  });

  it("leaves everything else as String() gives it", () => {
    expect(queryText("1e2")).toBe("1e2");
    expect(queryText(true)).toBe("true");
    expect(queryText(Number.NaN)).toBe("NaN");
    expect(queryText(Number.POSITIVE_INFINITY)).toBe("Infinity");
  });
});
