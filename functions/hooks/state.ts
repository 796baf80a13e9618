import type { HookState } from "../../schema/hooks.ts";

/** The fields of a hook payload the state machine reads. */
export interface HookFacts {
  event: string;
  source?: string;
  reason?: string;
  notificationType?: string;
  trigger?: string;
}

/** Events that mean the agent is working on a turn. */
const BUSY_EVENTS = new Set(["UserPromptSubmit", "PreToolUse", "PostToolUse", "PostToolUseFailure", "PostToolBatch", "SubagentStart", "SubagentStop"]);

/**
 * The state one hook event moves a session to, or null when it moves nothing. The same event
 * names are used by Claude Code and Codex (Codex copied Claude's hook vocabulary); see
 * docs/agent-integration.md for which agent sends which.
 *
 * - a prompt or a tool call: busy; a permission request (or Claude's permission_prompt
 *   notification): waiting_for_permission; Stop, StopFailure, Codex's Interrupt or an idle
 *   notification: idle;
 * - PreCompact: compacting; PostCompact: busy when the agent compacted on its own mid-turn,
 *   idle after a manual /compact; SessionStart after a compaction leaves the state to PostCompact;
 * - SessionEnd: ended, except when the agent ends a session only to start its successor
 *   (/clear), where the SessionStart that follows continues the same Switchyard session.
 */
export function nextHookState(f: HookFacts, previous: HookState | null): HookState | null {
  if (BUSY_EVENTS.has(f.event)) return "busy";
  switch (f.event) {
    case "PermissionRequest":
      return "waiting_for_permission";
    case "Notification":
      if (f.notificationType === "permission_prompt") return "waiting_for_permission";
      if (f.notificationType === "idle_prompt") return "idle";
      return null;
    case "Stop":
    case "StopFailure":
    case "Interrupt":
      return "idle";
    case "PreCompact":
      return "compacting";
    case "PostCompact":
      return f.trigger === "auto" ? "busy" : "idle";
    case "SessionStart":
      if (f.source === "compact") return previous === "compacting" ? null : previous === null ? "idle" : null;
      return "idle";
    case "SessionEnd":
      return f.reason === "clear" || f.reason === "resume" ? null : "ended";
    default:
      return null;
  }
}

/** SessionStart sources after which the agent carries on as the same worker with a fresh context. */
export const RESET_SOURCES = new Set(["clear", "compact", "resume"]);

/** How a hook state reads on the busy/idle scale the transcript uses (for cross-checks). */
export function coarseState(s: HookState): "busy" | "idle" | "ended" {
  if (s === "idle") return "idle";
  if (s === "ended") return "ended";
  return "busy";
}
