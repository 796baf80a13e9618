import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { closeGate, closeGateRoute } from "./close.ts";
import { createGate, createGateRoute } from "./create.ts";
import { listGates, listGatesRoute, showGate, showGateRoute } from "./list.ts";

/** Gates: timer, human and mail waits whose closing notifies the waiters. */
export const gatesApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(createGateRoute, async (c) => c.json(await createGate(c.get("ctx"), c.req.valid("json"), 201), 201))
  .openapi(listGatesRoute, async (c) => c.json(await listGates(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(showGateRoute, async (c) => c.json(await showGate(c.get("ctx"), c.req.valid("param").id), 200))
  .openapi(closeGateRoute, async (c) => c.json(await closeGate(c.get("ctx"), c.req.valid("param").id, c.req.valid("json"), 200), 200));
