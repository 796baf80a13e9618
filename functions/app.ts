import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { actuateApp } from "./actuate/index.ts";
import { adminApp } from "./admin/index.ts";
import { appLoopApp } from "./app-loop/index.ts";
import { auditApp } from "./audit/index.ts";
import { bindingsApp } from "./bindings/index.ts";
import { brokerApp } from "./broker/index.ts";
import { brokerRunsApp } from "./broker/runs/index.ts";
import { brokerTickApp } from "./broker/tick/index.ts";
import { cronsApp } from "./crons/index.ts";
import { convoysApp } from "./convoys/index.ts";
import { coordinationApp } from "./coordination/index.ts";
import { dashboardApiApp, dashboardPageApp } from "./dashboard/index.ts";
import { discoverApp } from "./discover/index.ts";
import { SETTLE } from "./executors.ts";
import { docsApp } from "./docs/index.ts";
import { exportsApp } from "./exports/index.ts";
import { gatesApp } from "./gates/index.ts";
import { healthApp } from "./health/index.ts";
import { accessLog, requestIds } from "./lib/access-log.ts";
import { hooksApp } from "./hooks/index.ts";
import { resolvePrincipal } from "./lib/auth.ts";
import { makeCtx, withFields, type Services } from "./lib/ctx.ts";
import { loopsApp } from "./loops/index.ts";
import type { AppEnv } from "./lib/env.ts";
import { ApiError, type ErrorCode } from "./lib/errors.ts";
import { mountMcp } from "./mcp/index.ts";
import { messagesApp } from "./messages/index.ts";
import { observeApp } from "./observe/index.ts";
import { orchestratorApp } from "./orchestrator/index.ts";
import { patrolApp } from "./patrol/index.ts";
import { queueApp } from "./queue/index.ts";
import { sessionsApp } from "./sessions/index.ts";
import { supervisionApp } from "./supervision/index.ts";
import { tasksApp } from "./tasks/index.ts";
import { telemetryApp } from "./telemetry/index.ts";
import { transcriptsApp } from "./transcripts/index.ts";
import { verdictsApp } from "./verdicts/index.ts";

export const API_VERSION = "0.1.0";
const DEFAULT_MAX_BODY = 1024 * 1024;

/** Maps a framework HTTPException (not thrown by us) onto our closed code set. */
function codeForStatus(e: HTTPException): ApiError {
  if (e.status === 400 && /malformed json/i.test(e.message)) {
    return new ApiError("MALFORMED_JSON", "the request body is not valid JSON", { hint: "Send a JSON object with Content-Type: application/json." });
  }
  const byStatus: Partial<Record<number, ErrorCode>> = {
    400: "VALIDATION_FAILED",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
  };
  const code = byStatus[e.status] ?? "INTERNAL";
  return new ApiError(code, code === "INTERNAL" ? "internal error" : e.message || code.toLowerCase());
}

/** Renders every error as the envelope; unknown errors are logged and answered generically. */
function renderError(err: Error, c: Context<AppEnv>) {
  let api: ApiError;
  if (err instanceof ApiError) api = err;
  else if (err instanceof HTTPException) api = codeForStatus(err);
  else {
    c.get("ctx")?.log.error("unhandled error", { method: c.req.method, path: c.req.path, error: err.stack ?? String(err) });
    api = new ApiError("INTERNAL", "internal error", { hint: "The server logged the details." });
  }
  return c.json(api.toBody(), api.status, api.headers);
}

/**
 * Builds the whole HTTP API over the given services. The server, the CLI (in-process) and the
 * tests all call this one factory.
 */
export function createApp(services: Services) {
  const app = new OpenAPIHono<AppEnv>();
  app.onError(renderError);
  app.notFound((c) => c.json(new ApiError("NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`, { hint: "See /v1/openapi.json." }).toBody(), 404));

  app.use("*", requestIds);
  app.use("*", async (c, next) => {
    c.set("services", services);
    const ctx = makeCtx(services, { kind: "anonymous" });
    // Everything the request logs carries its id, the one answered in X-Request-Id.
    ctx.log = withFields(ctx.log, { request_id: c.get("requestId") });
    c.set("ctx", ctx);
    await next();
  });
  app.use("*", accessLog);
  app.use(
    "*",
    bodyLimit({
      maxSize: services.maxBodyBytes ?? DEFAULT_MAX_BODY,
      onError: () => {
        throw new ApiError("PAYLOAD_TOO_LARGE", `request body exceeds ${services.maxBodyBytes ?? DEFAULT_MAX_BODY} bytes`, {
          hint: "Send less data per request.",
        });
      },
    }),
  );
  app.use("*", resolvePrincipal);

  app.route("/", healthApp);
  app.route("/v1", sessionsApp);
  app.route("/v1", tasksApp);
  app.route("/v1", bindingsApp);
  app.route("/v1", discoverApp);
  app.route("/v1", auditApp);
  app.route("/v1", adminApp);
  app.route("/v1", cronsApp);
  app.route("/v1", observeApp);
  app.route("/v1", actuateApp);
  app.route("/v1", queueApp(SETTLE));
  app.route("/v1", messagesApp);
  app.route("/v1", appLoopApp);
  app.route("/v1", brokerApp);
  app.route("/v1", orchestratorApp);
  app.route("/v1", brokerRunsApp);
  app.route("/v1", brokerTickApp);
  app.route("/v1", patrolApp);
  app.route("/v1", gatesApp);
  app.route("/v1", convoysApp);
  app.route("/v1", coordinationApp);
  app.route("/v1", verdictsApp);
  app.route("/v1", supervisionApp);
  app.route("/v1", loopsApp);
  app.route("/v1", telemetryApp);
  app.route("/v1", transcriptsApp);
  app.route("/v1", exportsApp);
  app.route("/v1", dashboardApiApp);
  app.route("/v1", hooksApp);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  // A function of the request, so `servers` names the origin the document was fetched from:
  // "Try it out" in /docs then calls this server whatever host and port it listens on.
  app.doc31("/v1/openapi.json", (c) => ({
    openapi: "3.1.0",
    info: {
      title: "Switchyard API",
      version: API_VERSION,
      description: "Control plane for teams of AI coding-agent sessions. snake_case JSON; errors use the Error envelope.",
      // A private project: no licence is granted (npm's UNLICENSED, not the SPDX "Unlicense").
      license: { name: "UNLICENSED" },
    },
    servers: [{ url: new URL(c.req.url).origin, description: "The server that served this document" }],
  }));
  app.route("/", docsApp);
  app.route("/", dashboardPageApp);
  // MCP for agents: the agent-facing routes as tools, generated from this app's own routes.
  mountMcp(app, { version: API_VERSION, documentInfo: { title: "Switchyard API", version: API_VERSION } });
  return app;
}

export type App = ReturnType<typeof createApp>;
