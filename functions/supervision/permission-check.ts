import { z } from "@hono/zod-openapi";
import { desc, eq } from "drizzle-orm";
import { taskHandoffs } from "../../schema/supervision.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { supervisedTask } from "./access.ts";
import { DEFAULT_MANAGER_CONFIG, latestConfigRow, type ManagerConfig } from "./config.ts";
import { allows, parsePermission } from "./permissions.ts";

export const PermissionCheckBody = z
  .object({
    permission: z.string().min(1).max(100).openapi({ description: "CATEGORY.ACTION, or CATEGORY (with list, or to ask for any action of it)" }),
    list: z.boolean().optional().default(false),
    require: z.boolean().optional().default(false).openapi({ description: "Refuse (POLICY_REFUSED) when not allowed" }),
    require_handoff: z.boolean().optional().default(false).openapi({ description: "Also require a recorded worker handoff" }),
  })
  .strict()
  .openapi("ManagerPermissionCheck");

export const PermissionCheckResult = z
  .object({
    task: z.string(),
    permission: z.string(),
    category: z.string(),
    action: z.string().nullable(),
    allowed: z.boolean(),
    granted: z.array(z.string()).openapi({ description: "Actions granted in the category" }),
    config_revision: z.number().int().nullable(),
    handoff_required: z.boolean(),
    handoff_present: z.boolean(),
    handoff_id: z.string().nullable(),
    reason: z.string().nullable(),
    event_id: z.string(),
  })
  .openapi("ManagerPermissionResult");

export const permissionCheckRoute = defineRoute(
  ["owner", "daemon", "session"],
  {
    method: "post",
    path: "/tasks/{name}/manager-permission",
    tags: ["supervision"],
    summary: "Check (and audit) whether a task's manager config grants a permission",
    description:
      "Every check writes a manager_permission_checked audit row. With require, a denial is POLICY_REFUSED naming the permission (the audit row is still written). With require_handoff, a missing worker handoff also denies. CLI: manager-permission TASK CATEGORY.ACTION.",
    request: { params: TaskNameParam, body: jsonBody(PermissionCheckBody) },
    responses: { 200: jsonResponse(PermissionCheckResult, "Verdict") },
  },
  { idempotency: "atomic" },
);

/** The latest handoff id of a task, or null. */
export async function latestHandoffId(ctx: Ctx, taskId: string): Promise<string | null> {
  const [h] = await ctx.db
    .select({ id: taskHandoffs.id })
    .from(taskHandoffs)
    .where(eq(taskHandoffs.taskId, taskId))
    .orderBy(desc(taskHandoffs.createdAt))
    .limit(1);
  return h?.id ?? null;
}

/** Checks a permission against the config in force and audits the check. */
export async function checkManagerPermission(ctx: Ctx, name: string, input: z.output<typeof PermissionCheckBody>, respond?: number) {
  const st = await supervisedTask(ctx, name, ["worker", "manager"]);
  const ref = parsePermission(input.permission);
  const [row, handoffId] = await Promise.all([latestConfigRow(ctx, st.task.id), input.require_handoff ? latestHandoffId(ctx, st.task.id) : null]);
  const config = row ? { ...DEFAULT_MANAGER_CONFIG, ...(row.config as unknown as ManagerConfig) } : null;
  const perms = config?.permissions ?? {};
  const granted = perms[ref.category] ?? [];
  const permitted = input.list ? granted.length > 0 : allows(perms, ref);
  const handoffOk = !input.require_handoff || handoffId !== null;
  const allowed = permitted && handoffOk;
  const reason = !config
    ? "the task has no manager config"
    : !permitted
      ? `manager permission required: ${input.permission} is not granted`
      : !handoffOk
        ? "a worker handoff is required first"
        : null;
  const audit = auditInsert(ctx, {
    kind: "manager_permission_checked",
    taskId: st.task.id,
    payload: { permission: input.permission, allowed, require: input.require, require_handoff: input.require_handoff, handoff_id: handoffId, reason },
  });
  if (input.require && !allowed) {
    // The refusal is audited too; it stores no key, so the caller may retry once granted.
    await audit.stmt;
    throw new ApiError("POLICY_REFUSED", `${reason} (task '${name}')`, {
      hint: !permitted
        ? `Grant it if the user agrees: switchyard manager-config ${name} --permit ${ref.action ? input.permission : `${ref.category}.<action>`}`
        : `Ask the worker to record one: switchyard handoff ${name} --summary "..." --next-step "..."`,
    });
  }
  const result = {
    task: st.task.name,
    permission: input.permission,
    category: ref.category,
    action: ref.action,
    allowed,
    granted: [...granted],
    config_revision: row?.revision ?? null,
    handoff_required: input.require_handoff,
    handoff_present: handoffId !== null,
    handoff_id: handoffId,
    reason,
    event_id: audit.id,
  };
  await batchWithKey(ctx, [audit.stmt], respond ? { body: result, status: respond } : undefined);
  return result;
}
