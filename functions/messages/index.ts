import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../lib/env.ts";
import { chargeRequest } from "../lib/rate-limit.ts";
import { validationHook } from "../lib/validation.ts";
import { enqueueForTask, enqueueNotifyManagerRoute, enqueueNudgeWorkerRoute } from "./enqueue-task.ts";
import { consumeNext, managerConsumeRoute, sessionConsumeRoute, workerConsumeRoute } from "./inbox-consume.ts";
import { listInbox, managerInboxRoute, sessionInboxRoute, workerInboxRoute } from "./inbox-list.ts";
import { listMessages, messagesRoute } from "./messages-list.ts";
import { replyRoute, replyToMessage } from "./reply.ts";
import { sendMessage, sendRoute } from "./send.ts";

/**
 * Messages between sessions, session inboxes (session-, manager-, worker-inbox) and queueing a
 * message for a task's bound manager or worker. Long polls get the request's abort signal so a
 * caller that hung up is never handed an item. A read that waits is a long poll, charged to the
 * caller's rate limit; one that answers at once is not.
 */
const INBOX_WAIT = "inbox long poll";
function waiting<T extends { wait?: boolean }>(c: Context<AppEnv>, input: T): T {
  if (input.wait) chargeRequest(c, INBOX_WAIT);
  return input;
}

export const messagesApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(enqueueNotifyManagerRoute, async (c) => {
    const r = await enqueueForTask(c.get("ctx"), c.req.valid("param").name, "manager", c.req.valid("json"));
    return c.json(r, r.created ? 201 : 200);
  })
  .openapi(enqueueNudgeWorkerRoute, async (c) => {
    const r = await enqueueForTask(c.get("ctx"), c.req.valid("param").name, "worker", c.req.valid("json"));
    return c.json(r, r.created ? 201 : 200);
  })
  .openapi(sendRoute, async (c) => c.json(await sendMessage(c.get("ctx"), c.req.valid("json"), 201), 201))
  .openapi(messagesRoute, async (c) => c.json(await listMessages(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(replyRoute, async (c) => c.json(await replyToMessage(c.get("ctx"), c.req.valid("param").id, c.req.valid("json"), 201), 201))
  .openapi(sessionInboxRoute, async (c) =>
    c.json(await listInbox(c.get("ctx"), { session: c.req.valid("param").name }, waiting(c, c.req.valid("query")), c.req.raw.signal), 200),
  )
  .openapi(managerInboxRoute, async (c) =>
    c.json(await listInbox(c.get("ctx"), { task: c.req.valid("param").name, role: "manager" }, waiting(c, c.req.valid("query")), c.req.raw.signal), 200),
  )
  .openapi(workerInboxRoute, async (c) =>
    c.json(await listInbox(c.get("ctx"), { task: c.req.valid("param").name, role: "worker" }, waiting(c, c.req.valid("query")), c.req.raw.signal), 200),
  )
  .openapi(sessionConsumeRoute, async (c) =>
    c.json(await consumeNext(c.get("ctx"), { session: c.req.valid("param").name }, waiting(c, c.req.valid("json")), c.req.raw.signal), 200),
  )
  .openapi(managerConsumeRoute, async (c) =>
    c.json(await consumeNext(c.get("ctx"), { task: c.req.valid("param").name, role: "manager" }, waiting(c, c.req.valid("json")), c.req.raw.signal), 200),
  )
  .openapi(workerConsumeRoute, async (c) =>
    c.json(await consumeNext(c.get("ctx"), { task: c.req.valid("param").name, role: "worker" }, waiting(c, c.req.valid("json")), c.req.raw.signal), 200),
  );
