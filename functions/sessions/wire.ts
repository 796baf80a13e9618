import type { SessionRow } from "../../schema/sessions.ts";
import { iso } from "../lib/sql.ts";

/** How a session receives messages, derived from how it was registered. */
export function communicationFor(s: Pick<SessionRow, "name" | "tmuxSession" | "transcriptKind">) {
  if (s.tmuxSession) {
    return { session_kind: "tmux" as const, receive_style: "push" as const, delivery_mode: "push" as const, poll_command: null };
  }
  return {
    session_kind: s.transcriptKind === "claude" ? ("claude_app" as const) : ("codex_app" as const),
    receive_style: "pull" as const,
    delivery_mode: "pull_required" as const,
    poll_command: `switchyard session-inbox ${s.name} --consume-next --wait --json`,
  };
}

/** The wire form of a session row. */
export function sessionToWire(s: SessionRow, opts: { redactToken?: boolean } = {}) {
  return {
    id: s.id,
    name: s.name,
    role: s.role,
    state: s.state,
    pid: s.pid,
    host: s.host,
    cwd: s.cwd,
    tmux_session: s.tmuxSession,
    transcript_path: s.transcriptPath,
    transcript_kind: s.transcriptKind,
    thread_id: s.threadId,
    thread_title: s.threadTitle,
    identity_token: s.tokenId === null ? null : opts.redactToken ? "[redacted]" : s.tokenId,
    last_heartbeat_at: iso(s.lastHeartbeatAt),
    created_at: iso(s.createdAt)!,
    updated_at: iso(s.updatedAt)!,
    gone_at: iso(s.goneAt),
    communication: communicationFor(s),
  };
}
