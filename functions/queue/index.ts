import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { listCommands, listCommandsRoute } from "./list.ts";
import { requeueCommand, requeueRoute } from "./requeue.ts";
import { runnerClaim, runnerClaimRoute } from "./runner-claim.ts";
import { runnerComplete, runnerCompleteRoute } from "./runner-complete.ts";
import { runnerStarted, runnerStartedRoute } from "./runner-started.ts";
import type { CommandPolicy } from "../lib/ctx.ts";
import type { SettleTable } from "./run.ts";

/**
 * The durable command queue: list, requeue, and the remote runner's claim/report routes. The
 * enqueue routes resolve a session or a bound task, so they live with actuate (host commands)
 * and messages (notify-manager / nudge-worker). `settle` and `policy` come from the composition
 * root, so a runner's reported success is recorded as fully as a dispatcher's, and a runner's
 * command passes the same policy before its side effect.
 */
export const queueApp = (settle: SettleTable, policy?: CommandPolicy) =>
  new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
    .openapi(listCommandsRoute, async (c) => c.json(await listCommands(c.get("ctx"), c.req.valid("query")), 200))
    .openapi(requeueRoute, async (c) => c.json(await requeueCommand(c.get("ctx"), c.req.valid("param").id, 200), 200))
    .openapi(runnerClaimRoute, async (c) => c.json(await runnerClaim(c.get("ctx"), c.req.valid("json")), 200))
    .openapi(runnerStartedRoute, async (c) => c.json(await runnerStarted(c.get("ctx"), c.req.valid("param").id, policy), 200))
    .openapi(runnerCompleteRoute, async (c) => c.json(await runnerComplete(c.get("ctx"), c.req.valid("param").id, c.req.valid("json"), settle), 200));
