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
import { DISPATCH_POLICY, SETTLE } from "./executors.ts";
import { docsApp } from "./docs/index.ts";
import { exportsApp } from "./exports/index.ts";
import { gatesApp } from "./gates/index.ts";
import { healthApp } from "./health/index.ts";
import { hooksApp } from "./hooks/index.ts";
import { loopsApp } from "./loops/index.ts";
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

import { createAppShell, type GroupApp, ROUTE_GROUPS, type RouteGroupName } from "./app-shell.ts";
import type { Services } from "./lib/ctx.ts";

export const API_VERSION = "0.1.0";

/** Every route group's sub-app, by name. */
export function routeGroupApps(): Record<RouteGroupName, GroupApp> {
  return {
    health: healthApp,
    sessions: sessionsApp,
    tasks: tasksApp,
    bindings: bindingsApp,
    discover: discoverApp,
    audit: auditApp,
    admin: adminApp,
    crons: cronsApp,
    observe: observeApp,
    actuate: actuateApp,
    queue: queueApp(SETTLE, DISPATCH_POLICY),
    messages: messagesApp,
    appLoop: appLoopApp,
    broker: brokerApp,
    orchestrator: orchestratorApp,
    brokerRuns: brokerRunsApp,
    brokerTick: brokerTickApp,
    patrol: patrolApp,
    gates: gatesApp,
    convoys: convoysApp,
    coordination: coordinationApp,
    verdicts: verdictsApp,
    supervision: supervisionApp,
    loops: loopsApp,
    telemetry: telemetryApp,
    transcripts: transcriptsApp,
    exports: exportsApp,
    dashboardApi: dashboardApiApp,
    hooks: hooksApp,
  };
}

/**
 * Builds the whole HTTP API over the given services. The server, the tests, the OpenAPI document
 * and MCP call this one factory; the CLI's in-process calls use createPartialApp
 * (functions/app-partial.ts), the same shell with only the groups a request can reach.
 */
export function createApp(services: Services) {
  const app = createAppShell(services);
  const groups = routeGroupApps();
  for (const [name, prefix] of ROUTE_GROUPS) app.route(prefix, groups[name]);

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
