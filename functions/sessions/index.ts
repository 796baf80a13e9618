import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { deregisterRoute, deregisterSession } from "./deregister.ts";
import { heartbeatRoute, heartbeatSession } from "./heartbeat.ts";
import { listRoute, listSessions } from "./list.ts";
import { registerRoute, registerSession } from "./register.ts";
import { showRoute, showSession } from "./show.ts";

/** Sessions: register, list, show, deregister, heartbeat. */
export const sessionsApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(registerRoute, async (c) => c.json(await registerSession(c.get("ctx"), c.req.valid("json"), undefined, 201), 201))
  .openapi(listRoute, async (c) => c.json(await listSessions(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(showRoute, async (c) => c.json(await showSession(c.get("ctx"), c.req.valid("param").name), 200))
  .openapi(deregisterRoute, async (c) => c.json(await deregisterSession(c.get("ctx"), c.req.valid("param").name, 200), 200))
  .openapi(heartbeatRoute, async (c) => c.json(await heartbeatSession(c.get("ctx"), c.req.valid("param").name, 200), 200));
