// The shared server's hardening settings read from the environment. Kept apart from services.ts
// (which loads the tmux host, the agent CLIs and the docs assets) so the Deno entry can read the
// same variables without loading any of that.
import type { Services } from "../functions/lib/ctx.ts";
import { DEFAULT_RATE_LIMIT } from "../functions/lib/rate-limit.ts";

/** A non-negative integer environment variable, or undefined when unset; anything else names the variable. */
function envCount(env: Record<string, string | undefined>, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  if (!/^\d+$/.test(raw)) throw new Error(`${name} must be a whole number (0 switches it off), got '${raw}'`);
  return Number(raw);
}

/**
 * The server's hardening settings from the environment: each token's allowance on expensive
 * routes (SWITCHYARD_RATE_BURST calls at once, SWITCHYARD_RATE_PER_MINUTE after that; either 0
 * switches the limit off) and the request deadline (SWITCHYARD_REQUEST_TIMEOUT_MS; 0 none).
 * Unset values keep the defaults of functions/lib/rate-limit.ts and deadline.ts.
 */
export function hardeningFromEnv(env: Record<string, string | undefined> = process.env): Pick<Services, "rateLimit" | "requestTimeoutMs"> {
  const burst = envCount(env, "SWITCHYARD_RATE_BURST");
  const perMinute = envCount(env, "SWITCHYARD_RATE_PER_MINUTE");
  const out: Pick<Services, "rateLimit" | "requestTimeoutMs"> = {};
  if (burst !== undefined || perMinute !== undefined) {
    const limit = { burst: burst ?? DEFAULT_RATE_LIMIT.burst, perMinute: perMinute ?? DEFAULT_RATE_LIMIT.perMinute };
    out.rateLimit = limit.burst > 0 && limit.perMinute > 0 ? limit : null;
  }
  const timeout = envCount(env, "SWITCHYARD_REQUEST_TIMEOUT_MS");
  if (timeout !== undefined) out.requestTimeoutMs = timeout;
  return out;
}
