import type { z } from "@hono/zod-openapi";
import { and, asc, eq, isNotNull, isNull, inArray } from "drizzle-orm";
import { notifications } from "../../schema/patrol.ts";
import { sessions } from "../../schema/sessions.ts";
import { auditInsert, guardedUpdate } from "../lib/audit.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { ApiError, notFound } from "../lib/errors.ts";
import { decodeCursor, keysetAfter, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { NoticeAckResult, NoticeList, NoticeListQuery, RunIdParam } from "./schema.ts";
import { notificationToWire } from "./notify.ts";

export const listNoticesRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/notices",
  tags: ["patrol"],
  summary: "The owner's inbox: escalations, convoy completions and other notices for the owner, oldest first",
  description: "CLI: notices [--state pending|acked|all] [--limit N] [--cursor C].",
  request: { query: NoticeListQuery },
  responses: { 200: jsonResponse(NoticeList, "Notices") },
});

export const ackNoticeRoute = defineRoute(
  ["owner"],
  {
    method: "post",
    path: "/notices/{id}/ack",
    tags: ["patrol"],
    summary: "Acknowledge one owner notice",
    description: "CLI: notices ack ID.",
    request: { params: RunIdParam },
    responses: { 200: jsonResponse(NoticeAckResult, "Acknowledged") },
  },
  { idempotency: "atomic" },
);

async function targetNames(ctx: Ctx, ids: string[]) {
  const unique = [...new Set(ids)];
  if (!unique.length) return new Map<string, string>();
  const rows = await ctx.db.select({ id: sessions.id, name: sessions.name }).from(sessions).where(inArray(sessions.id, unique));
  return new Map(rows.map((r) => [r.id, r.name]));
}

/** Lists the owner's notices, oldest first, a page at a time. */
export async function listNotices(ctx: Ctx, q: z.output<typeof NoticeListQuery>) {
  const after = decodeCursor(q.cursor, 2, "patrol/notices");
  const acked = q.state === "pending" ? isNull(notifications.ackedAt) : q.state === "acked" ? isNotNull(notifications.ackedAt) : undefined;
  const rows = await ctx.db
    .select()
    .from(notifications)
    .where(and(eq(notifications.recipient, "owner"), acked, keysetAfter([notifications.createdAt, notifications.id], after)))
    .orderBy(asc(notifications.createdAt), asc(notifications.id))
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.createdAt, r.id], "patrol/notices");
  const names = await targetNames(
    ctx,
    page.items.flatMap((n) => (n.targetSessionId ? [n.targetSessionId] : [])),
  );
  return {
    notices: page.items.map((n) => notificationToWire(n, n.targetSessionId ? (names.get(n.targetSessionId) ?? null) : null)),
    count: page.items.length,
    next_cursor: page.next_cursor,
  };
}

/** Acknowledges an owner notice once; a second ack is a CONFLICT naming when it was acked. */
export async function ackNotice(ctx: Ctx, id: string, respond?: number) {
  const [row] = await ctx.db.select().from(notifications).where(eq(notifications.id, id)).limit(1);
  if (!row || row.recipient !== "owner") throw notFound("owner notice", id, "List them with: switchyard notices");
  if (row.ackedAt !== null) {
    throw new ApiError("CONFLICT", `notice '${id}' was already acknowledged at ${new Date(row.ackedAt).toISOString()}`, { hint: "Nothing to do." });
  }
  const nowMs = ctx.now().getTime();
  const audit = auditInsert(ctx, { kind: "notice_acked", taskId: row.taskId, payload: { notice_id: id, notice_kind: row.kind } });
  const updated = await guardedUpdate(
    ctx,
    audit,
    (tx) =>
      tx
        .update(notifications)
        .set({ ackedAt: nowMs, ackedBy: actorOf(ctx.auth) })
        .where(and(eq(notifications.id, id), isNull(notifications.ackedAt)))
        .returning(),
    () =>
      new ApiError("CONFLICT", `notice '${id}' was acknowledged concurrently`, {
        hint: "Another request acknowledged it first; nothing to do. `switchyard notices` lists the open ones.",
      }),
    (n) => (respond ? { body: { notice: notificationToWire(n, null), event_id: audit.id }, status: respond } : undefined),
  );
  return { notice: notificationToWire(updated, null), event_id: audit.id };
}
