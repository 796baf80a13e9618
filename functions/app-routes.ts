import { ROUTE_GROUPS, type RouteGroupName } from "./app-shell.ts";

/**
 * Every route path, by the group that declares it. The CLI's in-process calls use it to build an
 * app with only the groups a request can reach (functions/app-partial.ts) instead of evaluating
 * every group's schemas. tests/architecture/app-routes.test.ts checks it against the full app, so
 * a route added to a group and not here fails there, with the line to paste.
 */
export const ROUTE_PATHS: Record<RouteGroupName, readonly string[]> = {
  health: ["/healthz"],
  sessions: ["/v1/sessions", "/v1/sessions/:name", "/v1/sessions/:name/deregister", "/v1/sessions/:name/heartbeat"],
  tasks: ["/v1/tasks", "/v1/tasks/:name", "/v1/tasks/:name/bindings"],
  bindings: ["/v1/bindings", "/v1/bindings/unbind"],
  discover: ["/v1/discover"],
  audit: ["/v1/tasks/:name/audit", "/v1/tasks/:name/replay"],
  admin: [
    "/v1/admin/db-doctor",
    "/v1/admin/doctor",
    "/v1/admin/doctor-self",
    "/v1/admin/reconcile",
    "/v1/tokens",
    "/v1/tokens/:id/revoke",
    "/v1/tokens/:id/rotate",
  ],
  crons: ["/v1/crons", "/v1/crons/:name"],
  observe: [
    "/v1/classify",
    "/v1/sessions/:name/events",
    "/v1/sessions/:name/idle-check",
    "/v1/sessions/:name/ingest",
    "/v1/tasks/:name/cycle",
    "/v1/tasks/:name/divergences",
  ],
  actuate: [
    "/v1/pairs",
    "/v1/sessions/:name/commands",
    "/v1/sessions/:name/interrupt",
    "/v1/sessions/:name/nudge",
    "/v1/sessions/:name/stop",
    "/v1/sessions/spawn",
    "/v1/tasks/:name/finish",
  ],
  queue: ["/v1/commands", "/v1/commands/:id/requeue", "/v1/runner/attempts/:id/started", "/v1/runner/claim", "/v1/runner/commands/:id/complete"],
  messages: [
    "/v1/messages",
    "/v1/messages/:id/reply",
    "/v1/sessions/:name/inbox",
    "/v1/sessions/:name/inbox/consume",
    "/v1/tasks/:name/manager-inbox",
    "/v1/tasks/:name/manager-inbox/consume",
    "/v1/tasks/:name/notify-manager",
    "/v1/tasks/:name/nudge-worker",
    "/v1/tasks/:name/worker-inbox",
    "/v1/tasks/:name/worker-inbox/consume",
  ],
  appLoop: [
    "/v1/tasks/:name/app-loop/heartbeat",
    "/v1/tasks/:name/app-loop/status",
    "/v1/tasks/:name/app-loop/wakeup-deliveries",
    "/v1/tasks/:name/app-loop/wakeup-dispatch",
    "/v1/tasks/:name/app-loop/wakeup-plan",
  ],
  broker: [
    "/v1/broker/advice",
    "/v1/broker/advice/:id",
    "/v1/broker/advice/:id/approve",
    "/v1/broker/advice/:id/events",
    "/v1/broker/advice/:id/reject",
    "/v1/broker/advice/:id/retry",
    "/v1/broker/advice/:id/send-approved",
    "/v1/broker/advice/:id/send-with-token",
    "/v1/broker/messages/:message_id/ingest",
    "/v1/broker/poll-messages",
    "/v1/broker/tokens",
    "/v1/broker/tokens/:id/check",
    "/v1/broker/tokens/:id/revoke",
  ],
  orchestrator: ["/v1/orchestrator/jobs", "/v1/orchestrator/jobs/:id", "/v1/orchestrator/jobs/:id/events", "/v1/orchestrator/status", "/v1/orchestrator/watch"],
  brokerRuns: [
    "/v1/broker/runs",
    "/v1/broker/runs/:id",
    "/v1/broker/runs/:id/digest",
    "/v1/broker/runs/:id/events",
    "/v1/broker/runs/:id/release-lease",
    "/v1/broker/runs/:id/start",
    "/v1/broker/runs/:id/stop",
  ],
  brokerTick: ["/v1/broker/tick"],
  patrol: [
    "/v1/notices",
    "/v1/notices/:id/ack",
    "/v1/patrol/config",
    "/v1/patrol/pending-spawns",
    "/v1/patrol/plugins",
    "/v1/patrol/plugins/:name/run",
    "/v1/patrol/runs",
    "/v1/patrol/runs/:id",
    "/v1/patrol/status",
  ],
  gates: ["/v1/gates", "/v1/gates/:id", "/v1/gates/:id/close"],
  convoys: ["/v1/blocked-tasks", "/v1/convoys", "/v1/convoys/:id", "/v1/convoys/:id/tasks", "/v1/tasks/:name/depends", "/v1/tasks/:name/reopen"],
  coordination: ["/v1/board", "/v1/claims", "/v1/claims/:id/release", "/v1/notes", "/v1/plans", "/v1/plans/:id", "/v1/plans/:id/status"],
  verdicts: ["/v1/dispatch-status/:target", "/v1/harvest/:target"],
  supervision: [
    "/v1/manager-config/questions",
    "/v1/tasks/:name/acks",
    "/v1/tasks/:name/acks/:role",
    "/v1/tasks/:name/continuations",
    "/v1/tasks/:name/continuations/:correlation_id/review",
    "/v1/tasks/:name/continuations/:correlation_id/reviewer-context",
    "/v1/tasks/:name/continuations/:role",
    "/v1/tasks/:name/criteria",
    "/v1/tasks/:name/criteria-plan",
    "/v1/tasks/:name/criteria/:id",
    "/v1/tasks/:name/decisions",
    "/v1/tasks/:name/epilogues",
    "/v1/tasks/:name/epilogues/:step",
    "/v1/tasks/:name/handoff",
    "/v1/tasks/:name/handoffs",
    "/v1/tasks/:name/manager-config",
    "/v1/tasks/:name/manager-config/revisions",
    "/v1/tasks/:name/manager-permission",
    "/v1/tasks/:name/mutation-audit",
    "/v1/tasks/:name/stop",
    "/v1/tasks/:name/worker-compact",
  ],
  loops: [
    "/v1/loop-templates",
    "/v1/loop-templates/:template",
    "/v1/loop-triggers",
    "/v1/loop-triggers/classify",
    "/v1/qa-plans",
    "/v1/qa-plans/:plan",
    "/v1/tasks/:name/disposable-binding",
    "/v1/tasks/:name/loop-runs",
    "/v1/tasks/:name/loop-runs/:run/continue",
    "/v1/tasks/:name/loop-runs/:run/evidence",
    "/v1/tasks/:name/loop-runs/:run/status",
  ],
  telemetry: [
    "/v1/telemetry",
    "/v1/telemetry/failures",
    "/v1/telemetry/metrics",
    "/v1/telemetry/snapshot",
    "/v1/telemetry/summary",
    "/v1/telemetry/tasks/:name",
  ],
  transcripts: ["/v1/admin/prune", "/v1/tasks/:name/transcript-capture", "/v1/tasks/:name/transcript-prune", "/v1/tasks/:name/transcript-segments"],
  exports: ["/v1/tasks/:name/export"],
  dashboardApi: ["/v1/dashboard/overview", "/v1/dashboard/stream"],
  hooks: [
    "/v1/hooks/:agent",
    "/v1/sessions/:name/hook-events",
    "/v1/sessions/:name/hook-state",
    "/v1/sessions/:name/hook-token",
    "/v1/tasks/:name/hook-settings",
  ],
};

let compiled: Array<[RouteGroupName, RegExp[]]> | undefined;

/** A Hono path pattern as a regular expression: a `:param` matches one non-empty segment. */
function patternOf(path: string): RegExp {
  const source = path
    .split("/")
    .map((s) => (s.startsWith(":") ? "[^/]+" : s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${source}$`);
}

/**
 * The groups with a route whose pattern matches `path` (any method), in mount order; null when
 * none does (the OpenAPI document, /docs, /mcp, the dashboard page, or no route at all), for which
 * the caller uses the full app.
 */
export function groupsForPath(path: string): RouteGroupName[] | null {
  compiled ??= ROUTE_GROUPS.map(([name]) => [name, ROUTE_PATHS[name].map(patternOf)]);
  const found = compiled.filter(([, patterns]) => patterns.some((re) => re.test(path))).map(([name]) => name);
  return found.length ? found : null;
}
