// What the in-process fast path (fast-local.ts) is given for "@hono/zod-openapi" when it is
// bundled (bin/build-cli.mjs aliases it here): the same zod, and createRoute as the route object
// it returns, without Hono and the OpenAPI generator. The schemas parse exactly as in the app:
// `.openapi()` only attaches documentation, so here it hands the schema back unchanged.
import { z } from "zod";

// An enumerable member of ZodType's prototype: zod copies those onto every schema it builds (the
// way @asteasolutions/zod-to-openapi adds the real one).
const proto = z.ZodType.prototype as { openapi?: unknown };
proto.openapi ??= function openapi(this: unknown) {
  return this;
};

/** The route config as @hono/zod-openapi's createRoute returns it (its routing-path helper aside). */
export function createRoute<R extends object>(config: R): R {
  return { ...config };
}

export { z };
