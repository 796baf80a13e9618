import { cycleRoute } from "../observe/cycle.ts";
import { tailRoute } from "../observe/tail.ts";
import { enqueueNotifyManagerRoute, enqueueNudgeWorkerRoute } from "../messages/enqueue-task.ts";
import { managerConsumeRoute, sessionConsumeRoute, workerConsumeRoute } from "../messages/inbox-consume.ts";
import { managerInboxRoute, sessionInboxRoute, workerInboxRoute } from "../messages/inbox-list.ts";
import { replyRoute } from "../messages/reply.ts";
import { sendRoute } from "../messages/send.ts";
import { nudgeRoute } from "../actuate/nudge.ts";
import { hookStateRoute } from "../hooks/read.ts";
import { addCriterionRoute, criterionActionRoute, listCriteriaRoute } from "../supervision/criteria.ts";
import { listHandoffsRoute, recordHandoffRoute } from "../supervision/handoff.ts";
import { addClaimRoute, listClaimsRoute, releaseClaimRoute } from "../coordination/claims.ts";

/** The part of a route definition a tool needs: where it is. */
interface RouteRef {
  method: string;
  path: string;
}

/**
 * One MCP tool: an HTTP route exposed to agents. Its input schema and description come from
 * the route's own OpenAPI operation (the same zod schemas the HTTP API validates with), and a
 * call runs through the same app with the caller's token, so the route's principal rules apply
 * unchanged. `fixed` pins body fields (request_advice is send with msg_type=request).
 */
export interface McpToolSpec {
  name: string;
  route: RouteRef;
  /** Said before the route's own summary, when the tool's use differs from the route's name. */
  lead?: string;
  fixed?: Record<string, unknown>;
}

/** The agent-facing verbs. Adding a verb is one line here: the route does the rest. */
export const MCP_TOOLS: McpToolSpec[] = [
  { name: "inbox_list", route: sessionInboxRoute },
  { name: "inbox_consume", route: sessionConsumeRoute, lead: "Take the next item of your inbox; wait=true with timeout_seconds long-polls for one." },
  { name: "manager_inbox_consume", route: managerConsumeRoute },
  { name: "worker_inbox_consume", route: workerConsumeRoute },
  { name: "manager_inbox_list", route: managerInboxRoute },
  { name: "worker_inbox_list", route: workerInboxRoute },
  { name: "send_message", route: sendRoute },
  {
    name: "request_advice",
    route: sendRoute,
    lead: "Ask another session (usually your manager or the owner's advice broker) for advice; the reply arrives in your inbox on the same thread (inbox_consume with wait=true).",
    fixed: { msg_type: "request" },
  },
  { name: "reply", route: replyRoute },
  { name: "cycle", route: cycleRoute },
  { name: "tail", route: tailRoute },
  { name: "hook_state", route: hookStateRoute },
  { name: "nudge_worker", route: nudgeRoute, lead: "Type a message into the managed worker's pane and verify it was submitted." },
  { name: "enqueue_nudge_worker", route: enqueueNudgeWorkerRoute },
  { name: "notify_manager", route: enqueueNotifyManagerRoute },
  { name: "criteria_list", route: listCriteriaRoute },
  { name: "criteria_propose", route: addCriterionRoute },
  { name: "criteria_act", route: criterionActionRoute },
  { name: "handoff_record", route: recordHandoffRoute },
  { name: "handoff_list", route: listHandoffsRoute },
  { name: "claims_list", route: listClaimsRoute },
  { name: "claim_add", route: addClaimRoute },
  { name: "claim_release", route: releaseClaimRoute },
];
