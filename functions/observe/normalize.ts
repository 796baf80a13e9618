import type { EventKind } from "../../schema/observe.ts";
import type { TranscriptKind } from "../../schema/sessions.ts";

/** One event in the model both transcript formats are mapped onto. */
export interface NormalizedEvent {
  kind: EventKind;
  /** The source format's own type name, e.g. `task_complete` or `tool_use`. */
  subtype: string;
  eventAt: number | null;
  text: string | null;
  tool: string | null;
  /**
   * The agent's id of the turn the event belongs to, when the line names one (Codex turn_id,
   * Claude promptId on a prompt). Ingest carries a Claude prompt's id on to the turn's end.
   */
  turnId?: string | null;
}

/** Longest text stored per event; transcripts can carry whole files in one line. */
export const MAX_EVENT_TEXT = 4000;

type Json = Record<string, unknown>;

function clip(text: unknown): string | null {
  if (typeof text !== "string" || text.length === 0) return null;
  return text.length > MAX_EVENT_TEXT ? `${text.slice(0, MAX_EVENT_TEXT)}…` : text;
}

function timeOf(v: unknown): number | null {
  if (typeof v !== "string") return null;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : null;
}

function asObject(v: unknown): Json | null {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Json) : null;
}

const CODEX_TOOL_SUBTYPES = new Set([
  "function_call",
  "function_call_output",
  "custom_tool_call",
  "custom_tool_call_output",
  "local_shell_call",
  "web_search_call",
  "exec_command_begin",
  "exec_command_end",
  "patch_apply_begin",
  "patch_apply_end",
  "mcp_tool_call_begin",
  "mcp_tool_call_end",
  "web_search_begin",
  "web_search_end",
]);

const CODEX_ERROR_SUBTYPES = new Set(["error", "stream_error", "turn_aborted"]);

/**
 * Maps one Codex rollout line. `event_msg` lines carry the turn lifecycle (task_started,
 * task_complete, and the messages, either as user_message/agent_message or, since 0.169, as
 * item_completed thread items); `response_item` lines repeat the messages for the model's
 * context, so only their tool calls are counted to avoid seeing each message twice.
 */
export function normalizeCodexLine(line: Json): NormalizedEvent[] {
  const turnId = typeof asObject(line.payload)?.turn_id === "string" ? (asObject(line.payload)!.turn_id as string) : null;
  const events = normalizeCodexLineBody(line);
  return turnId ? events.map((e) => ({ ...e, turnId })) : events;
}

function normalizeCodexLineBody(line: Json): NormalizedEvent[] {
  const payload = asObject(line.payload);
  const lineType = typeof line.type === "string" ? line.type : "unknown";
  const subtype = typeof payload?.type === "string" ? payload.type : lineType;
  const eventAt = timeOf(line.timestamp);
  const base = { subtype, eventAt, text: null, tool: null };
  if (lineType === "event_msg" && payload) {
    const item = asObject(payload.item);
    if ((subtype === "item_completed" || subtype === "item_started") && item) return [codexItem(subtype, item, eventAt)];
    switch (subtype) {
      case "user_message":
        return [{ ...base, kind: "user_message", text: clip(payload.message) }];
      case "task_started":
        return [{ ...base, kind: "task_started" }];
      case "agent_message":
        return [{ ...base, kind: "agent_message", text: clip(payload.message) }];
      case "task_complete":
        return [{ ...base, kind: "task_complete", text: clip(payload.last_agent_message) }];
    }
    if (CODEX_ERROR_SUBTYPES.has(subtype)) return [{ ...base, kind: "error", text: clip(payload.message ?? payload.reason) }];
    if (CODEX_TOOL_SUBTYPES.has(subtype)) return [{ ...base, kind: "tool_activity", tool: toolName(payload) }];
    return [{ ...base, kind: "other" }];
  }
  if (lineType === "response_item" && payload && CODEX_TOOL_SUBTYPES.has(subtype)) {
    return [{ ...base, kind: "tool_activity", tool: toolName(payload), text: clip(typeof payload.arguments === "string" ? payload.arguments : null) }];
  }
  return [{ ...base, kind: "other" }];
}

/** Text blocks of a Codex thread item (`content: [{type: "text"|"Text", text}]`). */
function itemText(item: Json): string | null {
  if (!Array.isArray(item.content)) return clip(item.text);
  const parts = item.content
    .map(asObject)
    .filter((b): b is Json => !!b && typeof b.text === "string")
    .map((b) => b.text as string);
  return parts.length ? clip(parts.join("\n")) : null;
}

/**
 * Codex 0.169+ reports turn content as thread items: the subtype keeps the raw shape
 * (`item_completed.UserMessage`), the kind says what it means. Only completed messages count
 * as messages; started and completed non-message items are tool activity.
 */
