import type { z } from "@hono/zod-openapi";
import type { CommandRow } from "../../schema/commands.ts";
import type { SessionRow } from "../../schema/sessions.ts";
import { paneOwnerOf, type CapturePayload, type InterruptPayload, type NudgePayload } from "./pane-executors.ts";
import { assertManagerKey, assertNoSlashCommand } from "../lib/pane-text.ts";
import { pushTargetWithTask } from "./nudge.ts";
import { commandToWire } from "../queue/store.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { NameParam } from "../sessions/schema.ts";
import { enqueueCommand } from "../queue/enqueue.ts";
import { EnqueueHostBody, EnqueueHostResult } from "../queue/schema.ts";

// Not the daemon: queued nudges and interrupts become keystrokes, which need a nudge's authority
// (the owner, the session itself, or its bound manager).
export const enqueueHostRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/sessions/{name}/commands",
    tags: ["queue"],
    summary: "Queue a nudge, interrupt or capture for the session's host",
    description:
      "Instead of acting now, the command waits for a dispatcher or runner on the session's machine (switchyard runner --host H) to claim it, so a session on another machine can be reached. Retried with backoff up to max_attempts. CLI: enqueue NAME --type nudge --text TEXT.",
    request: { params: NameParam, body: jsonBody(EnqueueHostBody) },
    responses: {
      201: jsonResponse(EnqueueHostResult, "Queued"),
      200: jsonResponse(EnqueueHostResult, "Already queued under this idempotency key"),
    },
  },
  { idempotency: "atomic" },
);

/** Builds the executor payload for a host command from the session's registration. */
function hostPayload(s: SessionRow & { tmuxSession: string }, input: z.output<typeof EnqueueHostBody>) {
  const pane = { ...paneOwnerOf(s), tmux_session: s.tmuxSession, transcript_path: s.transcriptPath };
  switch (input.type) {
    case "nudge": {
      if (!input.text)
        throw new ApiError("VALIDATION_FAILED", "a queued nudge needs text", {
          hint: 'Pass the text to type (`switchyard enqueue SESSION --type nudge --text "..."`); interrupt and capture need none.',
          fields: [{ field: "text", message: "required for type nudge" }],
        });
      return { ...pane, text: input.text, transcript_kind: s.transcriptKind } satisfies z.infer<typeof NudgePayload>;
    }
    case "interrupt":
      return { ...pane, key: input.key ?? "C-c", followup: input.followup ?? null } satisfies z.infer<typeof InterruptPayload>;
    case "capture":
      return { ...pane, scrollback: input.scrollback } satisfies z.infer<typeof CapturePayload>;
  }
}

/** Queues a host command for a session's machine. */
export async function enqueueHostCommand(ctx: Ctx, name: string, input: z.output<typeof EnqueueHostBody>) {
  const { session: s, taskId } = await pushTargetWithTask(ctx, name, input.type);
  assertNoSlashCommand(ctx, s, input.type === "nudge" ? input.text : input.type === "interrupt" ? input.followup : null, `the queued ${input.type}'s text`);
  if (input.type === "interrupt") assertManagerKey(ctx, s, input.key);
  const payload = hostPayload(s, input);
  const wire = (command: CommandRow) => ({ command_id: command.id, command: commandToWire(command), created: true });
  const { command, created } = await enqueueCommand(
    ctx,
    {
      type: input.type,
      sessionId: s.id,
      taskId,
      host: s.host,
      payload,
      correlationId: input.correlation_id ?? null,
      idempotencyKey: input.idempotency_key ?? null,
      maxAttempts: input.max_attempts,
    },
    wire,
    // What the caller asked for; the pane fields come from the session as it is now.
    ["text", "key", "followup", "scrollback"],
  );
  return { ...wire(command), created };
}
