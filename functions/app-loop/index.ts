import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { appHeartbeat, appHeartbeatRoute } from "./heartbeat.ts";
import { recordDeliveryRoute, recordWakeupDelivery } from "./record-delivery.ts";
import { appLoopStatus, loopStatusRoute } from "./status.ts";
import { appWakeupDispatch, wakeupDispatchRoute } from "./wakeup-dispatch.ts";
import { appWakeupPlan, wakeupPlanRoute } from "./wakeup-plan.ts";

/** App autonomy: heartbeats, loop status and wake-ups for app (no-tmux) sessions. */
export const appLoopApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(appHeartbeatRoute, async (c) => c.json(await appHeartbeat(c.get("ctx"), c.req.valid("param").name, c.req.valid("json")), 200))
  .openapi(loopStatusRoute, async (c) => c.json(await appLoopStatus(c.get("ctx"), c.req.valid("param").name, c.req.valid("query")), 200))
  .openapi(wakeupPlanRoute, async (c) => c.json(await appWakeupPlan(c.get("ctx"), c.req.valid("param").name, c.req.valid("query")), 200))
  .openapi(wakeupDispatchRoute, async (c) => c.json(await appWakeupDispatch(c.get("ctx"), c.req.valid("param").name, c.req.valid("json"), 200), 200))
  .openapi(recordDeliveryRoute, async (c) => c.json(await recordWakeupDelivery(c.get("ctx"), c.req.valid("param").name, c.req.valid("json"), 201), 201));
