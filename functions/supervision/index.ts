import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { configRevisionsRoute, getConfigRoute, getManagerConfig, listConfigRevisions, recordConfigRoute, recordManagerConfig } from "./config.ts";
import { checkManagerPermission, permissionCheckRoute } from "./permission-check.ts";
import { managerQuestions, questionsRoute } from "./questions.ts";

/** Supervision contract: manager config and permissions, criteria, handoffs, acks, decisions, finish gates. */
export const supervisionApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(questionsRoute, async (c) => c.json(managerQuestions(), 200))
  .openapi(recordConfigRoute, async (c) => c.json(await recordManagerConfig(c.get("ctx"), c.req.valid("param").name, c.req.valid("json") ?? {}), 200))
  .openapi(getConfigRoute, async (c) => c.json(await getManagerConfig(c.get("ctx"), c.req.valid("param").name, c.req.valid("query")), 200))
  .openapi(configRevisionsRoute, async (c) => c.json(await listConfigRevisions(c.get("ctx"), c.req.valid("param").name, c.req.valid("query")), 200))
  .openapi(permissionCheckRoute, async (c) => c.json(await checkManagerPermission(c.get("ctx"), c.req.valid("param").name, c.req.valid("json")), 200));
