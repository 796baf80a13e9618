import type { CommandRow } from "../../schema/commands.ts";
import type { Ctx, PolicyRefusal } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { DEFAULT_MANAGER_CONFIG, latestConfigRow, type ManagerConfig } from "./config.ts";
import { allows, flatGrants, parsePermission } from "./permissions.ts";

/**
 * The dispatch policy for `required_permission`: a command that names a permission runs only
 * when its task's manager config (latest revision, read at dispatch time) grants it. Commands
 * that name none pass untouched.
 */
export async function permissionPolicy(ctx: Ctx, cmd: CommandRow): Promise<PolicyRefusal | null> {
  const required = cmd.requiredPermission;
  if (!required) return null;
  const receipt = (extra: Record<string, unknown>) => ({
    policy: "manager_permission",
    decision: "blocked",
    required_permission: required,
    command_id: cmd.id,
    command_type: cmd.type,
    ...extra,
  });
  let ref;
  try {
    ref = parsePermission(required, "required_permission");
  } catch (e) {
    const why = e instanceof ApiError ? e.message : String(e);
    return {
      reason: `manager permission required for dispatch command: ${required} (${why})`,
      receipt: receipt({ granted: [], config_revision: null, error: why }),
    };
  }
  if (!cmd.taskId) {
    return {
      reason: `manager permission required for dispatch command: ${required} (the command names no task)`,
      receipt: receipt({ granted: [], config_revision: null }),
    };
  }
  const row = await latestConfigRow(ctx, cmd.taskId);
  const perms = row ? { ...DEFAULT_MANAGER_CONFIG, ...(row.config as unknown as ManagerConfig) }.permissions : {};
  if (allows(perms, ref)) return null;
  return {
    reason: `manager permission required for dispatch command: ${required}`,
    receipt: receipt({ granted: flatGrants(perms), config_revision: row?.revision ?? null }),
  };
}
