import type { z } from "@hono/zod-openapi";
import { and, count, eq, isNull } from "drizzle-orm";
import { dispatchers } from "../../schema/commands.ts";
import { inboxItems } from "../../schema/messages.ts";
import { sessions, type SessionRole, type SessionRow } from "../../schema/sessions.ts";
import type { TaskRow } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { communicationFor } from "../sessions/wire.ts";
import { taskByName } from "../tasks/lookup.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { activeBinding, assertLoopParticipant, boundSessionId } from "./access.ts";
import { AppLoopStatus, DEFAULT_DISPATCHER_ID, DEFAULT_STALE_AFTER_SECONDS, LoopQuery, type NextAction, type RoleStatus, type LeaseState } from "./schema.ts";

export const loopStatusRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/tasks/{name}/app-loop/status",
  tags: ["app-loop"],
  summary: "Manager lease, worker lease, dispatch heartbeat and next actions of an app loop",
  description:
    "For Codex app / no-tmux sessions that pull instead of being pushed. A lease is fresh while the role's last app heartbeat is younger than stale_after_seconds, stale after that, missing when none was ever recorded or no live session holds the role. A session may read only a task it is bound to. CLI: app-loop-status TASK.",
  request: { params: TaskNameParam, query: LoopQuery },
  responses: { 200: jsonResponse(AppLoopStatus, "Loop status") },
});

/** Options shared by every loop read. */
export interface LoopOptions {
  dispatcher_id?: string;
  stale_after_seconds?: number;
}

type Status = z.infer<typeof AppLoopStatus>;

/** The recurring heartbeat command an app session of this role should run. */
export function heartbeatCommand(taskName: string, role: SessionRole): string {
  return `switchyard app-heartbeat ${taskName} --role ${role} --json`;
}

/** The command that starts the dispatcher the loop depends on. */
function dispatchCommand(dispatcherId: string): string {
  return `switchyard dispatch --watch --dispatcher-id ${dispatcherId}`;
}

function ageSeconds(nowMs: number, at: number): number {
  return Math.max(0, Math.round((nowMs - at) / 1000));
}

async function roleStatus(ctx: Ctx, task: TaskRow, role: SessionRole, session: SessionRow | null, staleAfter: number): Promise<z.infer<typeof RoleStatus>> {
  const nowMs = ctx.now().getTime();
  const live = session?.state === "active" ? session : null;
  const last = live?.lastHeartbeatAt ?? null;
  const age = last === null ? null : ageSeconds(nowMs, last);
  const state: LeaseState = age === null ? "missing" : age <= staleAfter ? "fresh" : "stale";
  let pending = 0;
  if (live) {
    const [row] = await ctx.db
      .select({ n: count() })
      .from(inboxItems)
      .where(and(eq(inboxItems.targetSessionId, live.id), isNull(inboxItems.consumedAt)));
    pending = row?.n ?? 0;
  }
  return {
    role,
    session_id: session?.id ?? null,
    name: session?.name ?? null,
    session_state: session?.state ?? null,
    thread: { id: session?.threadId ?? null, title: session?.threadTitle ?? null },
    lease: { state, last_heartbeat_at: iso(last), age_seconds: age },
    pending_inbox: pending,
    poll_command: live ? heartbeatCommand(task.name, role) : null,
    direct_inbox_command: live ? communicationFor(live).poll_command : null,
  };
}

async function dispatchStatus(ctx: Ctx, dispatcherId: string, staleAfter: number): Promise<Status["dispatch"]> {
  const [row] = await ctx.db.select().from(dispatchers).where(eq(dispatchers.id, dispatcherId)).limit(1);
  const age = row ? ageSeconds(ctx.now().getTime(), row.heartbeatAt) : null;
  const state = !row ? "missing" : row.state === "stopped" ? "stopped" : age! <= staleAfter ? "fresh" : "stale";
  return {
    dispatcher_id: dispatcherId,
    state,
    heartbeat_at: iso(row?.heartbeatAt),
    age_seconds: age,
    required: state !== "fresh",
    command: dispatchCommand(dispatcherId),
  };
}

