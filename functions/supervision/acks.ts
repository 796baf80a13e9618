import { z } from "@hono/zod-openapi";
import { and, desc, eq, type SQLWrapper } from "drizzle-orm";
import { ACK_ROLES, taskAcknowledgements, type AckRole, type AckRow } from "../../schema/supervision.ts";
import type { TaskRow } from "../../schema/tasks.ts";
import { auditInsert } from "../lib/audit.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { decodeCursor, keysetAfter, NextCursorField, PageQueryFields, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { isUniqueViolation, iso } from "../lib/sql.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { supervisedTask } from "./access.ts";

export const Ack = z
  .object({
    id: z.string(),
    task: z.string(),
    role: z.enum(ACK_ROLES),
    revision: z.number().int(),
    payload: z.record(z.string(), z.unknown()),
    correlation_id: z.string().nullable(),
    session_id: z.string().nullable(),
    created_by: z.string(),
    created_at: z.string(),
  })
  .openapi("Acknowledgement");

/** The wire form of an acknowledgement. */
export function ackToWire(task: Pick<TaskRow, "name">, a: AckRow): z.infer<typeof Ack> {
  return {
    id: a.id,
    task: task.name,
    role: a.role,
    revision: a.revision,
    payload: a.payload,
    correlation_id: a.correlationId,
    session_id: a.sessionId,
    created_by: a.createdBy,
    created_at: iso(a.createdAt)!,
  };
}

export const AckRoleParam = TaskNameParam.extend({ role: z.enum(ACK_ROLES).openapi({ param: { name: "role", in: "path" } }) });

export const AckBody = z
  .object({
    payload: z.record(z.string(), z.unknown()).openapi({ description: 'The acknowledged contract, e.g. {"objective":"...","criteria_ids":[1,2]}' }),
    correlation_id: z.string().min(1).max(200).optional(),
  })
  .strict()
  .openapi("RecordAck");

export const AckResult = z.object({ ack: Ack, previous_revision: z.number().int().nullable(), event_id: z.string() }).openapi("AckResult");

export const recordAckRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/tasks/{name}/acks/{role}",
    tags: ["supervision"],
    summary: "Record the worker's or manager's acknowledgement of the task contract (a new revision each time)",
    description:
      "A session acknowledges only for its own role in the task. Revisions let startup-contract drift be told apart from later drift. CLI: worker-ack / manager-ack TASK --payload-json JSON | --from-stdin.",
    request: { params: AckRoleParam, body: jsonBody(AckBody) },
    responses: { 201: jsonResponse(AckResult, "Recorded") },
  },
  { idempotency: "atomic" },
);

/** The latest acknowledgement of a role, or null. */
export async function latestAck(ctx: Ctx, taskId: string, role: AckRole): Promise<AckRow | null> {
  const [a] = await latestAckRead(ctx, taskId, role);
  return a ?? null;
}

/** The read behind `latestAck`, unexecuted so it can ride in a batch (`taskId` may be a subquery). */
export function latestAckRead(ctx: Ctx, taskId: string | SQLWrapper, role: AckRole) {
  return ctx.db
    .select()
    .from(taskAcknowledgements)
    .where(and(eq(taskAcknowledgements.taskId, taskId), eq(taskAcknowledgements.role, role)))
    .orderBy(desc(taskAcknowledgements.revision))
    .limit(1);
}

/** Records an acknowledgement as the next revision of its role. */
export async function recordAck(ctx: Ctx, name: string, role: AckRole, input: z.infer<typeof AckBody>, respond?: number) {
  const st = await supervisedTask(ctx, name, [role]);
  const prev = await latestAck(ctx, st.task.id, role);
  const row: AckRow = {
    id: ctx.newId("ack"),
    taskId: st.task.id,
    role,
    revision: (prev?.revision ?? 0) + 1,
    payload: input.payload,
    correlationId: input.correlation_id ?? null,
    sessionId: st.sessionId,
    createdBy: actorOf(ctx.auth),
    createdAt: ctx.now().getTime(),
  };
  const audit = auditInsert(ctx, {
    kind: "ack_recorded",
    taskId: st.task.id,
    sessionId: st.sessionId,
    payload: { ack_id: row.id, role, revision: row.revision, correlation_id: row.correlationId },
  });
  const result = { ack: ackToWire(st.task, row), previous_revision: prev?.revision ?? null, event_id: audit.id };
  try {
    await batchWithKey(ctx, [ctx.db.insert(taskAcknowledgements).values(row), audit.stmt], respond ? { body: result, status: respond } : undefined);
  } catch (e) {
    if (isUniqueViolation(e))
      throw new ApiError("CONFLICT", `${role} ack revision ${row.revision} of task '${name}' was written concurrently`, { hint: "Retry." });
    throw e;
  }
  return result;
}

export const AcksQuery = z.object({ role: z.enum(ACK_ROLES).optional(), ...PageQueryFields });
export const AckList = z
  .object({
    task: z.string(),
    latest: z.object({ worker: Ack.nullable(), manager: Ack.nullable() }),
    acks: z.array(Ack).openapi({ description: "Revisions, newest first" }),
    ...NextCursorField,
  })
  .openapi("AckList");

export const listAcksRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/tasks/{name}/acks",
  tags: ["supervision"],
  summary: "The latest worker and manager acknowledgements, and every revision",
  description: "CLI: worker-ack / manager-ack TASK (no payload prints the latest).",
  request: { params: TaskNameParam, query: AcksQuery },
  responses: { 200: jsonResponse(AckList, "Acknowledgements") },
});

/** Reads the latest acks of both roles and pages through the revisions. */
export async function listAcks(ctx: Ctx, name: string, q: z.output<typeof AcksQuery>) {
  const st = await supervisedTask(ctx, name, ["worker", "manager"]);
  const [worker, manager, rows] = await Promise.all([
    latestAck(ctx, st.task.id, "worker"),
    latestAck(ctx, st.task.id, "manager"),
    ctx.db
      .select()
      .from(taskAcknowledgements)
      .where(
        and(
          eq(taskAcknowledgements.taskId, st.task.id),
          q.role ? eq(taskAcknowledgements.role, q.role) : undefined,
          keysetAfter([taskAcknowledgements.createdAt, taskAcknowledgements.id], decodeCursor(q.cursor, 2, "supervision/acks"), "desc"),
        ),
      )
      .orderBy(desc(taskAcknowledgements.createdAt), desc(taskAcknowledgements.id))
      .limit(q.limit + 1),
  ]);
  const page = pageOf(rows, q.limit, (r) => [r.createdAt, r.id], "supervision/acks");
  return {
    task: st.task.name,
    latest: { worker: worker ? ackToWire(st.task, worker) : null, manager: manager ? ackToWire(st.task, manager) : null },
    acks: page.items.map((a) => ackToWire(st.task, a)),
    next_cursor: page.next_cursor,
  };
}
