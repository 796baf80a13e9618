import { z } from "@hono/zod-openapi";
import { NextCursorField, PageQueryFields } from "../lib/paging.ts";
import { COMMAND_STATES, COMMAND_TYPES } from "../../schema/commands.ts";
import { NameSchema, QueryBool, QueryLimit } from "../lib/names.ts";
import { PaneTextField } from "../lib/pane-text.ts";
import { RUNNER_COMMAND_TYPES } from "./claim.ts";
import { HOST_ENQUEUE_TYPES } from "../../schema/enums.ts";

// In schema/enums.ts, which the CLI loads (without drizzle or zod) to check option values.
export { HOST_ENQUEUE_TYPES };

export const Command = z
  .object({
    id: z.string(),
    type: z.enum(COMMAND_TYPES),
    state: z.enum(COMMAND_STATES),
    task_id: z.string().nullable(),
    session_id: z.string().nullable(),
    host: z.string().nullable(),
    payload: z.record(z.string(), z.unknown()),
    result: z.record(z.string(), z.unknown()).nullable(),
    error: z.string().nullable(),
    correlation_id: z.string().nullable(),
    idempotency_key: z.string().nullable(),
    required_permission: z.string().nullable(),
    attempts: z.number().int(),
    max_attempts: z.number().int(),
    claimed_by: z.string().nullable(),
    claim_generation: z.number().int(),
    lease_expires_at: z.string().nullable(),
    next_attempt_at: z.string().nullable().openapi({ description: "When a failed command may be retried (exponential backoff)" }),
    created_by: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
    completed_at: z.string().nullable(),
  })
  .openapi("Command");

export const EnqueueBody = z
  .object({
    message: z.string().min(1).max(20_000),
    correlation_id: z.string().min(1).max(200).optional(),
    required_permission: z.string().min(1).max(200).optional().openapi({ description: "Permission the target must hold for the command to be acted on" }),
    idempotency_key: z.string().min(1).max(200).optional().openapi({ description: "Natural key: a retry with the same key returns the existing command" }),
    max_attempts: z.number().int().min(1).max(20).optional().default(5),
  })
  .strict()
  .openapi("Enqueue");

export const EnqueueResult = z
  .object({
    command_id: z.string(),
    command: Command,
    created: z.boolean().openapi({ description: "False when the idempotency key matched an existing command" }),
    target_session: z.string(),
  })
  .openapi("EnqueueResult");

export const EnqueueHostBody = z
  .object({
    type: z.enum(HOST_ENQUEUE_TYPES),
    text: PaneTextField(20_000).optional().openapi({ description: "nudge: the prompt to type" }),
    // No Escape here: a queued key runs later, where nobody checks the agent is idle, and Escape
    // can discard a busy agent's work. session-interrupt (inline) allows it only when idle.
    key: z
      .string()
      .regex(/^(C-[a-z]|Enter|q)$/, "a key like C-c or C-d (Escape only through session-interrupt, when the agent is idle)")
      .optional()
      .openapi({ description: "interrupt: the key (default C-c)" }),
    followup: PaneTextField(20_000).optional().openapi({ description: "interrupt: a prompt to submit afterwards" }),
    scrollback: z.number().int().min(0).max(10_000).optional().openapi({ description: "capture: lines of history" }),
    correlation_id: z.string().min(1).max(200).optional(),
    idempotency_key: z.string().min(1).max(200).optional(),
    max_attempts: z.number().int().min(1).max(20).optional().default(3),
  })
  .strict()
  .openapi("EnqueueHostCommand");

export const EnqueueHostResult = z.object({ command_id: z.string(), command: Command, created: z.boolean() }).openapi("EnqueueHostResult");

export const CommandAttempt = z
  .object({
    id: z.string(),
    dispatcher_id: z.string(),
    claim_generation: z.number().int(),
    side_effect_started: z.boolean(),
    side_effect_completed: z.boolean(),
    result: z.record(z.string(), z.unknown()).nullable(),
    error: z.string().nullable(),
    started_at: z.string(),
    finished_at: z.string().nullable(),
  })
  .openapi("CommandAttempt");

export const CommandListQuery = z.object({
  task: NameSchema.optional(),
  type: z.enum(COMMAND_TYPES).optional(),
  state: z.enum(COMMAND_STATES).optional(),
  attempts: QueryBool.openapi({ description: "Include each command's attempt history" }),
  limit: QueryLimit(1000, 100),
  cursor: PageQueryFields.cursor,
});

export const CommandWithAttempts = Command.extend({ attempt_history: z.array(CommandAttempt).optional() }).openapi("CommandWithAttempts");

export const CommandList = z.object({ commands: z.array(CommandWithAttempts), count: z.number().int(), ...NextCursorField }).openapi("CommandList");

export const CommandIdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: "id", in: "path" } }),
});

export const RequeueResult = z.object({ command_id: z.string(), command: Command, previous_state: z.enum(COMMAND_STATES) }).openapi("RequeueResult");

export const RunnerClaimBody = z
  .object({
    runner_id: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,80}$/)
      .optional()
      .openapi({ description: "Names this runner process in attempt history" }),
    limit: z.number().int().min(1).max(100).optional().default(10),
    lease_seconds: z.number().int().min(5).max(3600).optional().default(120),
    types: z.array(z.enum(RUNNER_COMMAND_TYPES)).optional(),
  })
  .strict()
  .openapi("RunnerClaim");

export const RunnerClaim = z.object({ command: Command, generation: z.number().int(), attempt_id: z.string() }).openapi("RunnerClaimed");

export const RunnerClaimResult = z.object({ host: z.string(), claims: z.array(RunnerClaim), count: z.number().int() }).openapi("RunnerClaimResult");

export const RunnerStartedResult = z.object({ attempt_id: z.string(), command_id: z.string(), started: z.literal(true) }).openapi("RunnerStartedResult");

export const RunnerCompleteBody = z
  .object({
    attempt_id: z.string().min(1).max(100),
    generation: z.number().int().min(1),
    ok: z.boolean(),
    result: z.record(z.string(), z.unknown()).optional(),
    error: z.string().max(20_000).optional(),
    side_effect_completed: z.boolean().optional(),
    invalid_payload: z.boolean().optional().openapi({ description: "The payload failed validation before any side effect: no retry" }),
  })
  .strict()
  .openapi("RunnerComplete");

export const RunnerCompleteResult = z.object({ command_id: z.string(), command: Command }).openapi("RunnerCompleteResult");

export const AttemptIdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: "id", in: "path" } }),
});
