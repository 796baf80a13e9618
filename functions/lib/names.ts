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

const WHOLE_NUMBER = /^\d{1,30}$/;
const DECIMAL_NUMBER = /^\d{1,30}(\.\d{1,30})?$/;

/**
 * A number in a query string or path segment, checked by `schema` (a z.number() with its
 * bounds). Only decimal digits are read (with `fraction`, one decimal point too): z.coerce's
 * Number(text) would read "1e2" as 100, "0x10" as 16, " 5" as 5 and "" as 0, so a typo or a
 * stray value passed silently. Anything else is refused naming the field, and the OpenAPI
 * document still shows the number with its bounds. Callers format numbers with queryText
 * (functions/lib/query-text.ts), which never writes an exponent.
 */
export function queryNumber<T extends z.ZodType<number>>(schema: T, opts: { fraction?: boolean } = {}) {
  const shape = opts.fraction ? DECIMAL_NUMBER : WHOLE_NUMBER;
  const expected = opts.fraction ? "a number in decimal digits, such as 2 or 0.5" : "a whole number in decimal digits, such as 50";
  return z.preprocess((v, ctx) => {
    if (Array.isArray(v)) {
      ctx.addIssue({ code: "custom", message: "given more than once; pass it once", input: v });
      return z.NEVER;
    }
    if (typeof v !== "string") return v;
    if (!shape.test(v)) {
      ctx.addIssue({ code: "custom", message: `expected ${expected}`, input: v });
      return z.NEVER;
    }
    const n = Number(v);
    if (!opts.fraction && !Number.isSafeInteger(n)) {
      ctx.addIssue({ code: "custom", message: `too large: at most ${Number.MAX_SAFE_INTEGER}`, input: v });
      return z.NEVER;
    }
    return n;
  }, schema);
}

/** A positive integer limit in a query string. */
export const QueryLimit = (max: number, dflt: number) => queryNumber(z.number().int().min(1).max(max)).optional().default(dflt);
