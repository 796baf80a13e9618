import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { createConvoy, createConvoyRoute } from "./create.ts";
import { blockedRoute, dependOn, dependRoute, listBlocked } from "./deps.ts";
import { convoyTasksRoute, listConvoys, listConvoyTasks, listConvoysRoute, showConvoy, showConvoyRoute } from "./list.ts";
import { reopenTask, reopenTaskRoute } from "./reopen-task.ts";

/** Convoys, task dependencies and task reopening. */
export const convoysApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(createConvoyRoute, async (c) => c.json(await createConvoy(c.get("ctx"), c.req.valid("json")), 201))
  .openapi(listConvoysRoute, async (c) => c.json(await listConvoys(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(showConvoyRoute, async (c) => c.json(await showConvoy(c.get("ctx"), c.req.valid("param").id), 200))
  .openapi(convoyTasksRoute, async (c) => c.json(await listConvoyTasks(c.get("ctx"), c.req.valid("param").id, c.req.valid("query")), 200))
  .openapi(dependRoute, async (c) => c.json(await dependOn(c.get("ctx"), c.req.valid("param").name, c.req.valid("json"), 201), 201))
  .openapi(blockedRoute, async (c) => c.json(await listBlocked(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(reopenTaskRoute, async (c) => c.json(await reopenTask(c.get("ctx"), c.req.valid("param").name, c.req.valid("json") ?? {}, 200), 200));
