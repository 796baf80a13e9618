import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { createTask, createTaskRoute } from "./create.ts";
import { listTasks, listTasksRoute } from "./list.ts";
import { listTaskBindings, showTask, showTaskRoute, taskBindingsRoute } from "./show.ts";

/** Tasks: create, list, show, binding history. */
export const tasksApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(createTaskRoute, async (c) => c.json(await createTask(c.get("ctx"), c.req.valid("json"), 201), 201))
  .openapi(listTasksRoute, async (c) => c.json(await listTasks(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(showTaskRoute, async (c) => c.json(await showTask(c.get("ctx"), c.req.valid("param").name), 200))
  .openapi(taskBindingsRoute, async (c) => c.json(await listTaskBindings(c.get("ctx"), c.req.valid("param").name, c.req.valid("query")), 200));