function codexItem(subtype: string, item: Json, eventAt: number | null): NormalizedEvent {
  const itemType = typeof item.type === "string" ? item.type : "Unknown";
  const raw = `${subtype}.${itemType}`;
  if (itemType === "UserMessage")
    return { kind: subtype === "item_completed" ? "user_message" : "other", subtype: raw, eventAt, text: itemText(item), tool: null };
  if (itemType === "AgentMessage")
    return { kind: subtype === "item_completed" ? "agent_message" : "other", subtype: raw, eventAt, text: itemText(item), tool: null };
  if (itemType === "Reasoning") return { kind: "other", subtype: raw, eventAt, text: null, tool: null };
  return { kind: "tool_activity", subtype: raw, eventAt, text: null, tool: typeof item.name === "string" ? item.name : itemType };
}

function toolName(payload: Json): string | null {
  if (typeof payload.name === "string") return payload.name;
  if (Array.isArray(payload.command)) return String(payload.command[0] ?? "shell");
  return null;
}

/** Text of a Claude message `content`, which is either a string or a list of blocks. */
function claudeText(content: unknown): string | null {
  if (typeof content === "string") return clip(content);
  if (!Array.isArray(content)) return null;
  const parts = content.filter((b) => asObject(b)?.type === "text").map((b) => String((b as Json).text ?? ""));
  return parts.length ? clip(parts.join("\n")) : null;
}

/**
 * Maps one Claude Code transcript line. A user line is either a prompt or a tool result; an
 * assistant line may hold text and tool_use blocks; `stop_reason: end_turn` ends the turn.
 */
export function normalizeClaudeLine(line: Json): NormalizedEvent[] {
  const type = typeof line.type === "string" ? line.type : "unknown";
  const eventAt = timeOf(line.timestamp);
  // Sub-agent (Task tool) lines belong to another conversation; their end_turn is not ours.
  if (line.isSidechain === true) return [{ kind: "other", subtype: `sidechain_${type}`, eventAt, text: null, tool: null }];
  const message = asObject(line.message);
  const content = message?.content;
  const blocks = Array.isArray(content) ? content.map(asObject).filter((b): b is Json => b !== null) : [];
  if (type === "user") {
    const toolResults = blocks.filter((b) => b.type === "tool_result");
    if (toolResults.length) {
      return toolResults.map(() => ({ kind: "tool_activity" as const, subtype: "tool_result", eventAt, text: null, tool: null }));
    }
    // Meta lines (command caveats, local command output) are not prompts a person typed.
    if (line.isMeta === true) return [{ kind: "other", subtype: "user_meta", eventAt, text: null, tool: null }];
    const turnId = typeof line.promptId === "string" ? line.promptId : null;
    return [{ kind: "user_message", subtype: "user", eventAt, text: claudeText(content), tool: null, turnId }];
  }
  if (type === "assistant") {
    if (line.isApiErrorMessage === true || typeof line.error === "string") {
      return [{ kind: "error", subtype: "api_error", eventAt, text: claudeText(content), tool: null }];
    }
    const out: NormalizedEvent[] = [];
    const text = claudeText(content);
    if (text) out.push({ kind: "agent_message", subtype: "text", eventAt, text, tool: null });
    for (const b of blocks.filter((x) => x.type === "tool_use")) {
      out.push({ kind: "tool_activity", subtype: "tool_use", eventAt, text: null, tool: typeof b.name === "string" ? b.name : null });
    }
    if (message?.stop_reason === "end_turn") out.push({ kind: "task_complete", subtype: "end_turn", eventAt, text, tool: null });
    return out.length ? out : [{ kind: "other", subtype: "assistant", eventAt, text: null, tool: null }];
  }
  if (type === "system") {
    const sub = typeof line.subtype === "string" ? line.subtype : "system";
    const isError = line.level === "error" || /error/i.test(sub);
    return [{ kind: isError ? "error" : "other", subtype: sub, eventAt, text: isError ? clip(line.content) : null, tool: null }];
  }
  return [{ kind: "other", subtype: type, eventAt, text: null, tool: null }];
}

/** Maps one parsed transcript line of either format. */
export function normalizeLine(kind: TranscriptKind, line: Json): NormalizedEvent[] {
  return kind === "claude" ? normalizeClaudeLine(line) : normalizeCodexLine(line);
}

/** Subtypes that end a turn without a completion: an abort, or Claude Code's API error reply. */
const TURN_ENDING_ERRORS = new Set(["turn_aborted", "api_error"]);

/** How an event moves the busy/idle state: prompts start work, completion (or abort) ends it. */
export function stateEffect(e: { kind: string; subtype: string }): "busy" | "idle" | null {
  if (e.kind === "user_message" || e.kind === "task_started") return "busy";
  if (e.kind === "task_complete" || TURN_ENDING_ERRORS.has(e.subtype)) return "idle";
  return null;
}
