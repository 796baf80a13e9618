import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { createTask, createTaskRoute } from "./create.ts";
import { listTasks, listTasksRoute } from "./list.ts";
import { showTask, showTaskRoute } from "./show.ts";

/** Tasks: create, list, show. */
export const tasksApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(createTaskRoute, async (c) => c.json(await createTask(c.get("ctx"), c.req.valid("json"), 201), 201))
  .openapi(listTasksRoute, async (c) => c.json(await listTasks(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(showTaskRoute, async (c) => c.json(await showTask(c.get("ctx"), c.req.valid("param").name), 200));
