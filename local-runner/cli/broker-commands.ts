import { readFileSync } from "node:fs";
import { ADVICE_STATES, DRAFTERS, JOB_STATES, RESEARCH_POLICIES } from "../../schema/enums.ts";
import { block, inline } from "./format.ts";
import { EXIT_FAILED, EXIT_OK, flag, int, pos, req, str, UsageError, type Args, type CommandSpec } from "./spec.ts";
import { nextPageHintFor, pageOptions, pageQuery } from "./paging.ts";

const enc = encodeURIComponent;

function adviceLine(x: any): string {
  const what = x.policy_reason ?? x.error ?? (x.draft_text ? `${x.draft_text.split("\n")[0]}` : x.request_text.replace(/\s+/g, " "));
  return `${x.id}  ${x.state.padEnd(20)} thread=${x.thread_id} from=${x.requester_session_id ?? "-"}  ${what.slice(0, 80)}`;
}

function jobLine(j: any): string {
  return `${j.id}  ${j.state.padEnd(20)} advice=${j.advice_id} attempts=${j.attempts}/${j.max_attempts} gen=${j.claim_generation}${j.last_error ? `  error: ${j.last_error}` : ""}`;
}

/** One broker event, as the event list commands print it. */
export function eventLine(e: any): string {
  return `${e.id} ${e.created_at} ${e.kind.padEnd(20)} ${e.advice_id ?? ""} ${inline(e.payload)}`;
}

/** The heading over a show's newest events; when they are not all, it says which command lists them all. */
function eventsHeading(b: { events: unknown[]; events_total: number }, list: string): string {
  return b.events_total > b.events.length ? `events (the newest ${b.events.length} of ${b.events_total}; all: switchyard ${list}):` : "events:";
}

function ingestLine(r: any): string {
  return `${r.already_ingested ? "already ingested" : "ingested"} ${r.advice.source_message_id} -> advice ${r.advice_id} (job ${r.job_id}, ${r.advice.state})`;
}

function tokenLine(t: any): string {
  return `${t.id}  run=${t.run_id} to=${t.to_session} thread=${t.thread_id} uses=${t.uses}/${t.max_uses} expires=${t.expires_at}${t.revoked_at ? ` revoked (${t.revoke_reason})` : ""}`;
}

/**
 * The approval token's secret from --approval-token or --approval-token-file (exactly one); a
 * file keeps the secret out of the process list and shell history.
 */
function approvalSecret(a: Args): string {
  const given = str(a, "approval-token");
  const file = str(a, "approval-token-file");
  if ((given === undefined) === (file === undefined)) throw new UsageError("give exactly one of --approval-token SECRET or --approval-token-file FILE");
  if (given !== undefined) return given;
  try {
    return readFileSync(file!, "utf8").trim();
  } catch (e) {
    throw new UsageError(`cannot read --approval-token-file '${file}': ${(e as Error).message}`);
  }
}

const researchOption = {
  type: "string" as const,
  choices: RESEARCH_POLICIES,
  description: "Research policy of the ingested requests (default deny: requests needing current/online facts wait for the owner)",
};

