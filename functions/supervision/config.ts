import { z } from "@hono/zod-openapi";
import { queryNumber } from "../lib/names.ts";
import { and, desc, eq, type SQLWrapper } from "drizzle-orm";
import { EPILOGUE_STEPS, MANAGER_MODES, managerConfigs, NUDGE_ON_COMPLETION, type ManagerConfigRow } from "../../schema/supervision.ts";
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
import { flatGrants, grant, normalizePermissions, revoke, type Permissions } from "./permissions.ts";

/** What a manager config holds (the stored JSON and, with the revision fields, the wire form). */
export interface ManagerConfig {
  mode: (typeof MANAGER_MODES)[number];
  objective: string | null;
  guidelines: string[];
  acceptance: string[];
  references: string[];
  permissions: Permissions;
  tools: string[];
  epilogues: Array<(typeof EPILOGUE_STEPS)[number]>;
  nudge_on_completion: (typeof NUDGE_ON_COMPLETION)[number];
  require_acks: boolean;
}

/** The config a task gets on its first manager-config call. */
export const DEFAULT_MANAGER_CONFIG: ManagerConfig = {
  mode: "guided",
  objective: null,
  guidelines: [],
  acceptance: [],
  references: [],
  permissions: {},
  tools: [],
  epilogues: [],
  nudge_on_completion: "ask-operator",
  require_acks: false,
};

const Text = z.string().min(1).max(4000);
const TextList = z.array(Text).max(100);

export const ManagerConfigWire = z
  .object({
    task: z.string(),
    task_id: z.string(),
    revision: z.number().int(),
    mode: z.enum(MANAGER_MODES),
    objective: z.string().nullable(),
    guidelines: z.array(z.string()),
    acceptance: z.array(z.string()),
    references: z.array(z.string()),
    permissions: z.record(z.string(), z.array(z.string())).openapi({ description: 'Granted actions by category, e.g. {"repo": ["open_pr"]}' }),
    granted: z.array(z.string()).openapi({ description: "Every grant as CATEGORY.ACTION" }),
    tools: z.array(z.string()),
    epilogues: z.array(z.enum(EPILOGUE_STEPS)),
    nudge_on_completion: z.enum(NUDGE_ON_COMPLETION),
    require_acks: z.boolean(),
    created_by: z.string(),
    created_at: z.string(),
  })
  .openapi("ManagerConfig");

export const ManagerConfigBody = z
  .object({
    mode: z.enum(MANAGER_MODES).optional(),
    objective: Text.optional(),
    guidelines: TextList.optional().openapi({ description: "Appended (unless replace_lists)" }),
    acceptance: TextList.optional(),
    references: TextList.optional(),
    tools: TextList.optional(),
    epilogues: z.array(z.enum(EPILOGUE_STEPS)).max(10).optional(),
    permit: z.array(z.string().min(1).max(100)).max(100).optional().openapi({ description: "Grants: CATEGORY.ACTION, or CATEGORY for all its actions" }),
    revoke: z.array(z.string().min(1).max(100)).max(100).optional(),
    permissions_json: z
      .record(z.string(), z.unknown())
      .optional()
      .openapi({ description: "Categorized or legacy flat permission keys, merged into the grants" }),
    allow_pr: z.boolean().optional().openapi({ description: "Legacy: grants repo.open_pr" }),
    allow_merge_green: z.boolean().optional().openapi({ description: "Legacy: grants repo.merge_green_pr" }),
    allow_worker_compact_clear: z.boolean().optional().openapi({ description: "Legacy: grants worker_session.compact and worker_session.clear" }),
    nudge_on_completion: z.enum(NUDGE_ON_COMPLETION).optional(),
    require_acks: z.boolean().optional(),
    replace_lists: z.boolean().optional().openapi({ description: "Given lists replace the stored ones instead of being appended" }),
  })
  .strict()
  .openapi("ManagerConfigUpdate");

export type ManagerConfigInput = z.infer<typeof ManagerConfigBody>;

export const ManagerConfigResult = z
  .object({
    config: ManagerConfigWire,
    created: z.boolean().openapi({ description: "A new revision was written" }),
    previous_revision: z.number().int().nullable(),
    changed_fields: z.array(z.string()),
    event_id: z.string().nullable(),
  })
  .openapi("ManagerConfigResult");

export const recordConfigRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/tasks/{name}/manager-config",
    tags: ["supervision"],
    summary: "Create, change or print a task's manager config (revisioned)",
    description:
      "The first call creates the guided default (merged with any given fields). A call that changes something writes a new revision; one that changes nothing returns the current config and writes nothing. A session may call it only as the task's bound manager. CLI: manager-config TASK.",
    request: { params: TaskNameParam, body: { ...jsonBody(ManagerConfigBody), required: false } },
    responses: { 200: jsonResponse(ManagerConfigResult, "Current config") },
  },
  { idempotency: "atomic" },
);

export const ConfigQuery = z.object({ revision: queryNumber(z.number().int().min(1)).optional() });

