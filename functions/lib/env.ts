import type { Ctx, Services, TokenProblem } from "./ctx.ts";

/** Hono environment shared by every sub-app. */
export interface AppEnv {
  Variables: {
    ctx: Ctx;
    services: Services;
    tokenProblem?: TokenProblem;
  };
}
