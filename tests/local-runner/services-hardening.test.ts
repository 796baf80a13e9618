// The server's hardening settings come from the environment of `up` (local-runner/services.ts).
import { describe, expect, it } from "vitest";
import { DEFAULT_RATE_LIMIT } from "../../functions/lib/rate-limit.ts";
import { hardeningFromEnv } from "../../local-runner/services.ts";

describe("hardeningFromEnv", () => {
  it("keeps the defaults when nothing is set", () => {
    expect(hardeningFromEnv({})).toEqual({});
  });

  it("reads the rate limit and the request deadline", () => {
    expect(hardeningFromEnv({ SWITCHYARD_RATE_BURST: "10", SWITCHYARD_RATE_PER_MINUTE: "30", SWITCHYARD_REQUEST_TIMEOUT_MS: "5000" })).toEqual({
      rateLimit: { burst: 10, perMinute: 30 },
      requestTimeoutMs: 5000,
    });
    expect(hardeningFromEnv({ SWITCHYARD_RATE_BURST: "10" })).toEqual({ rateLimit: { burst: 10, perMinute: DEFAULT_RATE_LIMIT.perMinute } });
  });

  it("switches a limit off with 0", () => {
    expect(hardeningFromEnv({ SWITCHYARD_RATE_PER_MINUTE: "0", SWITCHYARD_REQUEST_TIMEOUT_MS: "0" })).toEqual({ rateLimit: null, requestTimeoutMs: 0 });
  });

  it("refuses a value that is not a whole number, naming the variable", () => {
    expect(() => hardeningFromEnv({ SWITCHYARD_RATE_BURST: "lots" })).toThrow("SWITCHYARD_RATE_BURST must be a whole number (0 switches it off), got 'lots'");
    expect(() => hardeningFromEnv({ SWITCHYARD_REQUEST_TIMEOUT_MS: "-1" })).toThrow(/SWITCHYARD_REQUEST_TIMEOUT_MS/);
  });
});