export const getConfigRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/tasks/{name}/manager-config",
  tags: ["supervision"],
  summary: "Read a task's manager config (latest, or one revision)",
  description: "404 when the task has none yet. A session must be bound to the task. CLI: manager-config TASK --revision N.",
  request: { params: TaskNameParam, query: ConfigQuery },
  responses: { 200: jsonResponse(ManagerConfigWire, "Config") },
});

export const ConfigRevisionsQuery = z.object(PageQueryFields);
export const ConfigRevisionList = z.object({ revisions: z.array(ManagerConfigWire), ...NextCursorField }).openapi("ManagerConfigRevisions");

export const configRevisionsRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/tasks/{name}/manager-config/revisions",
  tags: ["supervision"],
  summary: "Every revision of a task's manager config, newest first",
  description: "Paged by cursor. CLI: manager-config TASK --history.",
  request: { params: TaskNameParam, query: ConfigRevisionsQuery },
  responses: { 200: jsonResponse(ConfigRevisionList, "Revisions") },
});

/** The latest config row of a task, or null. Served by the (task_id, revision) index. */
export async function latestConfigRow(ctx: Ctx, taskId: string): Promise<ManagerConfigRow | null> {
  const [row] = await latestConfigRead(ctx, taskId);
  return row ?? null;
}

/** The read behind `latestConfigRow`, unexecuted so it can ride in a batch (`taskId` may be a subquery). */
export function latestConfigRead(ctx: Ctx, taskId: string | SQLWrapper) {
  return ctx.db.select().from(managerConfigs).where(eq(managerConfigs.taskId, taskId)).orderBy(desc(managerConfigs.revision)).limit(1);
}

/** The config in force for a task: its latest revision, or null when none was recorded. */
export async function configInForce(ctx: Ctx, taskId: string): Promise<ManagerConfig | null> {
  const row = await latestConfigRow(ctx, taskId);
  return row ? (row.config as unknown as ManagerConfig) : null;
}

/** The wire form of a stored revision. */
export function configToWire(task: Pick<TaskRow, "id" | "name">, row: ManagerConfigRow): z.infer<typeof ManagerConfigWire> {
  const c = { ...DEFAULT_MANAGER_CONFIG, ...(row.config as unknown as ManagerConfig) };
  return {
    task: task.name,
    task_id: task.id,
    revision: row.revision,
    mode: c.mode,
    objective: c.objective,
    guidelines: c.guidelines,
    acceptance: c.acceptance,
    references: c.references,
    permissions: c.permissions as Record<string, string[]>,
    granted: flatGrants(c.permissions),
    tools: c.tools,
    epilogues: c.epilogues,
    nudge_on_completion: c.nudge_on_completion,
    require_acks: c.require_acks,
    created_by: row.createdBy,
    created_at: iso(row.createdAt)!,
  };
}

const merge = (base: string[], add: string[] | undefined, replace: boolean) =>
  add === undefined ? base : replace ? [...new Set(add)] : [...new Set([...base, ...add])];

/** Applies an update to a config; pure, so the no-change case can be detected by comparison. */
export function applyConfigUpdate(base: ManagerConfig, input: ManagerConfigInput): ManagerConfig {
  const replace = input.replace_lists === true;
  let permissions = base.permissions;
  const legacy: Record<string, boolean> = {};
  if (input.allow_pr !== undefined) legacy.allow_pr = input.allow_pr;
  if (input.allow_merge_green !== undefined) legacy.allow_merge_green = input.allow_merge_green;
  if (input.allow_worker_compact_clear !== undefined) legacy.allow_worker_compact_clear = input.allow_worker_compact_clear;
  const extra = { ...(input.permissions_json ?? {}), ...legacy };
  if (Object.keys(extra).length) permissions = grant(permissions, flatGrants(normalizePermissions(extra)));
  if (input.permit) permissions = grant(permissions, input.permit);
  if (input.revoke) permissions = revoke(permissions, input.revoke);
  // A false legacy flag withdraws what it would grant.
  if (input.allow_pr === false) permissions = revoke(permissions, ["repo.open_pr"]);
  if (input.allow_merge_green === false) permissions = revoke(permissions, ["repo.merge_green_pr"]);
  if (input.allow_worker_compact_clear === false) permissions = revoke(permissions, ["worker_session.compact", "worker_session.clear"]);
  return {
    mode: input.mode ?? base.mode,
    objective: input.objective ?? base.objective,
    guidelines: merge(base.guidelines, input.guidelines, replace),
    acceptance: merge(base.acceptance, input.acceptance, replace),
    references: merge(base.references, input.references, replace),
    permissions,
    tools: merge(base.tools, input.tools, replace),
    epilogues: merge(base.epilogues, input.epilogues, replace) as ManagerConfig["epilogues"],
    nudge_on_completion: input.nudge_on_completion ?? base.nudge_on_completion,
    require_acks: input.require_acks ?? base.require_acks,
  };
}

