import { z } from "@hono/zod-openapi";
import { NextCursorField, PageQueryFields } from "../lib/paging.ts";
import { DELIVERY_MODES, INBOX_SIGNALS, MSG_TYPES } from "../../schema/messages.ts";
import { SESSION_ROLES } from "../../schema/sessions.ts";
import { NameSchema, QueryBool, QueryLimit, queryNumber } from "../lib/names.ts";

/** Longest message body accepted, in characters. */
export const MAX_BODY_CHARS = 64 * 1024;
/** Longest server-side wait; stays under common HTTP client header timeouts (undici: 300 s). */
export const MAX_WAIT_SECONDS = 240;
/**
 * Shortest database re-check interval of a long poll. Only one waiter per inbox and process
 * re-checks (lib/notifier.ts), but a caller asking for a 10 ms interval would still turn a wait
 * into a busy loop of queries.
 */
export const MIN_INTERVAL_SECONDS = 0.1;

const Short = (max: number) => z.string().min(1).max(max);

export const Message = z
  .object({
    id: z.string(),
    thread_id: z.string(),
    correlation_id: z.string().nullable(),
    msg_type: z.enum(MSG_TYPES),
    from_session: z.string().nullable().openapi({ description: "Sender session name; null when the owner or a daemon sent it" }),
    from_session_id: z.string().nullable(),
    from_actor: z.string().openapi({ description: "Who actually called, e.g. session:ses_… or owner:tok_…" }),
    to_session: z.string(),
    to_session_id: z.string(),
    in_reply_to: z.string().nullable(),
    project: z.string().nullable(),
    subject: z.string().nullable(),
    body: z.string(),
    created_at: z.string(),
  })
  .openapi("Message");

export const SendBody = z
  .object({
    to: Short(200).openapi({ description: "Recipient: an active session name, session id, or app thread title" }),
    body: z.string().min(1).max(MAX_BODY_CHARS),
    msg_type: z
      .enum(["request", "notify", "ping", "help", "lifecycle"])
      .optional()
      .default("notify")
      .openapi({ description: "Replies go through POST /v1/messages/{id}/reply" }),
    subject: Short(500).optional(),
    project: Short(500).optional(),
    thread_id: Short(100).optional().openapi({ description: "Continue an existing thread; a new thr_… id otherwise" }),
    correlation_id: Short(200).optional().openapi({ description: "Links this message to other records; a new cor_… id otherwise" }),
    from: NameSchema.optional().openapi({ description: "Owner only: send as this session. A session token always sends as itself." }),
  })
  .strict()
  .openapi("SendMessage");

export const ReplyBody = z
  .object({
    body: z.string().min(1).max(MAX_BODY_CHARS),
    subject: Short(500).optional().openapi({ description: "Default: 'Re: ' + the original subject" }),
    project: Short(500).optional().openapi({ description: "Default: the original's project" }),
  })
  .strict()
  .openapi("ReplyMessage");

export const MessageIdParam = z.object({ id: Short(100).openapi({ param: { name: "id", in: "path" } }) });

export const SendResult = z
  .object({
    message: Message,
    message_id: z.string(),
    thread_id: z.string(),
    correlation_id: z.string().nullable(),
    inbox_item_id: z.string(),
    delivery_mode: z.enum(DELIVERY_MODES).openapi({ description: "pull_required until a push delivery succeeds" }),
    delivery_command_id: z.string().nullable().openapi({ description: "The deliver command that will type the item into the recipient's tmux pane" }),
    event_id: z.string(),
  })
  .openapi("SendResult");

export const MessagesQuery = z.object({
  thread_id: Short(100).optional(),
  session: NameSchema.optional().openapi({ description: "Messages from or to this session" }),
  msg_type: z.enum(MSG_TYPES).optional(),
  limit: QueryLimit(1000, 100),
  cursor: PageQueryFields.cursor.openapi({ description: "The next_cursor of the previous page: older messages" }),
});

export const MessageList = z.object({ messages: z.array(Message), count: z.number().int(), ...NextCursorField }).openapi("MessageList");

