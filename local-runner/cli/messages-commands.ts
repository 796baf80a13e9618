import { MSG_TYPES } from "../../schema/enums.ts";
import { seconds as durationOf } from "./format.ts";
import { EXIT_OK, EXIT_TIMED_OUT, flag, pos, str, UsageError, type Args, type CommandSpec, type OptionSpec } from "./spec.ts";
import { nextPageHintFor, pageOptions, pageQuery } from "./paging.ts";

const enc = encodeURIComponent;

/** Reads a number of seconds (decimals allowed), failing with a usage error naming the value. */
function seconds(a: Args, name: string, max?: number): number | undefined {
  const v = str(a, name);
  if (v === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(v)) throw new UsageError(`--${name} must be a number of seconds, got '${v}'`);
  if (max !== undefined && Number(v) > max) throw new UsageError(`--${name} must be at most ${max} seconds, got ${v}`);
  return Number(v);
}

/** The server's longest inbox wait (functions/messages/schema.ts MAX_WAIT_SECONDS), refused before "waiting up to…" is printed. */
const MAX_WAIT_SECONDS = 240;

const messageOptions: Record<string, OptionSpec> = {
  subject: { type: "string", value: "TEXT", description: "Subject line" },
  project: { type: "string", value: "NAME", description: "Project the message is about" },
  thread: { type: "string", value: "THREAD_ID", description: "Continue this thread (default: a new one)" },
  "correlation-id": { type: "string", value: "ID", description: "Correlation id (default: a new one)" },
  from: { type: "string", value: "NAME", description: "Owner only: send as this session" },
};

function sendBody(a: Args, msgType: string) {
  return {
    to: pos(a, 0)!,
    body: pos(a, 1)!,
    msg_type: msgType,
    subject: str(a, "subject"),
    project: str(a, "project"),
    thread_id: str(a, "thread"),
    correlation_id: str(a, "correlation-id"),
    from: str(a, "from"),
  };
}

function renderSent(b: any): string {
  const push = b.delivery_command_id ? `push queued (command ${b.delivery_command_id})` : "pull_required: the recipient reads it with session-inbox";
  return `sent ${b.message.msg_type} ${b.message_id} to ${b.message.to_session} on ${b.thread_id}; inbox item ${b.inbox_item_id}, ${push}`;
}

/** One line per inbox item: what a manager scanning its inbox needs. */
function itemLine(i: any): string {
  const p = i.payload ?? {};
  const what =
    i.signal_type === "message"
      ? `${p.msg_type} ${p.subject ? `"${p.subject}" ` : ""}${p.body ?? ""}`
      : i.signal_type === "worker_task_complete"
        ? `task ${i.task}: ${p.last_agent_message ?? ""}`
        : `task ${i.task}: ${p.message ?? ""}`;
  return [
    i.id,
    i.signal_type,
    i.delivery_mode,
    `from=${i.source_session ?? "-"}`,
    `to=${i.target_session}`,
    `delivered=${i.delivered_at ?? "-"}`,
    `corr=${i.correlation_id ?? "-"}`,
    String(what).replace(/\s+/g, " ").slice(0, 120),
  ].join(" ");
}

const inboxOptions: Record<string, OptionSpec> = {
  "consume-next": { type: "boolean", description: "Take the oldest pending item (atomically; it is gone for other readers)" },
  wait: { type: "boolean", description: "Long-poll on the server until an item is pending (or --timeout passes)" },
  timeout: { type: "string", value: "SECONDS", description: "How long --wait waits (default 60, max 240)" },
  interval: { type: "string", value: "SECONDS", description: "Database re-check period while waiting (default 1)" },
  "idempotency-key": {
    type: "string",
    value: "KEY",
    description: "With --consume-next: run again with the same key after a lost answer or a crash to get the same item back, not the next one",
  },
  limit: { type: "string", value: "N", description: "Items to list (default 50; listing only)" },
  cursor: { ...pageOptions.cursor, description: "The next_cursor printed by the previous page (listing only)" },
};

