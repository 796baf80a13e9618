import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { approveAdvice, approveRoute } from "./approve.ts";
import { ingestMessage, ingestMessageRoute } from "./ingest.ts";
import { pollMessages, pollMessagesRoute } from "./poll.ts";
import { adviceQueue, queueRoute } from "./queue.ts";
import { rejectAdvice, rejectRoute } from "./reject.ts";
import { retryAdvice, retryRoute } from "./retry.ts";
import { adviceEventsRoute, listAdviceEvents, reviewAdvice, reviewRoute } from "./review.ts";
import { scopedSendRoute, sendWithApprovalToken } from "./scoped-send.ts";
import { sendApproved, sendApprovedRoute } from "./send.ts";
import { checkToken, tokenCheckRoute } from "./token-check.ts";
import { createApprovalToken, tokenCreateRoute } from "./token-create.ts";
import { revokeApprovalToken, tokenRevokeRoute } from "./token-revoke.ts";

/** Advice broker, manual loop: poll, ingest, queue, review (and a request's events), approve, reject, retry, send; approval tokens and the scoped send. */
export const brokerApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(pollMessagesRoute, async (c) => c.json(await pollMessages(c.get("ctx"), c.req.valid("json")), 200))
  .openapi(ingestMessageRoute, async (c) => {
    const body = c.req.valid("json");
    const out = await ingestMessage(c.get("ctx"), { messageId: c.req.valid("param").message_id, researchPolicy: body.research_policy, runId: body.run_id });
    return out.already_ingested ? c.json(out, 200) : c.json(out, 201);
  })
  .openapi(queueRoute, async (c) => c.json(await adviceQueue(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(reviewRoute, async (c) => c.json(await reviewAdvice(c.get("ctx"), c.req.valid("param").id, c.req.valid("query")), 200))
  .openapi(adviceEventsRoute, async (c) => c.json(await listAdviceEvents(c.get("ctx"), c.req.valid("param").id, c.req.valid("query")), 200))
  .openapi(approveRoute, async (c) => c.json(await approveAdvice(c.get("ctx"), c.req.valid("param").id, c.req.valid("json"), 200), 200))
  .openapi(rejectRoute, async (c) => c.json(await rejectAdvice(c.get("ctx"), c.req.valid("param").id, c.req.valid("json"), 200), 200))
  .openapi(retryRoute, async (c) => c.json(await retryAdvice(c.get("ctx"), c.req.valid("param").id, c.req.valid("json"), 200), 200))
  .openapi(sendApprovedRoute, async (c) => c.json(await sendApproved(c.get("ctx"), c.req.valid("param").id), 200))
  .openapi(scopedSendRoute, async (c) => {
    const body = c.req.valid("json");
    return c.json(await sendWithApprovalToken(c.get("ctx"), { adviceId: c.req.valid("param").id, runId: body.run_id, secret: body.approval_token }), 200);
  })
  .openapi(tokenCreateRoute, async (c) => c.json(await createApprovalToken(c.get("ctx"), c.req.valid("json"), 201), 201))
  .openapi(tokenCheckRoute, async (c) => c.json(await checkToken(c.get("ctx"), c.req.valid("param").id, c.req.valid("query")), 200))
  .openapi(tokenRevokeRoute, async (c) => c.json(await revokeApprovalToken(c.get("ctx"), c.req.valid("param").id, c.req.valid("json"), 200), 200));
