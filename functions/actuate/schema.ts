import { z } from "@hono/zod-openapi";
import { PaneTextField } from "../lib/pane-text.ts";
import { Command } from "../queue/schema.ts";

export const NudgeBody = z
  .object({
    text: PaneTextField(20_000),
    dry_run: z.boolean().optional().default(false),
  })
  .strict()
  .openapi("Nudge");

/** Fields every nudge or interrupt answer carries: which command, and whether it ran here. */
const ActuationResult = z.object({
  session: z.string(),
  command_id: z.string(),
  queued: z.boolean().openapi({ description: "true when the session's host is another machine: its runner will execute the command" }),
  command: Command,
  dry_run: z.boolean(),
  sent: z.boolean(),
  event_id: z.string(),
});

export const NudgeResult = ActuationResult.extend({
  submitted: z.boolean(),
  enter_attempts: z.number().int(),
  verified_by: z.enum(["transcript", "pane"]).nullable(),
  path: z.enum(["tmux", "app_server"]).optional().openapi({
    description: "How it reached the agent: typed into the tmux pane, or through the Codex app-server serving the thread (turn/steer or turn/start)",
  }),
  held: z.string().optional().openapi({
    description:
      "Set when Enter was never pressed: the pane showed a prompt (a menu, an approval), so nothing was typed (`sent: false`), or the composer did not show the text as typed (an agent in vim normal mode or shell mode takes typed text as keys) and the text is left there",
  }),
}).openapi("NudgeResult");

export const InterruptBody = z
  .object({
    key: z
      .string()
      .regex(/^(C-[a-z]|Escape|Esc|Enter|q)$/, "a key like C-c, C-d or Escape")
      .optional()
      .default("C-c"),
    followup: PaneTextField(20_000).optional(),
    dry_run: z.boolean().optional().default(false),
  })
  .strict()
  .openapi("Interrupt");

export const InterruptResult = ActuationResult.extend({
  key: z.string(),
  followup_submitted: z.boolean().nullable(),
  followup_held: z
    .string()
    .optional()
    .openapi({ description: "Why the follow-up was not typed, or typed but its Enter never pressed, as for a nudge's `held`" }),
  path: z.enum(["tmux", "app_server"]).optional().openapi({ description: "A key in the tmux pane, or turn/interrupt through the Codex app-server" }),
}).openapi("InterruptResult");

export const StopBody = z
  .object({ dry_run: z.boolean().optional().default(false) })
  .strict()
  .openapi("Stop");

export const StopResult = z
  .object({
    session: z.string(),
    command_id: z.string(),
    command: Command,
    dry_run: z.boolean(),
    /** True when the session is on another host: the stop waits for that host's runner. */
    queued: z.boolean(),
    tmux_killed: z.boolean(),
    marked_gone: z.boolean(),
    event_id: z.string(),
  })
  .openapi("StopResult");