/** The inbox command for a session, or for a task's bound manager or worker. */
function inboxCommand(name: string, arg: { name: string; description: string }, base: (a: Args) => string, summary: string): CommandSpec {
  return {
    name,
    summary,
    positionals: [{ ...arg, required: true }],
    options: inboxOptions,
    examples: [`switchyard ${name} ${arg.name === "TASK" ? "auth-refactor" : "auth-mgr"} --consume-next --wait --json`],
    exitCodes: { [EXIT_TIMED_OUT]: "--wait timed out with nothing pending (not an error: poll again)" },
    waitingFor: (a) =>
      flag(a, "wait") ? `waiting up to ${durationOf(seconds(a, "timeout", MAX_WAIT_SECONDS) ?? 60)} for an item in ${pos(a, 0)}'s inbox…` : undefined,
    // A timeout is its own code, so a loop can tell "nothing yet" from a failure without parsing.
    exitCode: (b) => (b.timed_out && !b.item && !b.pending ? EXIT_TIMED_OUT : EXIT_OK),
    request: (a) => {
      const key = str(a, "idempotency-key");
      if (!flag(a, "consume-next")) {
        if (key !== undefined) throw new UsageError("--idempotency-key applies to --consume-next only (a listing changes nothing)");
        return {
          method: "GET",
          path: base(a),
          query: { ...pageQuery(a), wait: flag(a, "wait"), timeout: seconds(a, "timeout", MAX_WAIT_SECONDS), interval: seconds(a, "interval") },
        };
      }
      // Sent as a header: printable ASCII (inner spaces allowed, as a header keeps them), at most
      // what the server keeps (200).
      if (key !== undefined && (key.length > 200 || !/^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(key))) {
        throw new UsageError(
          "--idempotency-key must be 1 to 200 printable ASCII characters, not starting or ending with a space, e.g. --idempotency-key poll-42",
        );
      }
      const body = { wait: flag(a, "wait"), timeout: seconds(a, "timeout", MAX_WAIT_SECONDS), interval: seconds(a, "interval") };
      return { method: "POST", path: `${base(a)}/consume`, body, ...(key !== undefined ? { idempotencyKey: key } : {}) };
    },
    render: (b, a) => {
      if (flag(a, "consume-next")) {
        // An empty answer must not look like an item: agents parse this output.
        if (!b.item) return b.timed_out ? `no item for ${b.session} (waited, timed out)` : `no item for ${b.session}`;
        return `consumed ${itemLine(b.item)}${b.has_more ? "\nmore items are pending" : ""}`;
      }
      const head = `${b.session} (${b.role}${b.task ? ` of ${b.task}` : ""}): ${b.pending} pending${b.timed_out ? " (waited, timed out)" : ""}`;
      return [head, ...b.items.map(itemLine)].join("\n") + nextPageHintFor(b, name, a);
    },
  };
}

/** Messages between sessions and the session/manager/worker inboxes. */
export const MESSAGE_COMMANDS: CommandSpec[] = [
  {
    name: "send",
    summary: "Send a message to a session (lands in its inbox; pushed into its pane when it has tmux)",
    positionals: [
      { name: "TO", required: true, description: "Recipient session name (or id, or app thread title)" },
      { name: "BODY", required: true, description: "Message text" },
    ],
    options: {
      // A reply goes to its own route (the reply command), so send offers every other type.
      type: { type: "string", choices: MSG_TYPES.filter((t) => t !== "reply"), description: "Message type (default notify)" },
      ...messageOptions,
    },
    examples: ['switchyard send auth-mgr "Tests are green on the branch" --subject status'],
    request: (a) => ({ method: "POST", path: "/messages", body: sendBody(a, str(a, "type") ?? "notify") }),
    render: renderSent,
  },
  {
    name: "request",
    summary: "Send a request message (a reply is expected on the same thread)",
    positionals: [
      { name: "TO", required: true, description: "Recipient session name" },
      { name: "BODY", required: true, description: "What you are asking" },
    ],
    options: messageOptions,
    request: (a) => ({ method: "POST", path: "/messages", body: sendBody(a, "request") }),
    render: renderSent,
  },
  {
    name: "reply",
    summary: "Reply to a message; it lands in the original sender's inbox on the same thread",
    positionals: [
      { name: "MESSAGE_ID", required: true, description: "The message being answered (msg_…)" },
      { name: "BODY", required: true, description: "Reply text" },
    ],
    options: { subject: messageOptions.subject!, project: messageOptions.project! },
    request: (a) => ({
      method: "POST",
      path: `/messages/${enc(pos(a, 0)!)}/reply`,
      body: { body: pos(a, 1)!, subject: str(a, "subject"), project: str(a, "project") },
    }),
    render: renderSent,
  },
  {
    name: "messages",
    summary: "List messages by thread, session or type: the newest page, oldest first (--cursor for older)",
    options: {
      thread: { type: "string", value: "THREAD_ID", description: "Only this thread" },
      session: { type: "string", value: "NAME", description: "Only messages from or to this session" },
      type: { type: "string", choices: MSG_TYPES, description: "Only this msg_type" },
      limit: { type: "string", value: "N", description: "Newest N per page (default 100, at most 1000)" },
      cursor: { ...pageOptions.cursor, description: "The next_cursor printed by the previous page: older messages" },
    },
    request: (a) => ({
      method: "GET",
      path: "/messages",
      query: { thread_id: str(a, "thread"), session: str(a, "session"), msg_type: str(a, "type"), ...pageQuery(a, 1000) },
    }),
    render: (b, a) =>
      b.count
        ? b.messages
            .map(
              (m: any) =>
                `${m.created_at} ${m.id} ${m.thread_id} ${m.msg_type.padEnd(9)} ${m.from_session ?? m.from_actor} -> ${m.to_session}: ${m.subject ? `[${m.subject}] ` : ""}${m.body.replace(/\s+/g, " ").slice(0, 120)}`,
            )
            .join("\n") + nextPageHintFor(b, "messages", a)
        : "no messages",
  },
  inboxCommand(
    "session-inbox",
    { name: "NAME", description: "Session name" },
    (a) => `/sessions/${enc(pos(a, 0)!)}/inbox`,
    "List or consume a session's inbox (long-poll with --consume-next --wait)",
  ),
  inboxCommand(
    "manager-inbox",
    { name: "TASK", description: "Task name" },
    (a) => `/tasks/${enc(pos(a, 0)!)}/manager-inbox`,
    "List or consume the inbox of a task's bound manager",
  ),
  inboxCommand(
    "worker-inbox",
    { name: "TASK", description: "Task name" },
    (a) => `/tasks/${enc(pos(a, 0)!)}/worker-inbox`,
    "List or consume the inbox of a task's bound worker",
  ),
];
