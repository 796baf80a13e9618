import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { bindRoute, bindTask } from "./bind.ts";
import { listBindings, listBindingsRoute } from "./list.ts";
import { unbindRoute, unbindTask } from "./unbind.ts";

/** Bindings: bind, unbind, list. */
export const bindingsApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(bindRoute, async (c) => c.json(await bindTask(c.get("ctx"), c.req.valid("json"), 201), 201))
  .openapi(unbindRoute, async (c) => c.json(await unbindTask(c.get("ctx"), c.req.valid("json"), 200), 200))
  .openapi(listBindingsRoute, async (c) => c.json(await listBindings(c.get("ctx"), c.req.valid("query")), 200));
