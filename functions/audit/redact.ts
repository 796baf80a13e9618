/**
 * Keys whose values are agent, user or pane content: the audit log's own list (lib/audit.ts
 * `redactContent`) and what other stored rows carry: transcript text a cycle or completion
 * quotes, pane evidence, drafts, goals.
 */
const MORE_CONTENT_KEYS = new Set([
  "content",
  "text",
  "body",
  "message",
  "prompt",
  "pane",
  "transcript",
  "output",
  "followup",
  "last_worker_message",
  "last_agent_message",
  "evidence",
  "matched",
  "excerpt",
  "draft",
  "draft_text",
  "request_text",
  "approved_text",
  "edited_text",
  "task_goal",
  "task_summary",
  "goal",
  "summary",
  "criterion",
  "screen",
  "lines",
  // Hook event payloads (functions/hooks/ingest.ts keptPayload).
  "tool_command",
  "last_assistant_message",
]);

/**
 * Redacts content from any stored JSON: the audit log's content keys plus the keys above. A
 * redacted string becomes a length marker; arrays of strings under a content key become one.
 */
export function redactDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactDeep);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    // Object.keys rather than Object.entries: the same order without a pair per key (replay redacts every row of a page).
    for (const k of Object.keys(value)) {
      const v = (value as Record<string, unknown>)[k];
      if (MORE_CONTENT_KEYS.has(k) && typeof v === "string") out[k] = `[redacted ${v.length} chars]`;
      else if (MORE_CONTENT_KEYS.has(k) && Array.isArray(v) && v.every((x) => typeof x === "string"))
        out[k] = `[redacted ${v.length} items, ${v.reduce((n, x) => n + (x as string).length, 0)} chars]`;
      else out[k] = redactDeep(v);
    }
    return out;
  }
  return value;
}

/** A stored text column: itself when content is asked for, else a length marker (null stays null). */
export function redactText(text: string | null | undefined, include: boolean): string | null {
  if (text === null || text === undefined) return null;
  return include ? text : `[redacted ${text.length} chars]`;
}

/** Stored JSON, redacted unless content is asked for. */
export function maybeRedact<T>(value: T, include: boolean): T {
  return (include ? value : redactDeep(value)) as T;
}
