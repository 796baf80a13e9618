import type { z } from "@hono/zod-openapi";
import { and, asc, desc, eq, inArray, sql } from "drizzle-orm";
import { commandAttempts, commands, type CommandAttemptRow } from "../../schema/commands.ts";
import { tasks } from "../../schema/tasks.ts";
import { commandToWire } from "./store.ts";
import type { Ctx } from "../lib/ctx.ts";
import { decodeCursor, keysetAfter, pageOf } from "../lib/paging.ts";
import { notFound } from "../lib/errors.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { CommandList, CommandListQuery } from "./schema.ts";

export const listCommandsRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/commands",
  tags: ["queue"],
  summary: "List durable commands, newest first",
  description:
    "Filter by task, type and state (e.g. state=dead for dead letters, state=ambiguous for side effects of unknown outcome). attempts=true adds each command's attempt history. Pages with limit and cursor (the previous next_cursor). CLI: commands [--limit N] [--cursor C].",
  request: { query: CommandListQuery },
  responses: { 200: jsonResponse(CommandList, "Commands") },
});

function attemptToWire(a: CommandAttemptRow) {
  return {
    id: a.id,
    dispatcher_id: a.dispatcherId,
    claim_generation: a.claimGeneration,
    side_effect_started: a.sideEffectStarted,
    side_effect_completed: a.sideEffectCompleted,
    result: a.result,
    error: a.error,
    started_at: iso(a.startedAt)!,
    finished_at: iso(a.finishedAt),
  };
}

/**
 * The id of the task a `task` filter names, or NOT_FOUND as tasks/lookup.ts answers it (read
 * here because the queue imports no group).
 */
async function taskIdByName(ctx: Ctx, name: string): Promise<string> {
  const [row] = await ctx.db.select({ id: tasks.id }).from(tasks).where(eq(tasks.name, name)).limit(1);
  if (!row) throw notFound("task", name, `Create it: switchyard tasks --create ${name} --goal "..."`);
  return row.id;
}

/** Lists commands with optional filters and, on request, their attempts oldest first. */
export async function listCommands(ctx: Ctx, q: z.output<typeof CommandListQuery>) {
  const taskId = q.task ? await taskIdByName(ctx, q.task) : null;
  const all = await ctx.db
    .select()
    .from(commands)
    .where(
      and(
        taskId ? eq(commands.taskId, taskId) : undefined,
        // With a task, type and state are checked on the task's rows (`+` keeps the planner off
        // their indexes, which would walk every command of that type or state ever run).
        q.type ? (taskId ? sql`+${commands.type} = ${q.type}` : eq(commands.type, q.type)) : undefined,
        q.state ? (taskId ? sql`+${commands.state} = ${q.state}` : eq(commands.state, q.state)) : undefined,
        keysetAfter([commands.createdAt, commands.id], decodeCursor(q.cursor, 2, "queue/list"), "desc"),
      ),
    )
    .orderBy(desc(commands.createdAt), desc(commands.id))
    .limit(q.limit + 1);
  const page = pageOf(all, q.limit, (r) => [r.createdAt, r.id], "queue/list");
  const rows = page.items;
  const history = new Map<string, ReturnType<typeof attemptToWire>[]>();
  if (q.attempts && rows.length) {
    const attempts = await ctx.db
      .select()
      .from(commandAttempts)
      .where(
        inArray(
          commandAttempts.commandId,
          rows.map((r) => r.id),
        ),
      )
      .orderBy(asc(commandAttempts.startedAt), asc(commandAttempts.claimGeneration));
    for (const a of attempts) history.set(a.commandId, [...(history.get(a.commandId) ?? []), attemptToWire(a)]);
  }
  return {
    commands: rows.map((r) => ({ ...commandToWire(r), ...(q.attempts ? { attempt_history: history.get(r.id) ?? [] } : {}) })),
    count: rows.length,
    next_cursor: page.next_cursor,
  };
}
