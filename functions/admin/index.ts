import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { dbDoctor, dbDoctorRoute } from "./db-doctor.ts";
import { doctor, doctorRoute } from "./doctor.ts";
import { doctorSelf, doctorSelfRoute } from "./doctor-self.ts";
import { reconcile, reconcileApplyRoute, reconcileReportRoute } from "./reconcile.ts";
import { listTokens, listTokensRoute, mintToken, mintTokenRoute, revokeToken, revokeTokenRoute, rotateToken, rotateTokenRoute } from "./tokens.ts";

/** Administration: doctor, db-doctor, reconcile and tokens. */
export const adminApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(dbDoctorRoute, async (c) => c.json(await dbDoctor(c.get("ctx")), 200))
  .openapi(doctorRoute, async (c) => c.json(await doctor(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(doctorSelfRoute, async (c) => c.json(await doctorSelf(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(reconcileReportRoute, async (c) => c.json(await reconcile(c.get("ctx"), { apply: false, ...c.req.valid("query") }), 200))
  .openapi(reconcileApplyRoute, async (c) => c.json(await reconcile(c.get("ctx"), { apply: true, ...c.req.valid("json") }), 200))
  .openapi(mintTokenRoute, async (c) => c.json(await mintToken(c.get("ctx"), c.req.valid("json"), 201), 201))
  .openapi(listTokensRoute, async (c) => c.json(await listTokens(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(revokeTokenRoute, async (c) => c.json(await revokeToken(c.get("ctx"), c.req.valid("param").id, 200), 200))
  .openapi(rotateTokenRoute, async (c) => c.json(await rotateToken(c.get("ctx"), c.req.valid("param").id, c.req.valid("json")), 201));
