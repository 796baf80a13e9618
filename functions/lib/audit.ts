import { events, type EventRow } from "../../schema/events.ts";
import { actorOf, type Ctx } from "./ctx.ts";
import type { Db } from "./db.ts";
import type { ApiError } from "./errors.ts";
import { txWithKey } from "./idempotency.ts";
import { insertRow } from "./sql.ts";

/** The audit row a mutation writes, as a row and as a statement so callers can batch it. */
export function auditInsert(ctx: Ctx, input: { kind: string; taskId?: string | null; sessionId?: string | null; payload: Record<string, unknown> }) {
  const row: EventRow = {
    id: ctx.newId("evt"),
    kind: input.kind,
    taskId: input.taskId ?? null,
    sessionId: input.sessionId ?? null,
    actor: actorOf(ctx.auth),
    payload: input.payload,
    createdAt: ctx.now().getTime(),
  };
  return { id: row.id, row, stmt: insertRow(ctx.db, events, row) };
}

/** Payload keys whose values are agent or user content and are hidden unless asked for. */
const CONTENT_KEYS = new Set(["content", "text", "body", "message", "prompt", "pane", "transcript", "output", "followup"]);

/** Replaces content-bearing values with a length marker, recursively. */
export function redactContent(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactContent);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = CONTENT_KEYS.has(k) && typeof v === "string" ? `[redacted ${v.length} chars]` : redactContent(v);
    }
    return out;
  }
  return value;
}

/** The transaction handle `withWriteTransaction` passes to its callback. */
type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

/**
 * Runs a conditional `UPDATE … RETURNING` and, only when it changed a row, the audit insert,
 * in one write transaction: a change that lost a race leaves no audit row behind. `respond`
 * (routes only) maps the changed row to the route's response, stored with the request's
 * Idempotency-Key in the same transaction (lib/idempotency.ts `txWithKey`).
 */
export async function guardedUpdate<T>(
  ctx: Ctx,
  audit: { row: EventRow },
  update: (tx: Tx) => Promise<T[]>,
  missing: () => ApiError,
  respond?: (changed: T) => { body: unknown; status: number } | undefined,
): Promise<T> {
  return txWithKey(
    ctx,
    async (tx) => {
      const [changed] = await update(tx);
      if (changed === undefined) throw missing();
      await tx.insert(events).values(audit.row);
      return changed;
    },
    respond,
  );
}
