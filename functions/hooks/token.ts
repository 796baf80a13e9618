import { and, eq } from "drizzle-orm";
import { tokens } from "../../schema/auth.ts";
import { taskHookSettings } from "../../schema/hooks.ts";
import { auditInsert } from "../lib/audit.ts";
import { liveTokenAt, tokenInsert } from "../lib/auth.ts";
import type { Ctx } from "../lib/ctx.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { activeSessionByName, assertSelfOrPrivileged } from "../sessions/lookup.ts";
import { taskByName } from "../tasks/lookup.ts";
import { HookSettingsBody, HookSettingsResult, HookTokenResult, SessionNameParam, TaskNameParam } from "./schema.ts";

export const mintHookTokenRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/sessions/{name}/hook-token",
    tags: ["hooks"],
    summary: "Mint a hook token for one session (it may only post that session's hook events)",
    description:
      "The secret is shown once and stored hashed; give it to the agent as SWITCHYARD_HOOK_TOKEN. Spawned agents get one automatically. A session may mint its own. A session has one hook token at a time: minting revokes the session's earlier ones (a spawned agent's included) in the same batch, so mints cannot pile up live secrets. CLI: hooks token NAME.",
    request: { params: SessionNameParam },
    responses: { 201: jsonResponse(HookTokenResult, "Minted") },
  },
  { idempotency: "atomic" },
);

export const getHookSettingsRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/tasks/{name}/hook-settings",
  tags: ["hooks"],
  summary: "The task's hook behaviour (re-prime the worker after a context reset)",
  description: "CLI: hooks settings TASK.",
  request: { params: TaskNameParam },
  responses: { 200: jsonResponse(HookSettingsResult, "Settings") },
});

export const putHookSettingsRoute = defineRoute(
  ["owner"],
  {
    method: "post",
    path: "/tasks/{name}/hook-settings",
    tags: ["hooks"],
    summary: "Set the task's hook behaviour",
    description:
      "reprime_on_reset: after the worker's agent runs /clear, compacts or resumes, its SessionStart hook answer carries the task bootstrap and latest handoff (audited as session_reprimed). CLI: hooks settings TASK --reprime on|off.",
    request: { params: TaskNameParam, body: jsonBody(HookSettingsBody) },
    responses: { 200: jsonResponse(HookSettingsResult, "Settings") },
  },
  { idempotency: "atomic" },
);

/**
 * Mints a hook token bound to one session and revokes the session's earlier hook tokens in the
 * same batch: one live hook token per session, so repeated mints cannot pile up secrets that
 * each still post for it. A replay of its Idempotency-Key carries null for the secret.
 */
export async function mintHookToken(ctx: Ctx, name: string, respond?: number) {
  const s = await activeSessionByName(ctx, name);
  assertSelfOrPrivileged(ctx, s);
  const nowMs = ctx.now().getTime();
  const t = await tokenInsert(ctx.db, { id: ctx.newId("tok"), kind: "hook", nowMs, sessionId: s.id, label: `hooks:${s.name}` });
  const audit = auditInsert(ctx, {
    kind: "token_minted",
    sessionId: s.id,
    payload: { token_id: t.id, scope: "hook", session: s.name, previous_hook_tokens_revoked: true },
  });
  const result = { session: s.name, token_id: t.id, token: t.secret, event_id: audit.id };
  // Before the insert, so the new token is not among those it revokes.
  const revokeEarlier = ctx.db
    .update(tokens)
    .set({ revokedAt: nowMs })
    .where(and(eq(tokens.sessionId, s.id), eq(tokens.kind, "hook"), liveTokenAt(nowMs)));
  await batchWithKey(ctx, [revokeEarlier, t.stmt, audit.stmt], respond ? { body: result, status: respond } : undefined);
  return result;
}

/** Reads a task's hook settings (defaults when never set). */
export async function getHookSettings(ctx: Ctx, name: string) {
  const task = await taskByName(ctx, name);
  const [row] = await ctx.db.select().from(taskHookSettings).where(eq(taskHookSettings.taskId, task.id)).limit(1);
  return { task: task.name, reprime_on_reset: row?.reprimeOnReset ?? false, updated_at: iso(row?.updatedAt), event_id: null };
}

/** Sets a task's hook settings, with its audit row, in one batch. */
export async function putHookSettings(ctx: Ctx, name: string, input: { reprime_on_reset: boolean }, respond?: number) {
  const task = await taskByName(ctx, name);
  const nowMs = ctx.now().getTime();
  const audit = auditInsert(ctx, { kind: "task_hook_settings_set", taskId: task.id, payload: { task: task.name, reprime_on_reset: input.reprime_on_reset } });
  const result = { task: task.name, reprime_on_reset: input.reprime_on_reset, updated_at: iso(nowMs), event_id: audit.id };
  await batchWithKey(
    ctx,
    [
      ctx.db
        .insert(taskHookSettings)
        .values({ taskId: task.id, reprimeOnReset: input.reprime_on_reset, updatedAt: nowMs })
        .onConflictDoUpdate({ target: taskHookSettings.taskId, set: { reprimeOnReset: input.reprime_on_reset, updatedAt: nowMs } }),
      audit.stmt,
    ],
    respond ? { body: result, status: respond } : undefined,
  );
  return result;
}
