import { count, eq, inArray, sql } from "drizzle-orm";
import { convoyTasks, type ConvoyRow } from "../../schema/convoys.ts";
import { sessions } from "../../schema/sessions.ts";
import { tasks } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { iso } from "../lib/sql.ts";

/** Tracked and finished task counts, and owner names, for a page of convoys (three queries). */
export async function convoyFacts(ctx: Ctx, rows: ConvoyRow[]) {
  const ids = rows.map((r) => r.id);
  const counts = new Map<string, { tracked: number; finished: number }>();
  const owners = new Map<string, string>();
  if (ids.length) {
    const agg = await ctx.db
      .select({ convoyId: convoyTasks.convoyId, tracked: count(), finished: sql<number>`sum(${tasks.state} = 'finished')` })
      .from(convoyTasks)
      .innerJoin(tasks, eq(tasks.id, convoyTasks.taskId))
      .where(inArray(convoyTasks.convoyId, ids))
      .groupBy(convoyTasks.convoyId);
    for (const a of agg) counts.set(a.convoyId, { tracked: a.tracked, finished: Number(a.finished ?? 0) });
    const ownerIds = [...new Set(rows.flatMap((r) => (r.ownerSessionId ? [r.ownerSessionId] : [])))];
    if (ownerIds.length)
      for (const s of await ctx.db.select({ id: sessions.id, name: sessions.name }).from(sessions).where(inArray(sessions.id, ownerIds)))
        owners.set(s.id, s.name);
  }
  return { counts, owners };
}

/** The wire form of a convoy. */
export function convoyToWire(c: ConvoyRow, facts: Awaited<ReturnType<typeof convoyFacts>>) {
  const n = facts.counts.get(c.id) ?? { tracked: 0, finished: 0 };
  return {
    id: c.id,
    title: c.title,
    state: c.state,
    owner: c.ownerSessionId ? (facts.owners.get(c.ownerSessionId) ?? c.ownerSessionId) : null,
    tracked: n.tracked,
    finished: n.finished,
    created_by: c.createdBy,
    created_at: iso(c.createdAt)!,
    closed_at: iso(c.closedAt),
    close_reason: c.closeReason,
    reopened_at: iso(c.reopenedAt),
  };
}
