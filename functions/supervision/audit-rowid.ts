import { sql } from "drizzle-orm";
import { events } from "../../schema/events.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import type { KeyFill } from "../lib/idempotency.ts";

/**
 * An audit insert to run in the same batch right after an insert into an integer-keyed table:
 * SQLite's last_insert_rowid() puts the new row's id under `idKey` in the payload, so the row
 * and its audit commit together without a read in between. `fill` names where the same id goes
 * in a route's response stored with its Idempotency-Key in that batch (lib/idempotency.ts).
 */
export function auditAfterInsert(
  ctx: Ctx,
  input: { kind: string; taskId: string; sessionId?: string | null; idKey: string; payload: Record<string, unknown> },
) {
  const id = ctx.newId("evt");
  const stmt = ctx.db.run(sql`INSERT INTO ${events} (id, kind, task_id, session_id, actor, payload_json, created_at)
    VALUES (${id}, ${input.kind}, ${input.taskId}, ${input.sessionId ?? null}, ${actorOf(ctx.auth)},
      json_set(${JSON.stringify(input.payload)}, ${`$.${input.idKey}`}, last_insert_rowid()), ${ctx.now().getTime()})`);
  const fill = (paths: string[]): KeyFill => ({
    paths,
    value: sql`SELECT json_extract(${events.payload}, ${`$.${input.idKey}`}) FROM ${events} WHERE ${events.id} = ${id}`,
  });
  return { id, stmt, fill };
}
