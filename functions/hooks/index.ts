import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { shapeHook } from "../lib/validation.ts";
import { postHookEvent, postHookRoute } from "./ingest.ts";
import { hookEventsRoute, hookStateRoute, listHookEvents, readHookState } from "./read.ts";
import { getHookSettings, getHookSettingsRoute, mintHookToken, mintHookTokenRoute, putHookSettings, putHookSettingsRoute } from "./token.ts";

/** Agent hooks: the ingestion route, hook state and events, hook tokens, per-task settings. */
export const hooksApp = new OpenAPIHono<AppEnv>({ defaultHook: shapeHook })
  .openapi(postHookRoute, async (c) => {
    // Hashed as received: the idempotency key of one event is the exact bytes the agent sent.
    const raw = await c.req.text();
    const o = await postHookEvent(c.get("ctx"), c.req.valid("param").agent, c.req.valid("json"), raw, 200);
    c.header("X-Switchyard-Session", o.session ?? "");
    c.header("X-Switchyard-Matched-By", o.matchedBy ?? "none");
    c.header("X-Switchyard-Hook-State", o.state ?? "");
    c.header("X-Switchyard-Hook-Event", o.hookEventId === null ? "" : String(o.hookEventId));
    c.header("X-Switchyard-Duplicate", o.duplicate ? "true" : "false");
    if (o.inboxItemId) c.header("X-Switchyard-Inbox-Item", o.inboxItemId);
    return c.json(o.answer, 200);
  })
  .openapi(hookStateRoute, async (c) => c.json(await readHookState(c.get("ctx"), c.req.valid("param").name), 200))
  .openapi(hookEventsRoute, async (c) => c.json(await listHookEvents(c.get("ctx"), c.req.valid("param").name, c.req.valid("query")), 200))
  .openapi(mintHookTokenRoute, async (c) => c.json(await mintHookToken(c.get("ctx"), c.req.valid("param").name, 201), 201))
  .openapi(getHookSettingsRoute, async (c) => c.json(await getHookSettings(c.get("ctx"), c.req.valid("param").name), 200))
  .openapi(putHookSettingsRoute, async (c) => c.json(await putHookSettings(c.get("ctx"), c.req.valid("param").name, c.req.valid("json"), 200), 200));
