import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { enqueueHostCommand, enqueueHostRoute } from "./enqueue-host.ts";
import { finishTask, finishTaskRoute } from "./finish-task.ts";
import { interruptRoute, interruptSession } from "./interrupt.ts";
import { nudgeRoute, nudgeSession } from "./nudge.ts";
import { pairRoute, pairSessions } from "./pair.ts";
import { spawnRoute, spawnSession } from "./spawn.ts";
import { stopRoute, stopSession } from "./stop.ts";

/** Actuation: nudge, interrupt, stop, finish-task, spawn, pair, and queueing a host command. */
export const actuateApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(nudgeRoute, async (c) => {
    const r = await nudgeSession(c.get("ctx"), c.req.valid("param").name, c.req.valid("json"));
    return r.queued ? c.json(r, 202) : c.json(r, 200);
  })
  .openapi(interruptRoute, async (c) => {
    const r = await interruptSession(c.get("ctx"), c.req.valid("param").name, c.req.valid("json"));
    return r.queued ? c.json(r, 202) : c.json(r, 200);
  })
  .openapi(stopRoute, async (c) => {
    const r = await stopSession(c.get("ctx"), c.req.valid("param").name, c.req.valid("json"));
    return r.queued ? c.json(r, 202) : c.json(r, 200);
  })
  .openapi(spawnRoute, async (c) => c.json(await spawnSession(c.get("ctx"), c.req.valid("json")), 201))
  .openapi(pairRoute, async (c) => c.json(await pairSessions(c.get("ctx"), c.req.valid("json")), 201))
  .openapi(finishTaskRoute, async (c) => c.json(await finishTask(c.get("ctx"), c.req.valid("param").name, c.req.valid("json")), 200))
  .openapi(enqueueHostRoute, async (c) => {
    const r = await enqueueHostCommand(c.get("ctx"), c.req.valid("param").name, c.req.valid("json"));
    return c.json(r, r.created ? 201 : 200);
  });
