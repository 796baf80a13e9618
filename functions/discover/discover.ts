import type { z } from "@hono/zod-openapi";
import { and, desc, eq, or, sql, type Column, type SQL } from "drizzle-orm";
import { events } from "../../schema/events.ts";
import { sessions } from "../../schema/sessions.ts";
import { tasks } from "../../schema/tasks.ts";
import { listBindings } from "../bindings/list.ts";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { detailsVisibleTo, sessionToWire } from "../sessions/wire.ts";
import { taskToWire } from "../tasks/wire.ts";
import { DiscoverQuery, DiscoverResult, type Suggestion } from "./schema.ts";

export const discoverRoute = defineRoute(
  ["owner", "daemon", "session"],
  {
    method: "get",
    path: "/discover",
    tags: ["discover"],
    summary: "Search tasks, sessions, bindings and recent events, with ready-to-run suggestions",
    description: "CLI: discover [QUERY] / search [QUERY].",
    request: { query: DiscoverQuery },
    responses: { 200: jsonResponse(DiscoverResult, "Matches") },
  },
  { rateLimited: true },
);

/** Escapes LIKE wildcards so a query matches literally. */
function pattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
}

/** `col LIKE p`; SQLite has no default escape character, so the backslashes need ESCAPE. */
function like(col: Column, p: string): SQL {
  return sql`${col} LIKE ${p} ESCAPE '\\'`;
}

/** Finds what matches `q` and suggests the next command for tasks that lack a binding. */
export async function discover(ctx: Ctx, q: z.output<typeof DiscoverQuery>) {
  const text = q.q?.trim() || null;
  const p = text ? pattern(text) : null;
  const likeAny = (...cols: Column[]): SQL | undefined => (p ? or(...cols.map((c) => like(c, p))) : undefined);

  const taskRows = await ctx.db
    .select()
    .from(tasks)
    .where(and(q.all ? undefined : eq(tasks.state, "active"), likeAny(tasks.name, tasks.goal, tasks.summary)))
    .orderBy(desc(tasks.createdAt))
    .limit(q.limit);
  const sessionRows = await ctx.db
    .select()
    .from(sessions)
    .where(and(q.all ? undefined : eq(sessions.state, "active"), likeAny(sessions.name, sessions.cwd, sessions.tmuxSession, sessions.threadTitle)))
    .orderBy(desc(sessions.createdAt))
    .limit(q.limit);
  const { bindings: active } = await listBindings(ctx, { state: "active" });
  const matchedTaskNames = new Set(taskRows.map((t) => t.name));
  const matchedSessionNames = new Set(sessionRows.map((s) => s.name));
  const bindingHits = active.filter((b) => !text || matchedTaskNames.has(b.task) || matchedSessionNames.has(b.worker) || matchedSessionNames.has(b.manager));
  const telemetry = await ctx.db
    .select()
    .from(events)
    .where(p ? or(like(events.kind, p), like(events.actor, p)) : undefined)
    .orderBy(desc(events.createdAt))
    .limit(q.limit);

  const suggestions = await suggest(
    ctx,
    taskRows.filter((t) => t.state === "active").map((t) => t.name),
    active,
  );
  const visible = await detailsVisibleTo(ctx);
  return {
    query: text,
    tasks: taskRows.map(taskToWire),
    sessions: sessionRows.map((s) => sessionToWire(s, { redactToken: ctx.auth.kind !== "owner", hideDetails: !visible(s) })),
    bindings: bindingHits,
    telemetry: telemetry.map((e) => ({ id: e.id, kind: e.kind, task_id: e.taskId, session_id: e.sessionId, actor: e.actor, created_at: iso(e.createdAt)! })),
    suggestions,
  };
}

/** For each unbound task: a bind command when free sessions exist, else what to register. */
async function suggest(ctx: Ctx, taskNames: string[], active: Array<{ task: string; worker: string; manager: string }>) {
  const out: z.infer<typeof Suggestion>[] = [];
  const boundTasks = new Set(active.map((b) => b.task));
  const busyWorkers = new Set(active.map((b) => b.worker));
  const live = await ctx.db
    .select({ name: sessions.name, role: sessions.role })
    .from(sessions)
    .where(eq(sessions.state, "active"))
    .orderBy(desc(sessions.createdAt));
  const freeWorkers = live.filter((s) => s.role === "worker" && !busyWorkers.has(s.name)).map((s) => s.name);
  const managers = live.filter((s) => s.role === "manager").map((s) => s.name);
  for (const task of taskNames.filter((t) => !boundTasks.has(t))) {
    // A worker serves one task, so each suggestion takes its own; managers may be shared.
    const worker = managers.length ? freeWorkers.shift() : undefined;
    if (worker) {
      out.push({
        kind: "bind",
        task,
        message: `task '${task}' has no binding; '${worker}' is a free worker and '${managers[0]}' a manager`,
        command: `switchyard bind --task ${task} --worker ${worker} --manager ${managers[0]}`,
      });
    } else {
      if (!freeWorkers.length) {
        out.push({
          kind: "register_worker",
          task,
          message: `task '${task}' needs a worker and none is free`,
          command: `switchyard register-worker --name ${task}-worker --pid <PID> --cwd <DIR>`,
        });
      }
      if (!managers.length) {
        out.push({
          kind: "register_manager",
          task,
          message: `task '${task}' needs a manager and none is registered`,
          command: `switchyard register-manager --name ${task}-manager --pid <PID>`,
        });
      }
    }
  }
  if (!taskNames.length && !active.length) {
    out.push({ kind: "create_task", task: null, message: "no active task matches", command: `switchyard tasks --create <NAME> --goal "<GOAL>"` });
  }
  return out;
}