export const InboxItem = z
  .object({
    id: z.string(),
    target_session: z.string(),
    target_session_id: z.string(),
    source_session: z.string().nullable(),
    source_session_id: z.string().nullable(),
    task: z.string().nullable(),
    task_id: z.string().nullable(),
    binding_id: z.string().nullable(),
    signal_type: z.enum(INBOX_SIGNALS),
    message_id: z.string().nullable(),
    source_event_id: z.number().int().nullable(),
    correlation_id: z.string().nullable(),
    payload: z.record(z.string(), z.unknown()),
    delivery_mode: z.enum(DELIVERY_MODES),
    delivery_command_id: z.string().nullable(),
    delivered_at: z.string().nullable(),
    consumed_at: z.string().nullable(),
    consumed_by: z.string().nullable().openapi({ description: "Who consumed it: session:<id>, or an owner token acting for the session" }),
    consumed_by_session: z.string().nullable().openapi({ description: "The session whose inbox it was consumed from" }),
    consumed_on_behalf: z
      .boolean()
      .nullable()
      .openapi({ description: "true when someone other than the session itself (the owner) consumed it for the session" }),
    state: z.enum(["pending", "delivered", "consumed"]),
    dedupe_key: z.string().nullable(),
    worker_receipt: z
      .record(z.string(), z.unknown())
      .nullable()
      .openapi({ description: "For a routed completion: the worker's turn id, start, end and duration" }),
    instruction: z.string().openapi({ description: "What the receiver should do, in one readable sentence" }),
    created_at: z.string(),
  })
  .openapi("InboxItem");

const Timeout = queryNumber(z.number().positive().max(MAX_WAIT_SECONDS), { fraction: true })
  .optional()
  .default(60)
  .openapi({ description: `Seconds to wait when wait=true (max ${MAX_WAIT_SECONDS}, default 60)` });
/** What the interval fields say; the default is the server's, so operators can tune it in one place. */
const INTERVAL_DESCRIPTION =
  "Seconds between database re-checks while waiting. Default: the server's (1 s unless started with --wake-interval). A send through the same server, or through another server on the same file database, wakes the wait sooner.";
const Interval = queryNumber(z.number().min(MIN_INTERVAL_SECONDS).max(60), { fraction: true }).optional().openapi({ description: INTERVAL_DESCRIPTION });

export const InboxListQuery = z.object({
  limit: QueryLimit(500, 50),
  cursor: PageQueryFields.cursor,
  wait: QueryBool.openapi({ description: "Wait until at least one item is pending" }),
  timeout: Timeout,
  interval: Interval,
});

export const ConsumeBody = z
  .object({
    wait: z.boolean().optional().default(false).openapi({ description: "Long-poll: wait for an item instead of answering empty at once" }),
    timeout: z
      .number()
      .min(0)
      .max(MAX_WAIT_SECONDS)
      .optional()
      .default(60)
      .openapi({ description: `Seconds to wait (max ${MAX_WAIT_SECONDS}, default 60)` }),
    interval: z.number().min(MIN_INTERVAL_SECONDS).max(60).optional().openapi({ description: INTERVAL_DESCRIPTION }),
  })
  .strict()
  .openapi("ConsumeOptions");

const Inbox = {
  session: z.string(),
  session_id: z.string(),
  role: z.enum(SESSION_ROLES),
  task: z.string().nullable().openapi({ description: "Set for manager-inbox / worker-inbox" }),
};

export const WokenBy = z.enum(["notifier", "interval"]).nullable().openapi({
  description:
    "What ended the last wait before the answer: a signal (a send through this server, or another server's write seen by its change watcher), the periodic re-check, or null (no wait)",
});

export const InboxList = z
  .object({
    ...Inbox,
    pending: z.number().int().openapi({ description: "Unconsumed items addressed to the session" }),
    items: z.array(InboxItem),
    count: z.number().int(),
    timed_out: z.boolean(),
    poll_count: z.number().int(),
    woken_by: WokenBy,
    ...NextCursorField,
  })
  .openapi("InboxList");

export const ConsumeResult = z
  .object({
    ...Inbox,
    item: InboxItem.nullable().openapi({ description: "The consumed item; null when none was pending (or the wait timed out)" }),
    timed_out: z.boolean().openapi({ description: "True when wait=true and no item arrived within the timeout" }),
    has_more: z.boolean().openapi({ description: "More unconsumed items remain" }),
    poll_count: z.number().int().openapi({ description: "Database checks this request made" }),
    woken_by: WokenBy,
    event_id: z.string().nullable().openapi({ description: "The dispatch_inbox_consumed audit event" }),
  })
  .openapi("ConsumeResult");

export const TaskNameParam = z.object({ name: NameSchema.openapi({ param: { name: "name", in: "path" } }) });
