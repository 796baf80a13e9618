import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { exportRoute, exportTask } from "./export-task.ts";

/** Exports: a task's bundle written to a directory of the server's host. */
export const exportsApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(exportRoute, async (c) =>
  c.json(await exportTask(c.get("ctx"), c.req.valid("param").name, c.req.valid("json")), 201),
);
