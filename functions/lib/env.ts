import type { Ctx, Services } from "./ctx.ts";
import type { TokenProblem } from "./auth.ts";

/** Hono environment shared by every sub-app. */
export interface AppEnv {
  Variables: {
    ctx: Ctx;
    services: Services;
    tokenProblem?: TokenProblem;
  };
}
