import { z } from "@hono/zod-openapi";
import { HOOK_AGENTS, HOOK_STATES } from "../../schema/hooks.ts";
import { NameSchema, QueryBool } from "../lib/names.ts";
import { NextCursorField, PageQueryFields } from "../lib/paging.ts";

export const HookAgentParam = z.object({
  agent: z.enum(HOOK_AGENTS).openapi({ param: { name: "agent", in: "path" }, description: "Which CLI sent the payload: claude or codex" }),
});

export const SessionNameParam = z.object({ name: NameSchema.openapi({ param: { name: "name", in: "path" } }) });
export const TaskNameParam = z.object({ name: NameSchema.openapi({ param: { name: "name", in: "path" } }) });

/** Longest string field of a hook payload that is stored (prompts and messages are clipped). */
export const MAX_HOOK_TEXT = 2000;

/**
 * A field the hook route copies into a text column: the database driver reads text back only up
 * to a NUL, so one holding U+0000 is refused (the rest of a payload, stored as JSON, may hold it).
 */
const hookText = (max: number) =>
  z
    .string()
    .max(max)
    .refine((v) => !v.includes("\u0000"), "contains the NUL character (U+0000)");

/**
 * A hook payload exactly as the agent CLI sends it (Claude Code HTTP hooks, or a Codex command
 * hook piped through `switchyard-hook`). Only `hook_event_name` is required; the fields
 * Switchyard reads are listed, anything else the agent adds is accepted and ignored.
 */
export const HookPayload = z
  .looseObject({
    hook_event_name: z
      .string()
      .min(1)
      .max(100)
      // A name, never text: it is shown in lists and terminals as it came.
      .regex(/^[A-Za-z][A-Za-z0-9_.:-]*$/, "an event name: letters first, then letters, digits, _ . : -")
      .openapi({ description: "e.g. SessionStart, UserPromptSubmit, PermissionRequest, Notification, Stop" }),
    session_id: hookText(200).optional().openapi({ description: "The agent's own session id (Claude session uuid, Codex thread id)" }),
    transcript_path: hookText(4096).nullable().optional(),
    cwd: hookText(4096).optional(),
    turn_id: hookText(200).optional().openapi({ description: "Codex: the turn this event belongs to" }),
    prompt_id: hookText(200).optional().openapi({ description: "Claude Code: the prompt (turn) this event belongs to" }),
    source: hookText(100).optional().openapi({ description: "SessionStart: startup, resume, clear or compact" }),
    reason: hookText(200).optional().openapi({ description: "SessionEnd: why the session ended (clear, logout, prompt_input_exit, other)" }),
    notification_type: hookText(100).optional(),
    trigger: hookText(100).optional().openapi({ description: "PreCompact/PostCompact: manual or auto" }),
    tool_name: hookText(200).optional(),
    last_assistant_message: z.string().nullable().optional(),
  })
  .openapi("HookPayload");

/**
 * The answer, which the agent reads as its hook output: empty (`{}`), or, on a SessionStart
 * that re-primes the session, `hookSpecificOutput.additionalContext`. What Switchyard did is in
 * the `X-Switchyard-*` headers, so nothing here can change what the agent does next.
 */
export const HookAnswer = z
  .object({
    hookSpecificOutput: z.object({ hookEventName: z.literal("SessionStart"), additionalContext: z.string() }).optional(),
  })
  .openapi("HookAnswer");

export const HookStateWire = z
  .object({
    session: z.string(),
    agent: z.enum(HOOK_AGENTS),
    state: z.enum(HOOK_STATES),
    event: z.string().openapi({ description: "The hook event that set the state" }),
    state_at: z.string(),
    age_seconds: z.number(),
    last_event_at: z.string(),
    agent_session_id: z.string().nullable(),
    turn_id: z.string().nullable(),
    pending_transcript_path: z.string().nullable(),
    events: z.number().int(),
  })
  .openapi("HookState");

export const HookStateResult = z.object({ session: z.string(), hook_state: HookStateWire.nullable() }).openapi("HookStateResult");

export const HookEventsQuery = z.object({
  ...PageQueryFields,
  include_content: QueryBool.openapi({ description: "Show the prompt, message, tool command and last assistant message instead of length markers" }),
});

export const HookEventWire = z
  .object({
    id: z.number().int(),
    session: z.string(),
    agent: z.enum(HOOK_AGENTS),
    event: z.string(),
    agent_session_id: z.string().nullable(),
    turn_id: z.string().nullable(),
    transcript_path: z.string().nullable(),
    state_after: z.enum(HOOK_STATES).nullable(),
    payload: z.record(z.string(), z.unknown()),
    received_at: z.string(),
  })
  .openapi("HookEvent");

export const HookEventList = z
  .object({
    session: z.string(),
    events: z.array(HookEventWire),
    count: z.number().int(),
    content_redacted: z.boolean().openapi({ description: "True unless include_content=true: content fields of each payload are length markers" }),
    ...NextCursorField,
  })
  .openapi("HookEventList");

export const HookTokenResult = z
  .object({
    session: z.string(),
    token_id: z.string(),
    token: z.string().openapi({ description: "Shown once; the agent needs it as SWITCHYARD_HOOK_TOKEN" }),
    event_id: z.string(),
  })
  .openapi("HookTokenResult");

export const HookSettingsBody = z
  .object({
    reprime_on_reset: z.boolean().openapi({ description: "Give the worker the task bootstrap and latest handoff after /clear, compaction or resume" }),
  })
  .strict()
  .openapi("HookSettingsInput");

export const HookSettingsResult = z
  .object({ task: z.string(), reprime_on_reset: z.boolean(), updated_at: z.string().nullable(), event_id: z.string().nullable() })
  .openapi("HookSettings");
