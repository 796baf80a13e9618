import { z } from "@hono/zod-openapi";
import type { SessionRow } from "../../schema/sessions.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { assertPaneOwned, hostFor } from "../lib/local.ts";
import { ingestSession } from "../observe/ingest.ts";

/** Lines of pane history kept with a capture before a stop. */
const CAPTURE_SCROLLBACK = 2000;

export const TranscriptCapture = z
  .object({
    session: z.string(),
    transcript_offset: z.number().int().nullable().openapi({ description: "Transcript ingested up to this byte offset" }),
    new_events: z.number().int(),
    pane_captured: z.boolean(),
    pane_chars: z.number().int(),
    event_id: z.string(),
  })
  .openapi("TranscriptCapture");

/**
 * Captures what a session has said before it is stopped: ingests the rest of its transcript and
 * keeps its tmux pane (with scrollback) in a transcript_captured audit row. Every session is
 * captured before any is stopped; the first failure throws, so no stop side effect happens.
 */
export async function captureBeforeStop(ctx: Ctx, taskId: string, targets: SessionRow[]): Promise<Array<z.infer<typeof TranscriptCapture>>> {
  const out: Array<z.infer<typeof TranscriptCapture>> = [];
  for (const s of targets) {
    let offset: number | null = null;
    let newEvents = 0;
    let pane: string | null = null;
    try {
      if (s.transcriptPath) {
        const r = await ingestSession(ctx, s);
        offset = r.new_offset;
        newEvents = r.new_events;
      }
      if (s.tmuxSession) {
        // The screen is kept in the audit log, so it is read only from the agent's own pane.
        const host = hostFor(ctx, s);
        await assertPaneOwned(host, s.tmuxSession, { pid: s.pid, startedAt: s.pidStartedAt, transcriptPath: s.transcriptPath });
        pane = await host.tmuxCapturePane(s.tmuxSession, { scrollback: CAPTURE_SCROLLBACK });
      }
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      const audit = auditInsert(ctx, { kind: "transcript_capture_failed", taskId, sessionId: s.id, payload: { session: s.name, error: why } });
      await audit.stmt;
      throw new ApiError("POLICY_REFUSED", `transcript capture of '${s.name}' failed before stop, so nothing was stopped: ${why}`, {
        hint: "Fix the cause (or leave out --capture-transcript-before-stop) and retry.",
      });
    }
    const audit = auditInsert(ctx, {
      kind: "transcript_captured",
      taskId,
      sessionId: s.id,
      payload: { session: s.name, transcript_path: s.transcriptPath, transcript_offset: offset, new_events: newEvents, pane },
    });
    await audit.stmt;
    out.push({
      session: s.name,
      transcript_offset: offset,
      new_events: newEvents,
      pane_captured: pane !== null,
      pane_chars: pane?.length ?? 0,
      event_id: audit.id,
    });
  }
  return out;
}