/** Stable JSON of a config, for change detection (key order fixed). */
function canonical(c: ManagerConfig): string {
  const keys = Object.keys(DEFAULT_MANAGER_CONFIG) as Array<keyof ManagerConfig>;
  return JSON.stringify(keys.map((k) => [k, k === "permissions" ? flatGrants(c.permissions) : c[k]]));
}

/**
 * Records a manager config change as a new revision (the first call creates the guided default
 * merged with the input). Nothing is written when the result equals the config in force. A
 * concurrent writer of the same revision makes this one CONFLICT rather than overwrite it.
 */
export async function recordManagerConfig(ctx: Ctx, name: string, input: ManagerConfigInput = {}, respond?: number) {
  const st = await supervisedTask(ctx, name, ["manager"]);
  if (ctx.auth.kind === "daemon") {
    throw new ApiError("FORBIDDEN", "a daemon may read but not change a manager config", {
      hint: "Change it with the owner token or the bound manager's token (`switchyard manager-config TASK ...`).",
    });
  }
  return writeConfig(ctx, st.task, input, respond);
}

/** The write behind recordManagerConfig, for callers that already resolved the task (pair). */
export async function writeConfig(ctx: Ctx, task: TaskRow, input: ManagerConfigInput, respond?: number) {
  const prev = await latestConfigRow(ctx, task.id);
  const base = prev ? { ...DEFAULT_MANAGER_CONFIG, ...(prev.config as unknown as ManagerConfig) } : DEFAULT_MANAGER_CONFIG;
  const next = applyConfigUpdate(base, input);
  const changed = (Object.keys(DEFAULT_MANAGER_CONFIG) as Array<keyof ManagerConfig>).filter(
    (k) =>
      JSON.stringify(k === "permissions" ? flatGrants(base.permissions) : base[k]) !==
      JSON.stringify(k === "permissions" ? flatGrants(next.permissions) : next[k]),
  );
  if (prev && canonical(base) === canonical(next)) {
    return { config: configToWire(task, prev), created: false, previous_revision: prev.revision, changed_fields: [], event_id: null };
  }
  const row: ManagerConfigRow = {
    id: ctx.newId("mcf"),
    taskId: task.id,
    revision: (prev?.revision ?? 0) + 1,
    config: next as unknown as Record<string, unknown>,
    createdBy: actorOf(ctx.auth),
    createdAt: ctx.now().getTime(),
  };
  const audit = auditInsert(ctx, {
    kind: "manager_config_recorded",
    taskId: task.id,
    payload: {
      revision: row.revision,
      previous_revision: prev?.revision ?? null,
      changed_fields: prev ? changed : ["created"],
      granted: flatGrants(next.permissions),
    },
  });
  const result = {
    config: configToWire(task, row),
    created: true,
    previous_revision: prev?.revision ?? null,
    changed_fields: prev ? changed : ["created"],
    event_id: audit.id,
  };
  try {
    await batchWithKey(ctx, [ctx.db.insert(managerConfigs).values(row), audit.stmt], respond ? { body: result, status: respond } : undefined);
  } catch (e) {
    if (isUniqueViolation(e)) {
      throw new ApiError("CONFLICT", `manager config revision ${row.revision} of task '${task.name}' was written concurrently`, {
        hint: "Read the current config and apply the change again.",
      });
    }
    throw e;
  }
  return result;
}

/** Reads the latest (or a given) revision of a task's manager config. */
export async function getManagerConfig(ctx: Ctx, name: string, q: z.infer<typeof ConfigQuery>) {
  const st = await supervisedTask(ctx, name, ["worker", "manager"]);
  const [row] = q.revision
    ? await ctx.db
        .select()
        .from(managerConfigs)
        .where(and(eq(managerConfigs.taskId, st.task.id), eq(managerConfigs.revision, q.revision)))
        .limit(1)
    : [await latestConfigRow(ctx, st.task.id)];
  if (!row) {
    throw new ApiError("NOT_FOUND", q.revision ? `task '${name}' has no manager config revision ${q.revision}` : `task '${name}' has no manager config yet`, {
      hint: `Create the guided default: switchyard manager-config ${name}`,
    });
  }
  return configToWire(st.task, row);
}

/** Pages through a task's config revisions, newest first. */
export async function listConfigRevisions(ctx: Ctx, name: string, q: z.output<typeof ConfigRevisionsQuery>) {
  const st = await supervisedTask(ctx, name, ["worker", "manager"]);
  const after = decodeCursor(q.cursor, 1, "supervision/config");
  const rows = await ctx.db
    .select()
    .from(managerConfigs)
    .where(and(eq(managerConfigs.taskId, st.task.id), keysetAfter([managerConfigs.revision], after, "desc")))
    .orderBy(desc(managerConfigs.revision))
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.revision], "supervision/config");
  return { revisions: page.items.map((r) => configToWire(st.task, r)), next_cursor: page.next_cursor };
}
