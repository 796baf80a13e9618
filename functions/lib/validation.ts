import type { Hook } from "@hono/zod-openapi";
import { ApiError } from "./errors.ts";

/** Turns a zod failure into VALIDATION_FAILED listing every offending field. */
export const validationHook: Hook<unknown, any, any, any> = (result, c) => {
  if (result.success) return;
  const issues = (result.error as { issues: Array<{ path: PropertyKey[]; message: string }> }).issues;
  const fields = issues.map((i) => ({
    field: i.path.length ? i.path.map(String).join(".") : result.target,
    message: i.message,
  }));
  const summary = fields.map((f) => `${f.field}: ${f.message}`).join("; ");
  throw new ApiError("VALIDATION_FAILED", `invalid ${result.target}: ${summary}`, {
    hint: `See ${c.req.method} ${c.req.routePath} in /v1/openapi.json for the expected shape.`,
    fields,
  });
};
