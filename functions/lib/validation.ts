import type { Hook } from "@hono/zod-openapi";
import { ApiError } from "./errors.ts";

/**
 * The path (dotted) of the first string, or object key, in `value` holding U+0000; null with
 * none. Walked with a stack of its own: a body nested thousands deep must get its answer, not
 * overflow the call stack.
 */
export function nulPath(value: unknown): string | null {
  const todo: Array<[unknown, string[]]> = [[value, []]];
  while (todo.length) {
    const [v, path] = todo.pop()!;
    if (typeof v === "string") {
      if (v.includes("\u0000")) return path.join(".");
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) todo.push([v[i], [...path, String(i)]]);
    } else if (v && typeof v === "object") {
      const entries = Object.entries(v);
      for (const [k] of entries) if (k.includes("\u0000")) return [...path, k.replaceAll("\u0000", "\\u0000")].join(".");
      for (let i = entries.length - 1; i >= 0; i--) todo.push([entries[i]![1], [...path, entries[i]![0]]]);
    }
  }
  return null;
}

/**
 * Turns a zod failure into VALIDATION_FAILED listing every offending field; the same for a
 * string holding U+0000, since the database driver reads text only up to its first NUL: the
 * request would be answered with the whole text and every later read would return its start.
 */
export const validationHook: Hook<unknown, any, any, any> = (result, c) => {
  if (result.success) {
    const at = nulPath(result.data);
    if (at === null) return;
    const field = at || result.target;
    throw new ApiError("VALIDATION_FAILED", `invalid ${result.target}: ${field}: contains the NUL character (U+0000)`, {
      hint: "Remove NUL characters from the text: stored, everything after one would be lost when it is read back.",
      fields: [{ field, message: "contains the NUL character (U+0000)" }],
    });
  }
  return shapeHook(result, c);
};

/**
 * Turns a zod failure into VALIDATION_FAILED listing every offending field, and accepts any
 * text: for an agent's hook payload, taken as the agent sent it and stored as JSON, where a NUL
 * stays an escape.
 */
export const shapeHook: Hook<unknown, any, any, any> = (result, c) => {
  if (result.success) return;
  const issues = (result.error as { issues: Array<{ code?: string; path: PropertyKey[]; message: string; keys?: string[] }> }).issues;
  const fields = issues.flatMap((i) => {
    const at = (key?: string) => [...i.path.map(String), ...(key === undefined ? [] : [key])].join(".") || result.target;
    // zod reports every unknown key of a strict object in one issue on the object; name each key.
    if (i.code === "unrecognized_keys" && i.keys?.length) return i.keys.map((k) => ({ field: at(k), message: "unknown field" }));
    return [{ field: at(), message: i.message }];
  });
  const summary = fields.map((f) => `${f.field}: ${f.message}`).join("; ");
  throw new ApiError("VALIDATION_FAILED", `invalid ${result.target}: ${summary}`, {
    hint: `See ${c.req.method} ${c.req.routePath} in /v1/openapi.json for the expected shape.`,
    fields,
  });
};
