import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { configRevisionsRoute, getConfigRoute, getManagerConfig, listConfigRevisions, recordConfigRoute, recordManagerConfig } from "./config.ts";
import { actOnCriterion, addCriterion, addCriterionRoute, criterionActionRoute, listCriteria, listCriteriaRoute } from "./criteria.ts";
import { criteriaPlanRoute, planCriteria } from "./criteria-plan.ts";
import { listAcks, listAcksRoute, recordAck, recordAckRoute } from "./acks.ts";
import { listDecisions, listDecisionsRoute, recordDecision, recordDecisionRoute } from "./decisions.ts";
import { listHandoffs, listHandoffsRoute, recordHandoff, recordHandoffRoute } from "./handoff.ts";
import { mutationAudit, mutationAuditRoute } from "./mutation-audit.ts";
import { requestWorkerCompact, WorkerCompactBody, workerCompactRoute } from "./compact.ts";
import { epilogueStatus, epilogueStatusRoute, runEpilogue, runEpilogueRoute } from "./epilogue.ts";
import { stopTask, stopTaskRoute } from "./stop-task.ts";
import {
  listContinuations,
  listContinuationsRoute,
  reviewContinuation,
  reviewContinuationRoute,
  reviewerContext,
  reviewerContextRoute,
  submitContinuation,
  submitContinuationRoute,
} from "./continuation.ts";
import { checkManagerPermission, permissionCheckRoute } from "./permission-check.ts";
import { managerQuestions, questionsRoute } from "./questions.ts";

/** Supervision contract: manager config and permissions, criteria, handoffs, acks, decisions, finish gates. */
export const supervisionApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(questionsRoute, async (c) => c.json(managerQuestions(), 200))
  .openapi(recordConfigRoute, async (c) => c.json(await recordManagerConfig(c.get("ctx"), c.req.valid("param").name, c.req.valid("json") ?? {}, 200), 200))
  .openapi(getConfigRoute, async (c) => c.json(await getManagerConfig(c.get("ctx"), c.req.valid("param").name, c.req.valid("query")), 200))
  .openapi(configRevisionsRoute, async (c) => c.json(await listConfigRevisions(c.get("ctx"), c.req.valid("param").name, c.req.valid("query")), 200))
  .openapi(permissionCheckRoute, async (c) => c.json(await checkManagerPermission(c.get("ctx"), c.req.valid("param").name, c.req.valid("json"), 200), 200))
  .openapi(listCriteriaRoute, async (c) => c.json(await listCriteria(c.get("ctx"), c.req.valid("param").name, c.req.valid("query")), 200))
  .openapi(addCriterionRoute, async (c) => c.json(await addCriterion(c.get("ctx"), c.req.valid("param").name, c.req.valid("json"), 201), 201))
  .openapi(criterionActionRoute, async (c) => {
    const p = c.req.valid("param");
    return c.json(await actOnCriterion(c.get("ctx"), p.name, p.id, c.req.valid("json"), 200), 200);
  })
  .openapi(criteriaPlanRoute, async (c) => c.json(await planCriteria(c.get("ctx"), c.req.valid("param").name, c.req.valid("json")), 200))
  .openapi(recordHandoffRoute, async (c) => c.json(await recordHandoff(c.get("ctx"), c.req.valid("param").name, c.req.valid("json"), 201), 201))
  .openapi(listHandoffsRoute, async (c) => c.json(await listHandoffs(c.get("ctx"), c.req.valid("param").name, c.req.valid("query")), 200))
  .openapi(recordAckRoute, async (c) => {
    const p = c.req.valid("param");
    return c.json(await recordAck(c.get("ctx"), p.name, p.role, c.req.valid("json"), 201), 201);
  })
  .openapi(listAcksRoute, async (c) => c.json(await listAcks(c.get("ctx"), c.req.valid("param").name, c.req.valid("query")), 200))
  .openapi(recordDecisionRoute, async (c) => c.json(await recordDecision(c.get("ctx"), c.req.valid("param").name, c.req.valid("json"), 201), 201))
  .openapi(listDecisionsRoute, async (c) => c.json(await listDecisions(c.get("ctx"), c.req.valid("param").name, c.req.valid("query")), 200))
  .openapi(mutationAuditRoute, async (c) => c.json(await mutationAudit(c.get("ctx"), c.req.valid("param").name, c.req.valid("query")), 200))
  .openapi(workerCompactRoute, async (c) =>
    c.json(await requestWorkerCompact(c.get("ctx"), c.req.valid("param").name, c.req.valid("json") ?? WorkerCompactBody.parse({})), 200),
  )
  .openapi(stopTaskRoute, async (c) => c.json(await stopTask(c.get("ctx"), c.req.valid("param").name, c.req.valid("json")), 200))
  .openapi(runEpilogueRoute, async (c) => {
    const p = c.req.valid("param");
    return c.json(await runEpilogue(c.get("ctx"), p.name, p.step, c.req.valid("json") ?? {}, 200), 200);
  })
  .openapi(epilogueStatusRoute, async (c) => c.json(await epilogueStatus(c.get("ctx"), c.req.valid("param").name), 200))
  .openapi(submitContinuationRoute, async (c) => {
    const p = c.req.valid("param");
    return c.json(await submitContinuation(c.get("ctx"), p.name, p.role, c.req.valid("json"), 201), 201);
  })
  .openapi(reviewContinuationRoute, async (c) => {
    const p = c.req.valid("param");
    return c.json(await reviewContinuation(c.get("ctx"), p.name, p.correlation_id, c.req.valid("json"), 201), 201);
  })
  .openapi(listContinuationsRoute, async (c) => c.json(await listContinuations(c.get("ctx"), c.req.valid("param").name, c.req.valid("query")), 200))
  .openapi(reviewerContextRoute, async (c) => {
    const p = c.req.valid("param");
    return c.json(await reviewerContext(c.get("ctx"), p.name, p.correlation_id), 200);
  });