function leaseReason(r: z.infer<typeof RoleStatus>): string {
  if (r.session_id === null) return `no ${r.role} is bound`;
  if (r.session_state !== "active") return `the bound ${r.role} ${r.name} is gone`;
  if (r.lease.state === "missing") return `${r.role} ${r.name} has not sent an app heartbeat yet`;
  return `${r.role} ${r.name} last sent an app heartbeat ${r.lease.age_seconds}s ago`;
}

/** Describes why a role's lease is (or is not) healthy, for wake prompts and actions. */
export function describeLease(r: z.infer<typeof RoleStatus>): string {
  return r.lease.state === "fresh" ? `${r.role} ${r.name} is healthy (heartbeat ${r.lease.age_seconds}s ago)` : leaseReason(r);
}

function nextActions(
  taskName: string,
  bindingId: string | null,
  roles: Array<z.infer<typeof RoleStatus>>,
  dispatch: Status["dispatch"],
): Array<z.infer<typeof NextAction>> {
  const out: Array<z.infer<typeof NextAction>> = [];
  if (!bindingId) {
    out.push({
      kind: "bind_task",
      role: null,
      reason: `task '${taskName}' has no active binding`,
      command: `switchyard bind --task ${taskName} --worker <W> --manager <M>`,
    });
  }
  if (dispatch.required) {
    out.push({ kind: "start_dispatch", role: null, reason: `dispatcher ${dispatch.dispatcher_id} is ${dispatch.state}`, command: dispatch.command });
  }
  for (const r of roles) {
    if (bindingId && r.lease.state !== "fresh") {
      out.push({
        kind: r.role === "manager" ? "wake_manager" : "wake_worker",
        role: r.role,
        reason: leaseReason(r),
        command: `switchyard app-wakeup-plan ${taskName}`,
      });
    }
    if (r.pending_inbox > 0) {
      out.push({
        kind: r.role === "manager" ? "drain_manager_inbox" : "drain_worker_inbox",
        role: r.role,
        reason: `${r.pending_inbox} unconsumed inbox item(s) for ${r.name}`,
        command: r.direct_inbox_command,
      });
    }
  }
  return out;
}

/** Computes the loop status of a task already looked up; used by every app-loop operation. */
export async function computeLoopStatus(ctx: Ctx, task: TaskRow, opts: LoopOptions): Promise<Status> {
  const staleAfter = opts.stale_after_seconds ?? DEFAULT_STALE_AFTER_SECONDS;
  const binding = await activeBinding(ctx, task.id);
  const sessionFor = async (role: SessionRole) => {
    if (!binding) return null;
    const [row] = await ctx.db
      .select()
      .from(sessions)
      .where(eq(sessions.id, boundSessionId(binding, role)));
    return row ?? null;
  };
  const manager = await roleStatus(ctx, task, "manager", await sessionFor("manager"), staleAfter);
  const worker = await roleStatus(ctx, task, "worker", await sessionFor("worker"), staleAfter);
  const dispatch = await dispatchStatus(ctx, opts.dispatcher_id ?? DEFAULT_DISPATCHER_ID, staleAfter);
  return {
    task: { id: task.id, name: task.name, state: task.state },
    binding_id: binding?.id ?? null,
    ok: binding !== null && manager.lease.state === "fresh" && worker.lease.state === "fresh" && !dispatch.required,
    checked_at: iso(ctx.now().getTime())!,
    stale_after_seconds: staleAfter,
    manager,
    worker,
    dispatch,
    next_actions: nextActions(task.name, binding?.id ?? null, [manager, worker], dispatch),
  };
}

/**
 * Resolves the task, checks that a session caller is one of its bound sessions, and returns
 * the loop status.
 */
export async function loadLoopStatus(ctx: Ctx, taskName: string, opts: LoopOptions, roles: readonly SessionRole[] = ["manager", "worker"]): Promise<Status> {
  const task = await taskByName(ctx, taskName);
  assertLoopParticipant(ctx, task.name, await activeBinding(ctx, task.id), roles);
  return computeLoopStatus(ctx, task, opts);
}

/** app-loop-status: read-only summary of an app-native supervision loop. */
export function appLoopStatus(ctx: Ctx, taskName: string, opts: LoopOptions) {
  return loadLoopStatus(ctx, taskName, opts);
}