/** Advice broker (manual loop, approval tokens) and orchestrator commands. */
export const BROKER_COMMANDS: CommandSpec[] = [
  {
    name: "broker poll-messages",
    summary: "Find request messages not yet ingested and ingest them (--dry-run only lists)",
    options: {
      project: { type: "string", value: "P", description: "Only requests of this project" },
      "to-session": { type: "string", value: "S", description: "Only requests addressed to this session (name or id)" },
      "dry-run": { type: "boolean", description: "List candidates without ingesting" },
      research: researchOption,
      "run-id": { type: "string", value: "RUN", description: "Attribute ingested requests to this broker run" },
      limit: { type: "string", value: "N", description: "At most N messages (default 100)" },
    },
    examples: ["switchyard broker poll-messages --project /src/app --to-session lily --dry-run"],
    request: (a) => ({
      method: "POST",
      path: "/broker/poll-messages",
      body: {
        project: str(a, "project"),
        to_session: str(a, "to-session"),
        dry_run: flag(a, "dry-run"),
        research_policy: str(a, "research"),
        run_id: str(a, "run-id"),
        limit: int(a, "limit", { min: 1 }),
      },
    }),
    render: (b) => {
      if (!b.count) return "no candidates (requests need msg_type=request, a non-empty body and matching filters)";
      const lines = b.candidates.map((c: any) => `${c.message_id}  thread=${c.thread_id} to=${c.to_session_id} project=${c.project ?? "-"} ${c.subject ?? ""}`);
      return [...lines, ...(b.dry_run ? [`${b.count} candidate(s); dry run, nothing ingested`] : b.ingested.map(ingestLine))].join("\n");
    },
  },
  {
    name: "broker ingest-message",
    summary: "Turn one request message into an advice request and a queued job (idempotent)",
    positionals: [{ name: "MESSAGE_ID", required: true, description: "The request message" }],
    options: { research: researchOption, "run-id": { type: "string", value: "RUN", description: "Attribute the request to this broker run" } },
    request: (a) => ({
      method: "POST",
      path: `/broker/messages/${enc(pos(a, 0)!)}/ingest`,
      body: { research_policy: str(a, "research"), run_id: str(a, "run-id") },
    }),
    render: ingestLine,
  },
  {
    name: "broker queue",
    summary: "The owner's approval queue (open advice requests by default)",
    options: {
      state: {
        type: "string",
        value: "STATE",
        choices: ["open", "all", ...ADVICE_STATES],
        description: "Which requests: open (default), all, or those in one state",
      },
      limit: { ...pageOptions.limit, description: "Rows per page (default 100, at most 500)" },
      cursor: pageOptions.cursor,
    },
    request: (a) => ({ method: "GET", path: "/broker/advice", query: { state: str(a, "state"), ...pageQuery(a) } }),
    render: (b, a) => (b.count ? b.advice.map(adviceLine).join("\n") + nextPageHintFor(b, "broker queue", a) : "queue is empty"),
  },
  {
    name: "broker review",
    summary: "Show one advice request: request, draft, policy reason, events (--with-context: the stored context packet)",
    positionals: [{ name: "ADVICE_ID", required: true, description: "Advice request id" }],
    options: { "with-context": { type: "boolean", description: "Print the exact context packet the draft was made from" } },
    request: (a) => ({ method: "GET", path: `/broker/advice/${enc(pos(a, 0)!)}`, query: { with_context: flag(a, "with-context") } }),
    render: (b) => {
      const x = b.advice;
      const lines = [
        `${x.id}  ${x.state}  (job ${x.job_id ?? "-"} ${x.job_state ?? ""})`,
        `thread ${x.thread_id}, from ${x.requester_session_id ?? "-"} to ${x.to_session_id}, research policy ${x.research_policy}`,
        "",
        "request:",
        x.request_text,
      ];
      if (x.policy_reason) lines.push("", `held for the owner: ${x.policy_reason}`);
      if (x.error) lines.push("", `error: ${x.error}`);
      if (x.draft_text) lines.push("", "draft:", x.draft_text);
      if (x.approved_text) lines.push("", `approved by ${x.approved_by} at ${x.approved_at}:`, x.approved_text);
      if (x.sent_message_id) lines.push("", `sent as ${x.sent_message_id} at ${x.sent_at}`);
      if (x.rejected_reason) lines.push("", `rejected: ${x.rejected_reason}`);
      lines.push("", eventsHeading(b, `broker advice-events ${x.id}`), ...b.events.map((e: any) => `  ${e.created_at} ${e.kind}`));
      if ("context_packet" in b) lines.push("", "context packet:", block(b.context_packet, "  "));
      return lines.join("\n");
    },
  },
  {
    name: "broker advice-events",
    summary: "An advice request's broker events, oldest first (all of them, a page at a time)",
    positionals: [{ name: "ADVICE_ID", required: true, description: "Advice request id" }],
    options: { ...pageOptions },
    request: (a) => ({ method: "GET", path: `/broker/advice/${enc(pos(a, 0)!)}/events`, query: pageQuery(a) }),
    render: (b, a) => (b.count ? b.events.map(eventLine).join("\n") + nextPageHintFor(b, "broker advice-events", a) : `no events for ${b.advice_id}`),
  },
  {
    name: "broker approve",
    summary: "Approve a draft (or your --edit text instead); does not send",
    positionals: [{ name: "ADVICE_ID", required: true, description: "Advice request id" }],
    options: { edit: { type: "string", value: "TEXT", description: "Approve this text instead of the draft" } },
    request: (a) => ({ method: "POST", path: `/broker/advice/${enc(pos(a, 0)!)}/approve`, body: { edit: str(a, "edit") } }),
    render: (b) => `approved ${b.advice_id}; send it with: switchyard broker send-approved ${b.advice_id}`,
  },
  {
    name: "broker reject",
    summary: "Reject an advice request; it will never be sent",
    positionals: [{ name: "ADVICE_ID", required: true, description: "Advice request id" }],
    options: { reason: { type: "string", value: "TEXT", description: "Why (required)" } },
    request: (a) => ({ method: "POST", path: `/broker/advice/${enc(pos(a, 0)!)}/reject`, body: { reason: req(a, "reason") } }),
    render: (b) => `rejected ${b.advice_id}`,
  },
  {
    name: "broker retry",
    summary: "Re-queue a held (owner_input_required) or failed advice request, optionally changing its research policy",
    positionals: [{ name: "ADVICE_ID", required: true, description: "Advice request id" }],
    options: { research: { ...researchOption, description: "New research policy for this request" } },
    request: (a) => ({ method: "POST", path: `/broker/advice/${enc(pos(a, 0)!)}/retry`, body: { research_policy: str(a, "research") } }),
    render: (b) => `re-queued ${b.advice_id} (job ${b.job_id}, research policy ${b.advice.research_policy})`,
  },
  {
    name: "broker send-approved",
    summary: "Send approved advice as a reply in the requester's thread, exactly once",
    positionals: [{ name: "ADVICE_ID", required: true, description: "Advice request id" }],
    request: (a) => ({ method: "POST", path: `/broker/advice/${enc(pos(a, 0)!)}/send-approved` }),
    render: (b) => `${b.already_sent ? "already sent" : "sent"} ${b.advice_id} as message ${b.message_id} (inbox item ${b.inbox_item_id ?? "-"})`,
  },
  {
    name: "broker token-create",
    summary: "Mint a scoped auto-send approval token (scoped_auto_send runs only); the secret is shown once",
    positionals: [{ name: "RUN_ID", required: true, description: "A scoped_auto_send run" }],
    options: {
      "to-session": { type: "string", value: "S", description: "Recipient session (required)" },
      "thread-id": { type: "string", value: "T", description: "Thread the token may send into (required)" },
      "max-uses": { type: "string", value: "N", description: "Sends allowed (required)" },
      "expires-minutes": { type: "string", value: "M", description: "Lifetime in minutes (required)" },
    },
    request: (a) => ({
      method: "POST",
      path: "/broker/tokens",
      body: {
        run_id: pos(a, 0)!,
        to_session: req(a, "to-session"),
        thread_id: req(a, "thread-id"),
        max_uses: int(a, "max-uses", { min: 1 }) ?? req(a, "max-uses"),
        expires_minutes: int(a, "expires-minutes", { min: 1 }) ?? req(a, "expires-minutes"),
      },
    }),
    render: (b) => `${tokenLine(b.token)}\nsecret: ${b.secret}   (shown once)`,
  },
  {
    name: "broker token-check",
    summary: "Would a token be accepted for this run, recipient and thread? Prints valid or the exact reason",
    positionals: [{ name: "TOKEN_ID", required: true, description: "Approval token id" }],
    options: {
      "run-id": { type: "string", value: "RUN", description: "Required" },
      "to-session": { type: "string", value: "S", description: "Required" },
      "thread-id": { type: "string", value: "T", description: "Required" },
    },
    request: (a) => ({
      method: "GET",
      path: `/broker/tokens/${enc(pos(a, 0)!)}/check`,
      query: { run_id: req(a, "run-id"), to_session: req(a, "to-session"), thread_id: req(a, "thread-id") },
    }),
    render: (b) => `${b.valid ? "valid" : `invalid: ${b.reason}`}${b.token ? `\n${tokenLine(b.token)}` : ""}`,
    exitCodes: { 1: "failed, or the token is invalid for this run, recipient and thread (the reason is printed)" },
    exitCode: (b) => (b.valid ? EXIT_OK : EXIT_FAILED),
  },
  {
    name: "broker send-with-token",
    summary: "Send drafted advice of a scoped_auto_send run with an approval token (uses one of its uses; no owner approval needed)",
    positionals: [{ name: "ADVICE_ID", required: true, description: "Advice request id" }],
    options: {
      "run-id": { type: "string", value: "RUN", description: "The scoped_auto_send run the advice belongs to (required)" },
      "approval-token": { type: "string", value: "SECRET", description: "The token's secret (sy_approval_…) as token-create printed it" },
      "approval-token-file": { type: "string", value: "FILE", description: "Read the secret from this file instead (keeps it out of ps)" },
    },
    examples: ["switchyard broker send-with-token adv_… --run-id run_… --approval-token-file ~/.switchyard/approval.secret"],
    request: (a) => ({
      method: "POST",
      path: `/broker/advice/${enc(pos(a, 0)!)}/send-with-token`,
      body: { run_id: req(a, "run-id"), approval_token: approvalSecret(a) },
    }),
    render: (b) =>
      b.already_sent
        ? `already sent ${b.advice_id} as message ${b.message_id}; no token use taken`
        : `sent ${b.advice_id} as message ${b.message_id} (inbox item ${b.inbox_item_id ?? "-"}); token ${b.token.id} used ${b.token.uses}/${b.token.max_uses}`,
  },
  {
    name: "broker token-revoke",
    summary: "Revoke an approval token",
    positionals: [{ name: "TOKEN_ID", required: true, description: "Approval token id" }],
    options: { reason: { type: "string", value: "TEXT", description: "Why (required)" } },
    request: (a) => ({ method: "POST", path: `/broker/tokens/${enc(pos(a, 0)!)}/revoke`, body: { reason: req(a, "reason") } }),
    render: (b) => `revoked ${tokenLine(b.token)}`,
  },
  {
    name: "orchestrator status",
    group: "orchestrator",
    summary: "Job counts per state, oldest queued job, crashed (lease-expired) jobs",
    request: () => ({ method: "GET", path: "/orchestrator/status" }),
    render: (b) =>
      [
        Object.entries(b.counts)
          .map(([k, v]) => `${k}=${v}`)
          .join(" "),
        `total=${b.total} oldest_queued=${b.oldest_queued_at ?? "-"} expired_leases=${b.expired_leases}`,
      ].join("\n"),
  },
  {
    name: "orchestrator jobs",
    group: "orchestrator",
    summary: "List orchestrator jobs",
    options: {
      status: { type: "string", value: "STATE", choices: [...JOB_STATES, "all"], description: "Which jobs (default all)" },
      limit: { ...pageOptions.limit, description: "Rows per page (default 100, at most 500)" },
      cursor: pageOptions.cursor,
    },
    request: (a) => ({ method: "GET", path: "/orchestrator/jobs", query: { status: str(a, "status"), ...pageQuery(a) } }),
    render: (b, a) => (b.count ? b.jobs.map(jobLine).join("\n") + nextPageHintFor(b, "orchestrator jobs", a) : "no jobs"),
  },
  {
    name: "orchestrator show",
    group: "orchestrator",
    summary: "One job with its advice request and broker events",
    positionals: [{ name: "JOB_ID", required: true, description: "Job id" }],
    request: (a) => ({ method: "GET", path: `/orchestrator/jobs/${enc(pos(a, 0)!)}` }),
    render: (b) =>
      [
        jobLine(b.job),
        adviceLine(b.advice),
        eventsHeading(b, `orchestrator events ${b.job.id}`),
        ...b.events.map((e: any) => `  ${e.created_at} ${e.kind} ${inline(e.payload)}`),
      ].join("\n"),
  },
  {
    name: "orchestrator events",
    group: "orchestrator",
    summary: "A job's broker events, oldest first (all of them, a page at a time)",
    positionals: [{ name: "JOB_ID", required: true, description: "Job id" }],
    options: { ...pageOptions },
    request: (a) => ({ method: "GET", path: `/orchestrator/jobs/${enc(pos(a, 0)!)}/events`, query: pageQuery(a) }),
    render: (b, a) => (b.count ? b.events.map(eventLine).join("\n") + nextPageHintFor(b, "orchestrator events", a) : `no events for ${b.job_id}`),
  },
  {
    name: "orchestrator watch",
    group: "orchestrator",
    summary: "Process claimable jobs once (--once): context, policy, draft",
    options: {
      once: { type: "boolean", description: "One pass (required; continuous processing is the broker daemon's tick)" },
      "processor-id": { type: "string", value: "ID", description: "Name this processor in claims" },
      "lease-seconds": { type: "string", value: "N", description: "Lease per claimed job (default 120)" },
      "max-jobs": { type: "string", value: "N", description: "At most N jobs this pass (default 50)" },
      drafter: { type: "string", choices: DRAFTERS, description: "Which drafter (default auto: external when SWITCHYARD_BROKER_DRAFTER is set)" },
      "run-id": { type: "string", value: "RUN", description: "Only jobs of this broker run" },
    },
    request: (a) => {
      if (!flag(a, "once")) throw new UsageError("orchestrator watch needs --once; run the broker daemon for continuous processing");
      return {
        method: "POST",
        path: "/orchestrator/watch",
        body: {
          once: true,
          processor_id: str(a, "processor-id"),
          lease_seconds: int(a, "lease-seconds", { min: 5 }),
          max_jobs: int(a, "max-jobs", { min: 1 }),
          drafter: str(a, "drafter"),
          run_id: str(a, "run-id"),
        },
      };
    },
    render: (b) =>
      [
        ...b.processed.map(
          (p: any) =>
            `${p.job_id} advice=${p.advice_id} attempt ${p.attempt}: ${p.claim_lost ? "claim lost" : p.state}${p.policy_reason ? ` (${p.policy_reason})` : ""}${p.error ? ` (${p.error})` : ""}`,
        ),
        ...b.exhausted.map((id: string) => `${id}: failed, lease expired on its last attempt`),
        `${b.count} job(s) processed by ${b.processor_id}`,
      ].join("\n"),
  },
];
