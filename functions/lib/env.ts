import type { idempotencyKeys } from "../../schema/auth.ts";
import type { Ctx, Services, TokenProblem } from "./ctx.ts";

/** Hono environment shared by every sub-app. */
export interface AppEnv {
  Variables: {
    ctx: Ctx;
    services: Services;
    tokenProblem?: TokenProblem;
    /** Hands a response to the caller before the request finishes (lib/deadline.ts answerEarly). */
    earlyAnswer?: (res: Response) => void;
    /** True once the route's deadline answered 504 while the route kept running (lib/deadline.ts). */
    deadlineAnswered?: boolean;
    /** Set by the request-id middleware (lib/access-log.ts). */
    requestId: string;
    /** The token's stored use of the request's Idempotency-Key, read with the token (lib/auth.ts). */
    idempotencyPrior?: { key: string; row: typeof idempotencyKeys.$inferSelect | null };
  };
}
