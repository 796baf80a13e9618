import type { Ctx, Services, TokenProblem } from "./ctx.ts";

/** Hono environment shared by every sub-app. */
export interface AppEnv {
  Variables: {
    ctx: Ctx;
    services: Services;
    tokenProblem?: TokenProblem;
    /** Set by the request-id middleware (lib/access-log.ts). */
    requestId: string;
  };
}
