import { ApiError, type FieldIssue } from "../lib/errors.ts";

/**
 * The categorized permission taxonomy a manager config grants from. A closed list, so a typo
 * in `--permit` is refused instead of silently granting nothing.
 */
export const PERMISSION_TAXONOMY = {
  repo: ["open_pr", "merge_green_pr", "push_branch", "create_branch"],
  verification: ["run_tests", "run_pytest", "run_lint", "run_typecheck", "run_build", "run_browser"],
  context: ["spawn_reviewer", "read_transcripts"],
  communication: ["notify_operator", "notify_manager", "nudge_worker", "escalate"],
  worker_session: ["compact", "clear", "interrupt", "restart"],
} as const satisfies Record<string, readonly string[]>;

export type PermissionCategory = keyof typeof PERMISSION_TAXONOMY;
export const PERMISSION_CATEGORIES = Object.keys(PERMISSION_TAXONOMY) as PermissionCategory[];

/** Granted actions by category, each list sorted; a category with nothing granted is absent. */
export type Permissions = Partial<Record<PermissionCategory, string[]>>;

/**
 * Flat keys of earlier configs and flags, and what each grants. `--allow-pr` and friends map
 * through the same table, so every spelling ends in the categorized form.
 */
export const LEGACY_PERMISSION_KEYS: Record<string, string[]> = {
  create_pr: ["repo.open_pr"],
  allow_pr: ["repo.open_pr"],
  allow_create_pr: ["repo.open_pr"],
  merge_green_pr: ["repo.merge_green_pr"],
  allow_merge_green: ["repo.merge_green_pr"],
  allow_merge_green_pr: ["repo.merge_green_pr"],
  worker_compact_clear: ["worker_session.compact", "worker_session.clear"],
  allow_worker_compact_clear: ["worker_session.compact", "worker_session.clear"],
};

/** A parsed `CATEGORY.ACTION` or bare `CATEGORY`. */
export interface PermissionRef {
  category: PermissionCategory;
  action: string | null;
}

function isCategory(c: string): c is PermissionCategory {
  return Object.hasOwn(PERMISSION_TAXONOMY, c);
}

/** Parses `repo.open_pr` or `repo`; unknown names are refused with the valid ones as a hint. */
export function parsePermission(text: string, field = "permission"): PermissionRef {
  const [category, action, ...rest] = text.split(".");
  if (!category || !isCategory(category) || rest.length) {
    throw new ApiError("VALIDATION_FAILED", `unknown permission category in '${text}'`, {
      hint: `Categories: ${PERMISSION_CATEGORIES.join(", ")}. Write CATEGORY.ACTION, e.g. repo.open_pr.`,
      fields: [{ field, message: "unknown permission" }],
    });
  }
  if (action === undefined) return { category, action: null };
  if (!(PERMISSION_TAXONOMY[category] as readonly string[]).includes(action)) {
    throw new ApiError("VALIDATION_FAILED", `unknown action '${action}' in category '${category}'`, {
      hint: `Actions of ${category}: ${PERMISSION_TAXONOMY[category].join(", ")}.`,
      fields: [{ field, message: "unknown permission" }],
    });
  }
  return { category, action };
}

/** Adds `CATEGORY.ACTION` grants to a permission set (a bare category grants all its actions). */
export function grant(perms: Permissions, names: string[], field = "permit"): Permissions {
  const out: Permissions = structuredClone(perms);
  for (const n of names) {
    const ref = parsePermission(n, field);
    const actions = ref.action ? [ref.action] : [...PERMISSION_TAXONOMY[ref.category]];
    out[ref.category] = [...new Set([...(out[ref.category] ?? []), ...actions])].sort();
  }
  return out;
}

/** Removes grants; an emptied category disappears. */
export function revoke(perms: Permissions, names: string[], field = "revoke"): Permissions {
  const out: Permissions = structuredClone(perms);
  for (const n of names) {
    const ref = parsePermission(n, field);
    const left = ref.action ? (out[ref.category] ?? []).filter((a) => a !== ref.action) : [];
    if (left.length) out[ref.category] = left;
    else delete out[ref.category];
  }
  return out;
}

/**
 * Normalizes any accepted permissions JSON into the categorized form: `{"repo": ["open_pr"]}`,
 * `{"repo": {"open_pr": true}}`, `{"repo.open_pr": true}`, or legacy flat keys such as
 * `{"create_pr": true, "worker_compact_clear": true}`. False values grant nothing.
 */
export function normalizePermissions(raw: Record<string, unknown>, field = "permissions_json"): Permissions {
  const names: string[] = [];
  const problems: FieldIssue[] = [];
  for (const [key, value] of Object.entries(raw)) {
    if (Object.hasOwn(LEGACY_PERMISSION_KEYS, key)) {
      if (value === true) names.push(...LEGACY_PERMISSION_KEYS[key]!);
      else if (value !== false) problems.push({ field: `${field}.${key}`, message: "a legacy key takes true or false" });
    } else if (isCategory(key)) {
      if (Array.isArray(value) && value.every((v) => typeof v === "string")) names.push(...value.map((a) => `${key}.${a}`));
      else if (value && typeof value === "object" && !Array.isArray(value)) {
        for (const [action, on] of Object.entries(value)) {
          if (on === true) names.push(`${key}.${action}`);
          else if (on !== false) problems.push({ field: `${field}.${key}.${action}`, message: "takes true or false" });
        }
      } else if (value === true) names.push(key);
      else if (value !== false) problems.push({ field: `${field}.${key}`, message: "takes a list of actions, an object of booleans, or true" });
    } else if (key.includes(".")) {
      if (value === true) names.push(key);
      else if (value !== false) problems.push({ field: `${field}.${key}`, message: "takes true or false" });
    } else problems.push({ field: `${field}.${key}`, message: "unknown permission key" });
  }
  if (problems.length) {
    throw new ApiError("VALIDATION_FAILED", `invalid permissions: ${problems.map((p) => `${p.field}: ${p.message}`).join("; ")}`, {
      hint: `Use categories (${PERMISSION_CATEGORIES.join(", ")}) or the legacy keys ${Object.keys(LEGACY_PERMISSION_KEYS).join(", ")}.`,
      fields: problems,
    });
  }
  return grant({}, names, field);
}

/** Whether a permission set grants `CATEGORY.ACTION`. A bare category asks for any action of it. */
export function allows(perms: Permissions, ref: PermissionRef): boolean {
  const granted = perms[ref.category] ?? [];
  return ref.action === null ? granted.length > 0 : granted.includes(ref.action);
}

/** Every grant as `CATEGORY.ACTION`, sorted. */
export function flatGrants(perms: Permissions): string[] {
  return Object.entries(perms)
    .flatMap(([c, actions]) => (actions ?? []).map((a) => `${c}.${a}`))
    .sort();
}
