import { z } from "@hono/zod-openapi";

/** Session and task names: short, shell- and URL-safe. */
export const NameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");

/** A query flag that accepts true/false/1/0. */
export const QueryBool = z
  .enum(["true", "false", "1", "0"])
  .optional()
  .transform((v) => v === "true" || v === "1");

/** A query parameter that may repeat (`?name=a&name=b`). */
export const QueryList = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]));

/** A positive integer limit in a query string. */
export const QueryLimit = (max: number, dflt: number) => z.coerce.number().int().min(1).max(max).optional().default(dflt);
