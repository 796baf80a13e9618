import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { board, boardRoute } from "./board.ts";
import { addClaim, addClaimRoute, listClaims, listClaimsRoute, releaseClaim, releaseClaimRoute } from "./claims.ts";
import { addNote, addNoteRoute, listNotes, listNotesRoute } from "./notes.ts";
import { createPlan, createPlanRoute, listPlans, listPlansRoute, planStatusRoute, setPlanStatus, showPlan, showPlanRoute } from "./plans.ts";

/** Coordination state: plans, file claims, runtime notes and the board. */
export const coordinationApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(addClaimRoute, async (c) => c.json(await addClaim(c.get("ctx"), c.req.valid("json"), 201), 201))
  .openapi(listClaimsRoute, async (c) => c.json(await listClaims(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(releaseClaimRoute, async (c) => c.json(await releaseClaim(c.get("ctx"), c.req.valid("param").id, 200), 200))
  .openapi(createPlanRoute, async (c) => c.json(await createPlan(c.get("ctx"), c.req.valid("json"), 201), 201))
  .openapi(listPlansRoute, async (c) => c.json(await listPlans(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(showPlanRoute, async (c) => c.json(await showPlan(c.get("ctx"), c.req.valid("param").id), 200))
  .openapi(planStatusRoute, async (c) => c.json(await setPlanStatus(c.get("ctx"), c.req.valid("param").id, c.req.valid("json"), 200), 200))
  .openapi(addNoteRoute, async (c) => c.json(await addNote(c.get("ctx"), c.req.valid("json"), 201), 201))
  .openapi(listNotesRoute, async (c) => c.json(await listNotes(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(boardRoute, async (c) => c.json(await board(c.get("ctx"), c.req.valid("query")), 200));
