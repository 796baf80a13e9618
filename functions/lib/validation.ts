import type { Hook } from "@hono/zod-openapi";
import { ApiError } from "./errors.ts";

/** Turns a zod failure into VALIDATION_FAILED listing every offending field. */
export const validationHook: Hook<unknown, any, any, any> = (result, c) => {
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
