import { createAppShell, type GroupApp, ROUTE_GROUPS, type RouteGroupName } from "./app-shell.ts";
import type { Services } from "./lib/ctx.ts";

/**
 * Loads one group's sub-app on demand. A CLI command makes one or two calls, and evaluating every
 * group's zod and OpenAPI schemas to answer them was most of its start-up.
 */
const LOADERS: Record<RouteGroupName, () => Promise<GroupApp>> = {
  health: async () => (await import("./health/index.ts")).healthApp,
  sessions: async () => (await import("./sessions/index.ts")).sessionsApp,
  tasks: async () => (await import("./tasks/index.ts")).tasksApp,
  bindings: async () => (await import("./bindings/index.ts")).bindingsApp,
  discover: async () => (await import("./discover/index.ts")).discoverApp,
  audit: async () => (await import("./audit/index.ts")).auditApp,
  admin: async () => (await import("./admin/index.ts")).adminApp,
  crons: async () => (await import("./crons/index.ts")).cronsApp,
  observe: async () => (await import("./observe/index.ts")).observeApp,
  actuate: async () => (await import("./actuate/index.ts")).actuateApp,
  queue: async () => {
    const [{ queueApp }, { DISPATCH_POLICY, SETTLE }] = await Promise.all([import("./queue/index.ts"), import("./executors.ts")]);
    return queueApp(SETTLE, DISPATCH_POLICY);
  },
  messages: async () => (await import("./messages/index.ts")).messagesApp,
  appLoop: async () => (await import("./app-loop/index.ts")).appLoopApp,
  broker: async () => (await import("./broker/index.ts")).brokerApp,
  orchestrator: async () => (await import("./orchestrator/index.ts")).orchestratorApp,
  brokerRuns: async () => (await import("./broker/runs/index.ts")).brokerRunsApp,
  brokerTick: async () => (await import("./broker/tick/index.ts")).brokerTickApp,
  patrol: async () => (await import("./patrol/index.ts")).patrolApp,
  gates: async () => (await import("./gates/index.ts")).gatesApp,
  convoys: async () => (await import("./convoys/index.ts")).convoysApp,
  coordination: async () => (await import("./coordination/index.ts")).coordinationApp,
  verdicts: async () => (await import("./verdicts/index.ts")).verdictsApp,
  supervision: async () => (await import("./supervision/index.ts")).supervisionApp,
  loops: async () => (await import("./loops/index.ts")).loopsApp,
  telemetry: async () => (await import("./telemetry/index.ts")).telemetryApp,
  transcripts: async () => (await import("./transcripts/index.ts")).transcriptsApp,
  exports: async () => (await import("./exports/index.ts")).exportsApp,
  dashboardApi: async () => (await import("./dashboard/index.ts")).dashboardApiApp,
  hooks: async () => (await import("./hooks/index.ts")).hooksApp,
};

/**
 * The app's shell (error handling and every middleware) with only the named route groups,
 * mounted in createApp's order: for a path those groups cover it answers exactly as the full app.
 * functions/app-routes.ts says which groups a path needs.
 */
export async function createPartialApp(services: Services, groups: readonly RouteGroupName[]) {
  const apps = new Map(await Promise.all(groups.map(async (name) => [name, await LOADERS[name]()] as const)));
  const app = createAppShell(services);
  for (const [name, prefix] of ROUTE_GROUPS) {
    const sub = apps.get(name);
    if (sub) app.route(prefix, sub);
  }
  return app;
}
