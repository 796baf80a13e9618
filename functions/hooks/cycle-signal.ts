import type { HookState, HookStateRow } from "../../schema/hooks.ts";
import type { WorkerState } from "../../schema/observe.ts";
import type { Ctx } from "../lib/ctx.ts";
import { hookStateOf } from "./ingest.ts";
import { hookStateToWire } from "./read.ts";
import { coarseState } from "./state.ts";

/**
 * How long the transcript may lag the hooks before a disagreement counts. Claude Code buffers
 * its transcript writes (a Stop hook arrives before the turn's last lines are on disk), so a
 * fresh hook state routinely runs ahead of the transcript for a second or so.
 */
export const DIVERGENCE_GRACE_MS = 5_000;

/** What `cycle` reports about the hooks beside the transcript and pane readings. */
export interface HookCycleSignal {
  hook_state: ReturnType<typeof hookStateToWire> | null;
  /** Where `effective_state` comes from: the hooks when they are current, else the transcript. */
  state_source: "hook" | "transcript";
  effective_state: HookState | WorkerState;
  /** Why the hooks and the transcript/pane disagree, when they do (recorded on the cycle row). */
  divergence: string | null;
}

/**
 * Puts the hook-derived state beside the transcript and pane readings. The hooks win when they
 * are at least as recent as the transcript's last state change; without any hook event, or
 * with hooks older than what the transcript has since seen, the transcript (and pane) stand.
 * A disagreement that outlasts the grace period is a divergence: the hooks and the transcript
 * name different busy/idle states, or the hooks report a permission wait the pane does not
 * show, or the pane shows an approval prompt the hooks never reported.
 */
export async function hookCycleSignal(
  ctx: Ctx,
  worker: { id: string; name: string },
  transcript: { state: WorkerState; last_state_event_at: string | null },
  pane: { captured: boolean; notable_pattern: string | null },
): Promise<HookCycleSignal> {
  return hookCycleSignalFrom(ctx, worker, await hookStateOf(ctx, worker.id), transcript, pane);
}

/** `hookCycleSignal` from a hook state row already read (a cycle reads it in its one batch). */
export function hookCycleSignalFrom(
  ctx: Ctx,
  worker: { name: string },
  row: HookStateRow | null,
  transcript: { state: WorkerState; last_state_event_at: string | null },
  pane: { captured: boolean; notable_pattern: string | null },
): HookCycleSignal {
  if (!row) return { hook_state: null, state_source: "transcript", effective_state: transcript.state, divergence: null };
  const wire = hookStateToWire(ctx, worker.name, row);
  const transcriptAt = transcript.last_state_event_at ? Date.parse(transcript.last_state_event_at) : null;
  const hooksCurrent = transcriptAt === null || row.stateAt + 1_000 >= transcriptAt;
  const settled = ctx.now().getTime() - row.stateAt >= DIVERGENCE_GRACE_MS;
  let divergence: string | null = null;
  if (settled) {
    const coarse = coarseState(row.state);
    if (transcript.state !== "unknown" && coarse !== "ended" && coarse !== transcript.state) {
      divergence = `hooks say ${row.state} (${row.eventName}, ${wire.age_seconds}s ago) but the transcript says ${transcript.state}`;
    } else if (pane.captured && row.state === "waiting_for_permission" && pane.notable_pattern !== "approval_prompt") {
      divergence = `hooks say waiting_for_permission (${row.eventName}, ${wire.age_seconds}s ago) but the pane shows no approval prompt`;
    }
  }
  if (!divergence && pane.captured && pane.notable_pattern === "approval_prompt" && row.state !== "waiting_for_permission" && settled) {
    divergence = `the pane shows an approval prompt but the hooks say ${row.state} (${row.eventName}, ${wire.age_seconds}s ago)`;
  }
  return {
    hook_state: wire,
    state_source: hooksCurrent ? "hook" : "transcript",
    effective_state: hooksCurrent ? row.state : transcript.state,
    divergence,
  };
}
