import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { continueRoute, enqueueContinue } from "./continue.ts";
import { createDisposableBinding, DisposableBody, disposableRoute } from "./disposable.ts";
import { addEvidenceRoute, addLoopEvidence } from "./evidence.ts";
import { listQaPlansRoute, QA_PLANS, qaPlan, showQaPlanRoute } from "./qa-plans.ts";
import { createLoopRun, createRunRoute, listLoopRuns, listRunsRoute } from "./runs.ts";
import { loopStatus, loopStatusRoute } from "./status.ts";
import { LOOP_TEMPLATES, listTemplatesRoute, showTemplateRoute, templateByName } from "./templates.ts";
import { classifyLoopPrompt, classifyTriggerRoute, listTriggers, listTriggersRoute } from "./triggers.ts";

/** Loops: templates, runs, evidence, continue-iteration, status, triggers and QA plans. */
export const loopsApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(listTemplatesRoute, async (c) => c.json({ templates: Object.values(LOOP_TEMPLATES) }, 200))
  .openapi(showTemplateRoute, async (c) => c.json(templateByName(c.req.valid("param").template), 200))
  .openapi(createRunRoute, async (c) => c.json(await createLoopRun(c.get("ctx"), c.req.valid("param").name, c.req.valid("json"), 201), 201))
  .openapi(listRunsRoute, async (c) => c.json(await listLoopRuns(c.get("ctx"), c.req.valid("param").name, c.req.valid("query")), 200))
  .openapi(addEvidenceRoute, async (c) => {
    const p = c.req.valid("param");
    return c.json(await addLoopEvidence(c.get("ctx"), p.name, p.run, c.req.valid("json"), 201), 201);
  })
  .openapi(continueRoute, async (c) => {
    const p = c.req.valid("param");
    const r = await enqueueContinue(c.get("ctx"), p.name, p.run, c.req.valid("json"));
    return c.json(r, r.created ? 201 : 200);
  })
  .openapi(loopStatusRoute, async (c) => {
    const p = c.req.valid("param");
    return c.json(await loopStatus(c.get("ctx"), p.name, p.run), 200);
  })
  .openapi(listTriggersRoute, async (c) => c.json(listTriggers(), 200))
  .openapi(classifyTriggerRoute, async (c) => c.json(classifyLoopPrompt(c.req.valid("json").prompt), 200))
  .openapi(listQaPlansRoute, async (c) => c.json({ plans: Object.values(QA_PLANS) }, 200))
  .openapi(showQaPlanRoute, async (c) => c.json(qaPlan(c.req.valid("param").plan), 200))
  .openapi(disposableRoute, async (c) =>
    c.json(await createDisposableBinding(c.get("ctx"), c.req.valid("param").name, c.req.valid("json") ?? DisposableBody.parse({})), 201),
  );
